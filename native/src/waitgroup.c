#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "fiberrt/sync.h"
#include "fiberrt/time.h"
#include "lock.h"
#include "wait.h"

#define WAITGROUP_MAGIC 0x50524757u /* "WGRP" */

/*
 * The counter is split in two, one cache line each, because a spawner adds
 * on one core while the fibers it spawned finish on another: with one
 * counter every add waited for the line the last done had taken (a fifth
 * of spawn+join's samples on 2 workers).
 *
 *   count = pending + credit
 *
 * Adds go to `pending`, on the adders' line. Dones take from `credit`, on
 * the finishers' line, without the lock while it has enough. When it runs
 * out, a done takes the lock and moves what is pending to credit, leaving
 * one unit behind, so no done without the lock can bring the count to zero:
 * that change is made under the lock the waiters check the counter under
 * (otherwise a waiter could see zero, return and free the wait group while
 * the last done was still on its way to the lock). Hence, at all times,
 * credit > 0 only while pending >= 1, and the count is zero exactly when
 * pending is.
 */
struct fbr_waitgroup {
    uint32_t magic;
    fbr__lock lock;          /* zero transitions, moves to credit, waiters */
    fbr__wait_queue waiters; /* under lock */
    _Alignas(64) int64_t pending; /* atomic: the part of the count adds go to */
    int64_t credit_bound;         /* atomic: at least credit (written under lock, before credit grows) */
    _Alignas(64) int64_t credit;  /* atomic: the part dones may take without the lock */
};

static bool is_waitgroup(const struct fbr_waitgroup *wg)
{
    return wg != NULL && wg->magic == WAITGROUP_MAGIC;
}

int fbr_waitgroup_create(fbr_waitgroup **out)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_waitgroup_create: out is NULL");
    void *block = NULL;
    if (posix_memalign(&block, _Alignof(struct fbr_waitgroup), sizeof(struct fbr_waitgroup)) != 0)
        return fbr__fail(FBR_ENOMEM, "out of memory for a wait group");
    *out = memset(block, 0, sizeof(struct fbr_waitgroup));
    (*out)->magic = WAITGROUP_MAGIC;
    return FBR_OK;
}

int fbr_waitgroup_destroy(fbr_waitgroup *wg)
{
    if (!is_waitgroup(wg))
        return fbr__fail(FBR_EINVAL, "fbr_waitgroup_destroy: not a wait group");
    fbr__lock_acquire(&wg->lock);
    bool waited_on = !fbr__wait_queue_empty(&wg->waiters);
    fbr__lock_release(&wg->lock);
    if (waited_on)
        return fbr__fail(FBR_EBUSY, "the wait group has waiters");
    wg->magic = 0;
    free(wg);
    return FBR_OK;
}

static int overflow(int64_t count, int64_t delta)
{
    return fbr__fail(FBR_EINVAL, "the wait group counter (%lld) would overflow adding %lld", (long long)count,
                     (long long)delta);
}

static int negative(int64_t count)
{
    return fbr__fail(FBR_EINVAL, "the wait group counter (%lld) would go negative", (long long)count);
}

