/*
 * The scheduler's internals, shared by the files that park and wake fibers
 * (waits, channels, sync primitives).
 *
 * Each worker runs a loop on its OS thread's own stack and switches into
 * fibers from there; a fiber that yields, parks or finishes switches back
 * to that loop, which then acts on the fiber's behalf (re-queues it, marks
 * it waiting and releases the lock it parked under, frees its stack): so
 * nobody can resume a fiber whose registers are still being saved. When the
 * loop would only switch on to the fiber that was just woken (run_next), the
 * fiber switches to it directly instead and that fiber does the loop's part
 * first thing (one switch instead of two; see switch_to_loop in sched.c).
 *
 * Run queues, in the order a worker looks at them: a one-slot "run next"
 * (what the running fiber just woke, so ping-pong pairs stay on one core),
 * the worker's pinned fibers, its bounded local ring (others steal half of
 * it when idle), the scheduler-wide injection queue (checked every 61st
 * round for fairness, and whenever the local ones are empty).
 */
#ifndef FBR_SCHED_INTERNAL_H
#define FBR_SCHED_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "fiber_internal.h"
#include "fiber_queue.h"
#include "fiberrt/sched.h"
#include "lock.h"
#include "poller.h"
#include "thread.h"
#include "timer.h"
#include "wait.h"

#define FBR__RUNQ_SIZE 256u
#define FBR__WORKER_STACK_CACHE 64u
#define FBR__WORKER_RECORD_CACHE 256u

/* Single producer (the owner), many consumers (the owner and thieves). */
struct fbr__runq {
    uint32_t head; /* atomic */
    uint32_t tail; /* atomic; written by the owner only */
    struct fbr_fiber *slots[FBR__RUNQ_SIZE];
};

/* A shard of the scheduler's list of started, unfinished fibers (for
 * shutdown reports): a fiber joins its first worker's shard when it starts. */
struct fbr__registry {
    fbr__lock lock;
    struct fbr_fiber *head;
};

/* What the loop does for a fiber that just switched back to it. */
enum fbr__after_switch {
    FBR__AFTER_YIELD,
    FBR__AFTER_PARK,
    FBR__AFTER_FINISH
};

/* Two cache lines: what adjacent-line prefetching pulls in together. */
#define FBR__WORKER_ALIGN 128

struct fbr__worker {
    _Alignas(FBR__WORKER_ALIGN) struct fbr_sched *sched;
    unsigned index;
    pthread_t thread;
    bool thread_started;
    void *thread_stack; /* ours (fbr__vm_worker_stack), or NULL: the system's */
    uintptr_t stack_low; /* the worker thread's stack, lowest address */
    struct fbr__thread *thread_state;

    struct fbr_fiber *run_next; /* written only by the owner (read by stats) */
    struct fbr__runq runq;
    fbr__lock pinned_lock;
    struct fbr__fiber_list pinned;
    uint32_t pinned_count; /* atomic */
    fbr__timer_heap timers;

    uint32_t wake_word; /* futex: 1 once woken */
    bool in_poll;       /* atomic: blocked in the poller, woken through it */
    bool idle;          /* under sched->idle_lock */
    bool spinning;
    /* The loop is inside a deferred callback (below); and inside that, runs
     * a fiber for it (fbr__sched_run_next_for_callback). Owner only. In
     * what was padding, so the hot fields after keep their offsets. */
    bool in_callback;
    bool running_for_callback;
    uint32_t tick;

    /* Callback completions made by fibers, run by the loop once the fiber
     * has switched away (LIFO; the order of independent operations' ends is
     * not promised). Owner only. */
    struct fbr__wait *deferred;

    /* The hosted fiber fbr_worker_run handed out and fbr_worker_resume may
     * run (owner only). */
    struct fbr_fiber *handed_out;
    /* Set by a fiber right before it switches back to the loop, or to the
     * fiber it hands the worker to (which then does `after` for it). */
    struct fbr_fiber *switched_out;
    bool handoff_pending;
    enum fbr__after_switch after;
    void (*after_release)(void *);
    void *after_arg;

    struct fbr__registry registry;

    /* Stacks of finished fibers, ready for the next to start here without
     * the pool's lock. Owner only. */
    fbr__stack *stack_cache[FBR__WORKER_STACK_CACHE];
    unsigned stack_cache_count;
    /* Records of freed fibers, for the next spawns here. Owner only. */
    struct fbr_fiber *record_cache[FBR__WORKER_RECORD_CACHE];
    unsigned record_cache_count;

    /* Fibers spawned from this worker and finished on it (atomic; written
     * by the owner only). Live fibers are their sums' difference, so no
     * counter is shared between workers on the spawn path. */
    uint64_t spawned_here, finished_here;

