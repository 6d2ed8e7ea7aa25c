/*
 * The scheduler: many fibers multiplexed over a few OS threads (workers),
 * one per core by default, in the style of Go's goroutines.
 *
 * Each worker has its own run queue; idle workers steal from busy ones and
 * sleep (using no CPU) when there is nothing to do. A fiber that blocks on a
 * channel, a mutex, a join or a sleep parks, and its worker runs others.
 *
 *     static void *hello(void *arg)
 *     {
 *         printf("hello from fiber %llu\n", (unsigned long long)fbr_fiber_id(fbr_fiber_self()));
 *         fbr_sleep_for(10 * FBR_MILLISECOND);         // parks; the worker runs others
 *         return arg;
 *     }
 *
 *     fbr_sched *s;
 *     fbr_sched_create(&s, NULL);                      // one worker per core
 *     fbr_fiber *f;
 *     fbr_spawn(s, &f, hello, "result", NULL);         // from a thread or a fiber
 *     void *result;
 *     fbr_join(f, &result);                            // blocks this thread; a fiber would park
 *     fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL);
 *     fbr_sched_destroy(s);
 *
 * Thread-local storage and fibers: a fiber may move to another worker (OS
 * thread) whenever it parks or yields, unless it was spawned pinned. After
 * such a point, thread-local variables (errno, _Thread_local, pthread keys)
 * are the new thread's, and a pointer to one taken earlier refers to the old
 * thread's. Code that needs a stable thread (thread-affine libraries, locks
 * owned per thread) should run in pinned fibers.
 */
#ifndef FIBERRT_SCHED_H
#define FIBERRT_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "fiber.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fbr_sched fbr_sched;

#define FBR_SCHED_MAX_WORKERS 1024

typedef struct fbr_sched_options {
    unsigned workers; /* worker threads; 0: one per online CPU; at most FBR_SCHED_MAX_WORKERS */
    /* Optional: what each worker thread runs instead of the built-in loop, so
     * that a host (the .NET binding) owns one fixed frame per worker from
     * which it resumes its hosted fibers. It must call fbr_worker_run() and
     * fbr_worker_resume() as described below, and return once
     * fbr_worker_run() returns 0. NULL: the built-in loop. */
    void (*worker_main)(void *context, unsigned worker_index);
    void *worker_context;
} fbr_sched_options;

/* Starts a scheduler and its worker threads. opts may be NULL.
 * FBR_EINVAL for absurd worker counts, FBR_ENOMEM, FBR_ESYSTEM if a thread
 * cannot be started. */
FBR_API int fbr_sched_create(fbr_sched **out, const fbr_sched_options *opts);

/* Something still running when a shutdown gave up waiting. */
typedef struct fbr_fiber_info {
    uint64_t id;
    char name[FBR_FIBER_NAME_MAX];
} fbr_fiber_info;

/* Stops accepting new fibers from outside (fbr_spawn from other threads then
 * fails with FBR_ESHUTDOWN; its own fibers may still spawn helpers) and waits
 * until every fiber has finished, or until `deadline`. On success the
 * workers have exited. On FBR_ETIMEDOUT, *count (if not NULL) says how many
 * fibers are still alive, and the first min(*count, capacity) entries of
 * `still_running` describe them: those that have started (run at least once)
 * first, with their id and name, then one entry with id 0 and an empty name
 * for each that has not started yet (fiber ids start at 1). The scheduler
 * keeps running them, and shutdown may be called again. Must not be called
 * from one of its own fibers (FBR_EDEADLK). */
FBR_API int fbr_sched_shutdown(fbr_sched *s, int64_t deadline, fbr_fiber_info *still_running, size_t capacity,
                               size_t *count);

/* Frees a scheduler that has shut down. FBR_EBUSY if it has not (or fibers
 * are still alive). */
FBR_API int fbr_sched_destroy(fbr_sched *s);

typedef struct fbr_spawn_options {
    size_t stack_max;     /* as in fbr_fiber_options */
    size_t stack_initial; /* as in fbr_fiber_options */
    const char *name;     /* copied; NULL: none */
    int pinned;           /* nonzero: stays on the worker it first runs on */
    int hosted;           /* nonzero: resumed only by the host's worker_main through
                             fbr_worker_resume (implies pinned); needs a scheduler
                             created with worker_main */
} fbr_spawn_options;

/* Starts fn(arg) as a fiber of `s`, from a fiber or any thread. With `out`
 * the fiber is joinable: call fbr_join (or fbr_detach) exactly once. With
 * out == NULL it is detached and frees itself when it returns.
 * Errors: FBR_EINVAL, FBR_ENOMEM, FBR_EMAPLIMIT, FBR_ESHUTDOWN. */