/* delta > 0. */
static int add_pending(struct fbr_waitgroup *wg, int64_t delta)
{
    int64_t pending = __atomic_load_n(&wg->pending, __ATOMIC_SEQ_CST);
    for (;;) {
        /* pending + credit_bound bounds the count from above. */
        int64_t room = INT64_MAX - __atomic_load_n(&wg->credit_bound, __ATOMIC_SEQ_CST);
        if (pending > room || delta > room - pending)
            break;
        if (__atomic_compare_exchange_n(&wg->pending, &pending, pending + delta, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return FBR_OK;
    }
    /* Near the limit: decide on the exact count, which only dones (making
     * room) can change while we hold the lock. */
    fbr__lock_acquire(&wg->lock);
    pending = __atomic_load_n(&wg->pending, __ATOMIC_SEQ_CST);
    for (;;) {
        int64_t count = pending + __atomic_load_n(&wg->credit, __ATOMIC_SEQ_CST);
        if (delta > INT64_MAX - count) {
            fbr__lock_release(&wg->lock);
            return overflow(count, delta);
        }
        if (__atomic_compare_exchange_n(&wg->pending, &pending, pending + delta, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            break;
    }
    fbr__lock_release(&wg->lock);
    return FBR_OK;
}

/* taken > 0 (INT64_MIN excluded). */
static int take(struct fbr_waitgroup *wg, int64_t taken)
{
    int64_t credit = __atomic_load_n(&wg->credit, __ATOMIC_SEQ_CST);
    while (credit >= taken)
        if (__atomic_compare_exchange_n(&wg->credit, &credit, credit - taken, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return FBR_OK; /* pending >= 1 still: not zero */

    fbr__lock_acquire(&wg->lock);
    /* With the credit at zero, no done gets past the lock-free path above. */
    credit = __atomic_exchange_n(&wg->credit, 0, __ATOMIC_SEQ_CST);
    int64_t pending = __atomic_load_n(&wg->pending, __ATOMIC_SEQ_CST);
    for (;;) {
        int64_t count = pending + credit;
        if (count < taken) {
            __atomic_store_n(&wg->credit, credit, __ATOMIC_SEQ_CST);
            fbr__lock_release(&wg->lock);
            return negative(count);
        }
        int64_t rest = count - taken;
        /* All of it to credit but one unit, which the next move or the
         * zero transition takes under the lock. The bound covers the new
         * credit before anyone can see the pending part shrink; it only
         * grows until the count is zero (it must cover what this done
         * holds meanwhile too). */
        if (rest - 1 > __atomic_load_n(&wg->credit_bound, __ATOMIC_SEQ_CST))
            __atomic_store_n(&wg->credit_bound, rest - 1, __ATOMIC_SEQ_CST);
        int64_t keep = rest ? 1 : 0;
        if (!__atomic_compare_exchange_n(&wg->pending, &pending, keep, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            continue; /* an add came in */
        if (rest) {
            __atomic_store_n(&wg->credit, rest - 1, __ATOMIC_SEQ_CST);
            fbr__lock_release(&wg->lock);
            return FBR_OK;
        }
        break;
    }
    /* Zero: nothing is pending or credited. */
    __atomic_store_n(&wg->credit_bound, 0, __ATOMIC_SEQ_CST);
    fbr__wait_node *claimed = NULL, *n;
    while ((n = fbr__wait_queue_claim_first(&wg->waiters))) {
        n->wait->result = FBR_OK;
        n->next_claimed = claimed;
        claimed = n;
    }
    fbr__lock_release(&wg->lock);
    while ((n = claimed)) {
        claimed = n->next_claimed;
        fbr__wait_complete(n->wait);
    }
    return FBR_OK;
}

int fbr_waitgroup_add(fbr_waitgroup *wg, int64_t delta)
{
    if (!is_waitgroup(wg))
        return fbr__fail(FBR_EINVAL, "fbr_waitgroup_add: not a wait group");
    if (delta > 0)
        return add_pending(wg, delta);
    if (delta == INT64_MIN) /* below any count, and not negatable */
        return negative(fbr_waitgroup_count(wg));
    return delta ? take(wg, -delta) : FBR_OK;
}

int fbr_waitgroup_done(fbr_waitgroup *wg)
{
    return fbr_waitgroup_add(wg, -1);
}

int fbr_waitgroup_wait_until(fbr_waitgroup *wg, int64_t deadline)
{
    if (!is_waitgroup(wg))
        return fbr__fail(FBR_EINVAL, "fbr_waitgroup_wait: not a wait group");
    fbr__lock_acquire(&wg->lock);
    if (__atomic_load_n(&wg->pending, __ATOMIC_SEQ_CST) == 0) { /* the count is zero */
        fbr__lock_release(&wg->lock);
        return FBR_OK;
    }
    fbr__wait wait;
    fbr__wait_init(&wait);
    fbr__wait_node node = {.wait = &wait, .token = 1};
    fbr__wait_queue_push(&wg->waiters, &node);
    if (fbr__wait_block(&wait, fbr__wait_release_lock, &wg->lock, deadline) == FBR__CLAIM_TIMEOUT) {
        fbr__lock_acquire(&wg->lock);
        fbr__wait_queue_remove(&wg->waiters, &node);
        fbr__lock_release(&wg->lock);
        return fbr__fail(FBR_ETIMEDOUT, "the wait group did not reach zero before the deadline");
    }
    return FBR_OK;
}

int fbr_waitgroup_wait(fbr_waitgroup *wg)
{
    return fbr_waitgroup_wait_until(wg, FBR_NO_DEADLINE);
}

int64_t fbr_waitgroup_count(fbr_waitgroup *wg)
{
    if (!is_waitgroup(wg))
        return fbr__fail(FBR_EINVAL, "fbr_waitgroup_count: not a wait group");
    /* Under the lock, credit and pending change together only by dones
     * taking from credit, which this may or may not count. */
    fbr__lock_acquire(&wg->lock);
    int64_t count = __atomic_load_n(&wg->pending, __ATOMIC_SEQ_CST) + __atomic_load_n(&wg->credit, __ATOMIC_SEQ_CST);
    fbr__lock_release(&wg->lock);
    return count;
}