    /* Written by the owner, read by stats (relaxed atomics). */
    uint64_t runs, steals, parks;

    /* A fiber readied by a thread that is not a worker, handed straight to
     * this worker while it spins for work (fbr__sched_ready): one line,
     * written by that thread and polled by this worker. Atomic. */
    _Alignas(FBR__WORKER_ALIGN) struct fbr_fiber *handed_in;
};

/* Grouped by who writes what: an idle worker looking for work reads the
 * first group and the injection queue's count on every round, so a line it
 * reads must not also hold what other threads write on each wake-up, or
 * each such write has to take the line away from the spinner first (on a
 * VM whose cores are far apart, a line's round trip costs up to 580 ns). A C
 * thread <-> fiber ping-pong took 8% less time once the groups were apart. */
struct fbr_sched {
    /* Set up once; read by everyone. */
    _Alignas(FBR__WORKER_ALIGN) unsigned worker_count;
    struct fbr__worker *workers;
    unsigned *idle; /* stack of idle worker indices */
    struct fbr_fiber **spare; /* spare_count of spare_capacity used */
    unsigned spare_capacity;
    void (*worker_main)(void *context, unsigned worker_index);
    void *worker_context;
    bool stopping;                    /* atomic: outside spawns refused */
    bool exiting;                     /* atomic: workers leave their loops */
    bool workers_joined;

    /* The injection queue: fibers readied from outside, spilled from full
     * local rings. Idle workers poll only its count, which sits apart: a
     * push writes the queue's line undisturbed and the count's once, where
     * with both on one line each poll in between took the line back. */
    _Alignas(FBR__WORKER_ALIGN) fbr__lock global_lock;
    struct fbr__fiber_queue global;
    _Alignas(FBR__WORKER_ALIGN) uint32_t global_count; /* atomic */

    /* Idle and spinning workers: written as workers go idle or look for work. */
    _Alignas(FBR__WORKER_ALIGN) fbr__lock idle_lock;
    unsigned idle_count; /* atomic (written under idle_lock) */
    uint32_t spinning;   /* atomic: workers looking for work to steal */
    int32_t spinner;     /* atomic: a spinning worker that takes hand-ins, or -1 */

    /* Written by threads that are not workers, as they spawn and wake. */
    _Alignas(FBR__WORKER_ALIGN) uint64_t spawned_outside; /* atomic */
    uint32_t outside_wakers;   /* atomic: threads inside fbr__sched_ready from outside */

    _Alignas(FBR__WORKER_ALIGN) struct fbr__poller poller;

    /* Records moved between workers' caches in batches. */
    _Alignas(FBR__WORKER_ALIGN) fbr__lock spare_lock;
    unsigned spare_count;     /* atomic (written under spare_lock) */

    /* Shutting down. */
    uint32_t live_generation;  /* futex: bumped when, shutting down, no fiber is left */
    fbr__lock shutdown_lock;
};

/* The worker the calling thread is, or NULL. */
struct fbr__worker *fbr__worker_self(void);

/* Makes a waiting (or new) fiber runnable. Any thread may call it. */
void fbr__sched_ready(struct fbr_fiber *f);

/* The worker whose thread state is `t` (the caller's, or NULL) if it is
 * inside a completion callback on its loop (and not already running a fiber
 * for one), else NULL. */
static inline struct fbr__worker *fbr__sched_callback_worker_of(const struct fbr__thread *t)
{
    struct fbr__worker *w = t ? t->worker : NULL;
    return w && w->in_callback && !w->running_for_callback ? w : NULL;
}

/* For such a callback that has just started an operation which must wait
 * (fbr_chan_recv_async): runs the fiber the loop would run next, now, so
 * that its answer can come back before the start call returns instead of
 * through another callback. True if `wait` ended meanwhile: its end is then
 * taken off the worker's deferred completions (its callback will not run).
 * Runs nothing when the next fiber is hosted or there is none, and on the
 * rounds where the loop must look at its other queues, timers and poller. */
bool fbr__sched_run_next_for_callback(struct fbr__worker *w, fbr__wait *wait);

/* The fiber half of fbr__wait_block: parks the calling scheduled fiber (its
 * worker marks it waiting, then calls release(arg) if not NULL, then runs
 * other fibers), and once fbr__sched_ready has been called for it cancels
 * the wait's timer if `timed` and returns the wait's claim. fbr__wait_block
 * ends by calling this (a tail call): the fiber resumes one return closer
 * to its caller, and each return right after a switch is a mispredicted one. */
uint32_t fbr__sched_park(fbr__wait *wait, bool timed, void (*release)(void *), void *arg);

#endif
