/*
 * Fiber-aware synchronisation: a waiting fiber parks and its worker runs
 * other fibers; a waiting thread blocks. All of them may be shared between
 * fibers and plain threads.
 *
 *     fbr_waitgroup *wg;                          fbr_mutex *m;
 *     fbr_waitgroup_create(&wg);                  fbr_mutex_create(&m);
 *     fbr_waitgroup_add(wg, 10);                  fbr_mutex_lock(m);
 *     for (int i = 0; i < 10; i++)                counter++;            // a fiber may even
 *         fbr_spawn(s, NULL, work, wg, NULL);     fbr_mutex_unlock(m);  // park while holding it
 *     fbr_waitgroup_wait(wg);   // each work() ends with fbr_waitgroup_done(wg)
 *
 * A fbr_mutex belongs to no thread: a fiber that locked it may unlock it on
 * another worker after migrating, which an OS mutex would not allow.
 */
#ifndef FIBERRT_SYNC_H
#define FIBERRT_SYNC_H

#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fbr_waitgroup fbr_waitgroup;
typedef struct fbr_mutex fbr_mutex;
typedef struct fbr_cond fbr_cond;

FBR_API int fbr_waitgroup_create(fbr_waitgroup **out);
/* FBR_EBUSY while someone waits on it. */
FBR_API int fbr_waitgroup_destroy(fbr_waitgroup *wg);
/* Adds delta (may be negative) to the counter; waiters wake when it reaches
 * zero. FBR_EINVAL if the counter would go negative. */
FBR_API int fbr_waitgroup_add(fbr_waitgroup *wg, int64_t delta);
FBR_API int fbr_waitgroup_done(fbr_waitgroup *wg);
FBR_API int fbr_waitgroup_wait(fbr_waitgroup *wg);
FBR_API int fbr_waitgroup_wait_until(fbr_waitgroup *wg, int64_t deadline);
FBR_API int64_t fbr_waitgroup_count(fbr_waitgroup *wg);

FBR_API int fbr_mutex_create(fbr_mutex **out);
FBR_API int fbr_mutex_destroy(fbr_mutex *m); /* FBR_EBUSY if locked or waited on */
FBR_API int fbr_mutex_lock(fbr_mutex *m);
FBR_API int fbr_mutex_lock_until(fbr_mutex *m, int64_t deadline);
FBR_API int fbr_mutex_try_lock(fbr_mutex *m); /* FBR_EAGAIN if held */
/* FBR_EINVAL if the mutex is not locked. */
FBR_API int fbr_mutex_unlock(fbr_mutex *m);

/* A condition variable used with a fbr_mutex. */
FBR_API int fbr_cond_create(fbr_cond **out);
FBR_API int fbr_cond_destroy(fbr_cond *c); /* FBR_EBUSY if waited on */
/* Unlocks m, waits for a signal (or the deadline), locks m again. Spurious
 * wake-ups do not happen, but callers should still re-check their condition.
 * FBR_ETIMEDOUT with m locked again. */
FBR_API int fbr_cond_wait(fbr_cond *c, fbr_mutex *m);
FBR_API int fbr_cond_wait_until(fbr_cond *c, fbr_mutex *m, int64_t deadline);
FBR_API int fbr_cond_signal(fbr_cond *c);
FBR_API int fbr_cond_broadcast(fbr_cond *c);

#ifdef __cplusplus
}
#endif

#endif
