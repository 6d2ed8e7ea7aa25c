/*
 * Waiting: how a fiber or a thread blocks on something (a channel, a join,
 * a mutex, a sleep) and how whoever ends the wait wakes it.
 *
 * A wait is claimed exactly once, by the first party to complete it: a
 * channel operation, a close, a timer, a select arm. Claiming is a
 * compare-and-swap on `claim`, so a select waiting on several channels, or
 * an operation racing its own deadline, has one winner. The winner sets
 * `result`, then calls fbr__wait_complete, after which it must not touch
 * the wait again (it lives on the waiter's stack).
 *
 * A waiter publishes its wait (for example in a channel's queue) under a
 * lock and passes that lock's release to fbr__wait_block, which parks the
 * fiber first and only then releases it: nobody can find, and wake, a fiber
 * that is still switching away.
 */
#ifndef FBR_WAIT_H
#define FBR_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "fiberrt/fiber.h"
#include "timer.h"

#define FBR__CLAIM_PENDING 0u
#define FBR__CLAIM_TIMEOUT 0xFFFFFFFFu

enum fbr__wait_kind {
    FBR__WAIT_FIBER,    /* a scheduled fiber: parks, and its worker runs others */
    FBR__WAIT_THREAD,   /* anything else: the OS thread sleeps on a futex */
    FBR__WAIT_CALLBACK, /* nobody blocks: on_complete runs when it ends */
};

typedef struct fbr__wait {
    uint32_t claim; /* atomic: PENDING, then the winner's token */
    int result;
    int kind;
    /* Every party that may claim it holds one lock to do so: the lock of the
     * one queue it waits in (a channel operation without a deadline, whose
     * partners, closer and canceller all take the channel's lock). */
    bool claimed_under_lock;
    fbr_fiber *fiber;
    uint32_t thread_woken; /* futex word for FBR__WAIT_THREAD */
    void (*on_complete)(struct fbr__wait *w); /* FBR__WAIT_CALLBACK */
    struct fbr__wait *deferred_next;          /* in a worker's deferred completions */
    fbr__timer timer;
} fbr__wait;

/* Prepares a wait for the calling context (fiber or thread). */
void fbr__wait_init(fbr__wait *w);

static inline bool fbr__wait_claim(fbr__wait *w, uint32_t token)
{
    if (w->claimed_under_lock) {
        /* Nobody can race the lock holder: a load and a store, where the
         * compare-and-swap below is a locked instruction (two of them in a
         * channel round trip took 10% of it). */
        if (__atomic_load_n(&w->claim, __ATOMIC_RELAXED) != FBR__CLAIM_PENDING)
            return false;
        __atomic_store_n(&w->claim, token, __ATOMIC_RELAXED);
        return true;
    }
    uint32_t expected = FBR__CLAIM_PENDING;
    return __atomic_compare_exchange_n(&w->claim, &expected, token, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Wakes the waiter of a wait this caller claimed. A callback wait completed
 * by a scheduled fiber runs its callback later, from the worker's loop on
 * the worker thread's own stack: callbacks may be foreign code (.NET) that
 * must not run on a fiber stack. */
void fbr__wait_complete(fbr__wait *w);

/* Runs a callback wait's completion now (the worker loop's side). */
static inline void fbr__wait_run_callback(fbr__wait *w)
{
    w->on_complete(w);
}

/* Releases what guards the wait's publication (release(arg), if release is
 * not NULL) once it is safe, and blocks until the wait is claimed or the
 * deadline passes (then it claims FBR__CLAIM_TIMEOUT itself). Returns the
 * winning token. */
uint32_t fbr__wait_block(fbr__wait *w, void (*release)(void *), void *arg, int64_t deadline);

/* An entry in a queue of waiters (a channel's senders, a mutex's waiters).
 * A select puts one node per case, all sharing one wait. */
typedef struct fbr__wait_node {
    fbr__wait *wait;
    uint32_t token;   /* what claiming through this node stores */
    bool queued;
    void *elem;       /* channel operations: the value to send or the buffer to fill */
    struct fbr__wait_node *next, *prev;
    /* For wakers that claim many nodes under a lock and complete them after
     * unlocking (close, broadcast): a list apart from any queue's links. */
    struct fbr__wait_node *next_claimed;
} fbr__wait_node;

typedef struct fbr__wait_queue {
    fbr__wait_node *head, *tail;
} fbr__wait_queue;

void fbr__wait_queue_push(fbr__wait_queue *q, fbr__wait_node *n);
void fbr__wait_queue_remove(fbr__wait_queue *q, fbr__wait_node *n);

fbr__wait_node *fbr__wait_queue_claim_first_queued(fbr__wait_queue *q);

/* Unlinks and returns the first node whose wait this caller manages to
 * claim; nodes of waits already claimed elsewhere (another select arm, a
 * timeout) are dropped on the way. NULL if none. The empty case stays
 * inline: every channel attempt looks at a queue that is usually empty
 * (the other direction's waiters). */
static inline fbr__wait_node *fbr__wait_queue_claim_first(fbr__wait_queue *q)
{
    return q->head ? fbr__wait_queue_claim_first_queued(q) : NULL;
}

static inline bool fbr__wait_queue_empty(const fbr__wait_queue *q)
{
    return q->head == NULL;
}

/* A release function for fbr__wait_block that unlocks a fbr__lock. */
void fbr__wait_release_lock(void *lock);

#endif
