/*
 * A fiber-aware mutex. Unlocking with waiters hands ownership straight to
 * the longest waiter, so a stream of newcomers cannot starve it; without
 * waiters lock and unlock take the internal lock once each.
 */
#include <stdlib.h>

#include "error_internal.h"
#include "fiberrt/sync.h"
#include "fiberrt/time.h"
#include "lock.h"
#include "sync_internal.h"
#include "wait.h"

#define MUTEX_MAGIC 0x5854554Du /* "MUTX" */

static bool is_mutex(const struct fbr_mutex *m)
{
    return m != NULL && m->magic == MUTEX_MAGIC;
}

int fbr_mutex_create(fbr_mutex **out)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_mutex_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return fbr__fail(FBR_ENOMEM, "out of memory for a mutex");
    (*out)->magic = MUTEX_MAGIC;
    return FBR_OK;
}

int fbr_mutex_destroy(fbr_mutex *m)
{
    if (!is_mutex(m))
        return fbr__fail(FBR_EINVAL, "fbr_mutex_destroy: not a mutex");
    fbr__lock_acquire(&m->lock);
    bool busy = m->locked || !fbr__wait_queue_empty(&m->waiters);
    fbr__lock_release(&m->lock);
    if (busy)
        return fbr__fail(FBR_EBUSY, "the mutex is locked or waited on");
    m->magic = 0;
    free(m);
    return FBR_OK;
}

int fbr_mutex_lock_until(fbr_mutex *m, int64_t deadline)
{
    if (!is_mutex(m))
        return fbr__fail(FBR_EINVAL, "fbr_mutex_lock: not a mutex");
    fbr__lock_acquire(&m->lock);
    if (!m->locked) {
        m->locked = true;
        fbr__lock_release(&m->lock);
        return FBR_OK;
    }
    fbr__wait wait;
    fbr__wait_init(&wait);
    fbr__wait_node node = {.wait = &wait, .token = 1};
    fbr__wait_queue_push(&m->waiters, &node);
    if (fbr__wait_block(&wait, fbr__wait_release_lock, &m->lock, deadline) == FBR__CLAIM_TIMEOUT) {
        fbr__lock_acquire(&m->lock);
        fbr__wait_queue_remove(&m->waiters, &node);
        fbr__lock_release(&m->lock);
        return fbr__fail(FBR_ETIMEDOUT, "the mutex was not acquired before the deadline");
    }
    return FBR_OK; /* ownership was handed to us */
}

int fbr_mutex_lock(fbr_mutex *m)
{
    return fbr_mutex_lock_until(m, FBR_NO_DEADLINE);
}

int fbr_mutex_try_lock(fbr_mutex *m)
{
    if (!is_mutex(m))
        return fbr__fail(FBR_EINVAL, "fbr_mutex_try_lock: not a mutex");
    fbr__lock_acquire(&m->lock);
    bool got = !m->locked;
    m->locked = true;
    fbr__lock_release(&m->lock);
    return got ? FBR_OK : FBR_EAGAIN;
}

int fbr_mutex_unlock(fbr_mutex *m)
{
    if (!is_mutex(m))
        return fbr__fail(FBR_EINVAL, "fbr_mutex_unlock: not a mutex");
    fbr__lock_acquire(&m->lock);
    if (!m->locked) {
        fbr__lock_release(&m->lock);
        return fbr__fail(FBR_EINVAL, "fbr_mutex_unlock: the mutex is not locked");
    }
    fbr__wait_node *next = fbr__wait_queue_claim_first(&m->waiters);
    if (next == NULL)
        m->locked = false; /* otherwise it stays locked, now on the waiter's behalf */
    fbr__lock_release(&m->lock);
    if (next)
        fbr__wait_complete(next->wait);
    return FBR_OK;
}
