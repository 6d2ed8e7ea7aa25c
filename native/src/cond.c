#include <stdlib.h>

#include "error_internal.h"
#include "fiberrt/sync.h"
#include "fiberrt/time.h"
#include "lock.h"
#include "sync_internal.h"
#include "wait.h"

#define COND_MAGIC 0x444E4F43u /* "COND" */

struct fbr_cond {
    fbr__lock lock;
    uint32_t magic;
    fbr__wait_queue waiters;
};

static bool is_cond(const struct fbr_cond *c)
{
    return c != NULL && c->magic == COND_MAGIC;
}

int fbr_cond_create(fbr_cond **out)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_cond_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return fbr__fail(FBR_ENOMEM, "out of memory for a condition variable");
    (*out)->magic = COND_MAGIC;
    return FBR_OK;
}

int fbr_cond_destroy(fbr_cond *c)
{
    if (!is_cond(c))
        return fbr__fail(FBR_EINVAL, "fbr_cond_destroy: not a condition variable");
    fbr__lock_acquire(&c->lock);
    bool waited_on = !fbr__wait_queue_empty(&c->waiters);
    fbr__lock_release(&c->lock);
    if (waited_on)
        return fbr__fail(FBR_EBUSY, "the condition variable has waiters");
    c->magic = 0;
    free(c);
    return FBR_OK;
}

int fbr_cond_wait_until(fbr_cond *c, fbr_mutex *m, int64_t deadline)
{
    if (!is_cond(c) || m == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_cond_wait: not a condition variable, or no mutex");
    fbr__wait wait;
    fbr__wait_init(&wait);
    fbr__wait_node node = {.wait = &wait, .token = 1};
    /* Queued before the mutex is released, so that a signal sent by whoever
     * takes the mutex next cannot be missed. */
    fbr__lock_acquire(&c->lock);
    fbr__wait_queue_push(&c->waiters, &node);
    int rc = fbr_mutex_unlock(m);
    if (rc != FBR_OK) {
        fbr__wait_queue_remove(&c->waiters, &node);
        fbr__lock_release(&c->lock);
        return rc;
    }
    uint32_t token = fbr__wait_block(&wait, fbr__wait_release_lock, &c->lock, deadline);
    if (token == FBR__CLAIM_TIMEOUT) {
        fbr__lock_acquire(&c->lock);
        fbr__wait_queue_remove(&c->waiters, &node);
        fbr__lock_release(&c->lock);
    }
    fbr_mutex_lock(m);
    return token == FBR__CLAIM_TIMEOUT ? fbr__fail(FBR_ETIMEDOUT, "no signal before the deadline") : FBR_OK;
}

int fbr_cond_wait(fbr_cond *c, fbr_mutex *m)
{
    return fbr_cond_wait_until(c, m, FBR_NO_DEADLINE);
}

static int wake(fbr_cond *c, bool all)
{
    if (!is_cond(c))
        return fbr__fail(FBR_EINVAL, "not a condition variable");
    fbr__lock_acquire(&c->lock);
    fbr__wait_node *claimed = NULL, *n;
    while ((n = fbr__wait_queue_claim_first(&c->waiters))) {
        n->wait->result = FBR_OK;
        n->next_claimed = claimed;
        claimed = n;
        if (!all)
            break;
    }
    fbr__lock_release(&c->lock);
    while ((n = claimed)) {
        claimed = n->next_claimed;
        fbr__wait_complete(n->wait);
    }
    return FBR_OK;
}

int fbr_cond_signal(fbr_cond *c)
{
    return wake(c, false);
}

int fbr_cond_broadcast(fbr_cond *c)
{
    return wake(c, true);
}
