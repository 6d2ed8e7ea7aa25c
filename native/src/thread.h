/*
 * Per-OS-thread state: which fiber is running here (the fault handler's way
 * to find the faulting stack), the thread's own context while a fiber runs,
 * and the alternate signal stack the handler needs.
 */
#ifndef FBR_THREAD_H
#define FBR_THREAD_H

#include <stdbool.h>

#include "fiber_internal.h"
#include "runtime_internal.h"

struct fbr__worker;

#define FBR__SPARE_CHAN_OPS 4

struct fbr__thread {
    struct fbr_fiber root; /* the thread's original context */
    struct fbr_fiber *current;
    struct fbr__worker *worker; /* set on a scheduler's worker threads */
    uint64_t rng;               /* per-thread random state (select, stealing) */
    uint64_t next_fiber_id, fiber_id_end; /* this thread's block of fiber ids */
    void *altstack;        /* ours to free, or NULL if the thread had one */
    size_t altstack_size;
    struct fbr__counters counters;         /* this thread's updates */
    struct fbr__counters handler_counters; /* its fault handler's updates */
    struct fbr__thread *next_registered, *prev_registered; /* all threads' counters */
    /* Blocks of pending channel operations freed on this thread, kept for
     * its next ones (chan_async.c); freed when the thread exits. */
    void *spare_chan_ops[FBR__SPARE_CHAN_OPS];
    unsigned spare_chan_op_count;
};

/* Marks every function that touches a thread-local variable of the
 * runtime: the compiler may neither inline nor analyse it, even when the
 * library is built with link-time optimisation (as distributions build
 * packages). A fiber may resume on another thread, and a thread pointer or
 * TLS address the compiler kept from before a switch would be the old
 * thread's. */
#define FBR__TLS_ACCESSOR __attribute__((noinline, noipa))

/* The calling thread's state, created on first use. Fails (FBR_ENOMEM, with
 * details recorded) only if memory for it or its signal stack runs out. */
int fbr__thread_get(struct fbr__thread **out);

/* The calling thread's state, or NULL if it never ran a fiber. Never cached
 * by the compiler across a switch: a fiber may wake up on another thread. */
struct fbr__thread *fbr__thread_peek(void);

/* The fiber thread `t` runs, or NULL when it runs on its own stack (or `t`
 * is NULL): what fbr_fiber_self reports, for callers that already hold `t`. */
static inline struct fbr_fiber *fbr__thread_fiber(const struct fbr__thread *t)
{
    return t != NULL && t->current != &t->root ? t->current : NULL;
}

/* For the signal handler: a plain read of the initial-exec TLS slot, which
 * is async-signal-safe (no lazy TLS allocation). */
struct fbr__thread *fbr__thread_peek_signal_safe(void);

#endif