FBR_API int fbr_spawn(fbr_sched *s, fbr_fiber **out, fbr_fiber_fn fn, void *arg, const fbr_spawn_options *opts);

/* Waits for a joinable fiber to finish, stores its result in *result (if not
 * NULL) and frees it. A fiber parks; a thread blocks. FBR_EDEADLK when a
 * fiber joins itself; FBR_EINVAL for a detached, already joined or
 * non-scheduled fiber. */
FBR_API int fbr_join(fbr_fiber *fiber, void **result);

/* fbr_join with a deadline: FBR_ETIMEDOUT leaves the fiber joinable. */
FBR_API int fbr_join_until(fbr_fiber *fiber, void **result, int64_t deadline);

/* Lets a joinable fiber free itself when it finishes. */
FBR_API int fbr_detach(fbr_fiber *fiber);

/* Lets other runnable fibers run; the caller continues later (maybe on
 * another worker). FBR_ENOTFIBER outside a scheduled fiber. */
FBR_API int fbr_yield(void);

/* Sleeps until `deadline` (fbr_now() clock). A fiber parks; a thread
 * sleeps. */
FBR_API int fbr_sleep_until(int64_t deadline);
FBR_API int fbr_sleep_for(int64_t ns);

/* ---- Hosted workers (for runtimes such as .NET that must resume their
 * fibers from one fixed frame of their own) ---------------------------------
 *
 *     static void worker_main(void *context, unsigned index)  // on each worker thread
 *     {
 *         fbr_fiber *hosted;
 *         while (fbr_worker_run(&hosted) == 1)      // runs native fibers in between
 *             fbr_worker_resume(hosted);           // always from this same frame
 *     }
 *
 * or, with one call per switch instead of two (what the .NET binding does):
 *
 *         if (fbr_worker_run(&hosted) == 1)
 *             while (fbr_worker_resume_next(hosted, &hosted) == 1) {
 *             }
 *
 * Hosted fibers suspend with fbr_yield_hosted, or with any blocking call
 * (channels, joins, sleeps, I/O), which park them.
 */

/* On a worker thread inside its worker_main: runs the worker's ordinary
 * fibers (and completion callbacks) until the next runnable fiber is a
 * hosted one, then returns 1 with it in *hosted, to be passed to
 * fbr_worker_resume; returns 0 when the scheduler is exiting. FBR_ENOTSUP
 * when the caller is not a worker with a worker_main, or is a fiber. */
FBR_API int fbr_worker_run(fbr_fiber **hosted);

/* Runs the hosted fiber that fbr_worker_run returned until it yields, parks
 * or finishes. FBR_EINVAL for anything else. */
FBR_API int fbr_worker_resume(fbr_fiber *hosted);

/* fbr_worker_resume, then fbr_worker_run: resumes `hosted` until it
 * suspends, runs ordinary fibers until the next hosted one and returns 1
 * with it in *next (0 when the scheduler is exiting). FBR_EINVAL for a
 * fiber that was not handed out, or next == NULL. */
FBR_API int fbr_worker_resume_next(fbr_fiber *hosted, fbr_fiber **next);

/* fbr_yield for the host's own code: FBR_ENOTFIBER unless the caller is a
 * hosted fiber, so that a host never suspends a fiber whose frames it did
 * not set up (a thread, an ordinary fiber, a completion callback). */
FBR_API int fbr_yield_hosted(void);

/* 1 if the caller runs on a hosted fiber, else 0 (threads, ordinary fibers,
 * and a worker between fibers, where completion callbacks run). One
 * thread-local read. */
FBR_API int fbr_worker_hosted_current(void);

/* The scheduler running the calling fiber, or NULL. */
FBR_API fbr_sched *fbr_sched_current(void);

/* Index of the worker running the calling fiber, or -1. */
FBR_API int fbr_worker_current(void);

typedef struct fbr_worker_stats {
    uint64_t runs;     /* times a fiber was switched to */
    uint64_t steals;   /* successful steals from other workers */
    uint64_t parks;    /* times the worker went to sleep for lack of work */
    uint64_t runnable; /* fibers in its queues right now */
} fbr_worker_stats;

typedef struct fbr_sched_stats {
    unsigned workers;
    uint64_t live_fibers; /* spawned and not yet finished */
    uint64_t spawned;     /* since creation */
    uint64_t finished;
} fbr_sched_stats;

/* Fills *out and, for up to `capacity` workers, per_worker[i]. */
FBR_API int fbr_sched_stats_get(fbr_sched *s, fbr_sched_stats *out, fbr_worker_stats *per_worker, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif
