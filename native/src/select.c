/*
 * select: wait on several channel operations, perform exactly one.
 *
 * All the channels involved are locked (in address order, so that two
 * selects cannot deadlock), the cases are tried in a random order (so that
 * among ready cases each is equally likely), and if none is ready one shared
 * wait is queued on every channel. Whichever operation claims the wait first
 * completes its case; the others find it claimed and skip its nodes.
 */
#include <stdlib.h>
#include <string.h>

#include "chan_internal.h"
#include "fiberrt/sched.h"
#include "fiberrt/time.h"
#include "error_internal.h"
#include "select_internal.h"
#include "thread.h"

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (struct fbr_chan *const *)a, y = (uintptr_t) * (struct fbr_chan *const *)b;
    return (x > y) - (x < y);
}

void fbr__select_lock_all(struct fbr__select_set *set)
{
    for (size_t i = 0; i < set->count; i++)
        fbr__lock_acquire(&set->chans[i]->lock);
}

void fbr__select_unlock_all(void *arg)
{
    struct fbr__select_set *set = arg;
    for (size_t i = set->count; i-- > 0;)
        fbr__lock_release(&set->chans[i]->lock);
}

FBR__TLS_ACCESSOR static uint64_t thread_random(void)
{
    static _Thread_local uint64_t state;
    if (state == 0)
        state = (uint64_t)(uintptr_t)&state ^ (uint64_t)fbr_now() ^ 0x9E3779B97F4A7C15ull;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
}

int fbr__select_prepare(const char *what, fbr_select_case *cases, size_t count, struct fbr__select_set *set,
                        uint8_t order[FBR__SELECT_MAX_CASES])
{
    if (cases == NULL || count > FBR__SELECT_MAX_CASES)
        return fbr__fail(FBR_EINVAL, "%s: cases is NULL, or more than %d cases", what, FBR__SELECT_MAX_CASES);
    set->count = 0;
    for (size_t i = 0; i < count; i++) {
        if (cases[i].chan == NULL)
            continue;
        if (!fbr__is_chan(cases[i].chan) || (cases[i].op != FBR_SELECT_SEND && cases[i].op != FBR_SELECT_RECV))
            return fbr__fail(FBR_EINVAL, "%s: case %zu has a bad channel or operation", what, i);
        if (cases[i].op == FBR_SELECT_SEND && cases[i].elem == NULL && cases[i].chan->elem_size)
            return fbr__fail(FBR_EINVAL, "%s: send case %zu has no value", what, i);
        set->chans[set->count++] = cases[i].chan;
    }
    qsort(set->chans, set->count, sizeof set->chans[0], by_address);
    size_t unique = 0;
    for (size_t i = 0; i < set->count; i++)
        if (unique == 0 || set->chans[unique - 1] != set->chans[i])
            set->chans[unique++] = set->chans[i];
    set->count = unique;

    /* A random permutation of the cases: the first ready one in it wins.
     * count <= FBR__SELECT_MAX_CASES was checked on entry; the bound is
     * repeated for GCC's link-time optimisation, which warns about
     * count == 65 otherwise (a -Werror build with -flto fails). */
    for (size_t i = 0; i < count && i < FBR__SELECT_MAX_CASES; i++)
        order[i] = (uint8_t)i;
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)(thread_random() % i);
        uint8_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    return FBR_OK;
}

bool fbr__select_try_locked(fbr_select_case *cases, size_t count, const uint8_t *order, size_t *chosen,
                            fbr__wait **woken)
{
    for (size_t k = 0; k < count; k++) {
        fbr_select_case *c = &cases[order[k]];
        if (c->chan == NULL)
            continue;
        enum fbr__chan_attempt attempt = c->op == FBR_SELECT_SEND ? fbr__chan_try_send_locked(c->chan, c->elem, woken)
                                                                  : fbr__chan_try_recv_locked(c->chan, c->elem, woken);
        if (attempt == FBR__CHAN_WOULD_BLOCK)
            continue;
        c->result = attempt == FBR__CHAN_DONE ? FBR_OK : FBR_ECLOSED;
        *chosen = order[k];
        return true;
    }
    return false;
}

int fbr_select(fbr_select_case *cases, size_t count, int64_t deadline, int flags, size_t *chosen)
{
    if (chosen == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_select: chosen is NULL");
    if (flags & ~FBR_SELECT_NONBLOCKING)
        return fbr__fail(FBR_EINVAL, "fbr_select: unknown flags %#x", (unsigned)flags);
    struct fbr__select_set set;
    uint8_t order[FBR__SELECT_MAX_CASES];
    int rc = fbr__select_prepare("fbr_select", cases, count, &set, order);
    if (rc != FBR_OK)
        return rc;

    fbr__select_lock_all(&set);
    fbr__wait *woken;
    if (fbr__select_try_locked(cases, count, order, chosen, &woken)) {
        fbr__select_unlock_all(&set);
        if (woken)
            fbr__wait_complete(woken);
        return FBR_OK;
    }
    if ((flags & FBR_SELECT_NONBLOCKING) || set.count == 0) {
        fbr__select_unlock_all(&set);
        if (flags & FBR_SELECT_NONBLOCKING)
            return FBR_EAGAIN;
        /* Only nil channels and no deadline: Go would block forever. */
        if (deadline == FBR_NO_DEADLINE)
            return fbr__fail(FBR_EDEADLK, "fbr_select: no channel to wait on and no deadline");
        fbr_sleep_until(deadline);
        return fbr__fail(FBR_ETIMEDOUT, "fbr_select: the deadline passed");
    }

    fbr__wait wait;
    fbr__wait_init(&wait);
    fbr__wait_node nodes[FBR__SELECT_MAX_CASES];
    for (size_t i = 0; i < count; i++) {
        nodes[i] = (fbr__wait_node){.wait = &wait, .token = (uint32_t)i + 1, .elem = cases[i].elem};
        if (cases[i].chan)
            fbr__wait_queue_push(fbr__select_queue(cases[i].chan, cases[i].op), &nodes[i]);
    }
    uint32_t token = fbr__wait_block(&wait, fbr__select_unlock_all, &set, deadline);
    /* Take our other nodes out of the queues they are still in. */
    fbr__select_lock_all(&set);
    for (size_t i = 0; i < count; i++)
        if (cases[i].chan)
            fbr__wait_queue_remove(fbr__select_queue(cases[i].chan, cases[i].op), &nodes[i]);
    fbr__select_unlock_all(&set);
    if (token == FBR__CLAIM_TIMEOUT)
        return fbr__fail(FBR_ETIMEDOUT, "fbr_select: the deadline passed");
    *chosen = token - 1;
    cases[token - 1].result = wait.result;
    return FBR_OK;
}
