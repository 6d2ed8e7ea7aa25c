#include <stddef.h>

#include "error_internal.h"
#include "futex.h"
#include "sched_internal.h"
#include "thread.h"
#include "wait.h"

/* The futex word of a blocked thread: it spins while WAITING, says SLEEPING
 * before its futex sleep, and the waker's WOKEN ends either. */
enum { THREAD_WAITING, THREAD_WOKEN, THREAD_SLEEPING };

void fbr__wait_init(fbr__wait *w)
{
    w->claim = FBR__CLAIM_PENDING;
    w->result = FBR_OK;
    w->claimed_under_lock = false;
    w->thread_woken = THREAD_WAITING;
    w->timer.heap = NULL;
    struct fbr_fiber *f = fbr_fiber_self();
    if (f != NULL && f->sched != NULL) {
        w->kind = FBR__WAIT_FIBER;
        w->fiber = f;
    } else {
        /* Threads, and low-level fibers outside any scheduler, block the OS
         * thread they run on. */
        w->kind = FBR__WAIT_THREAD;
        w->fiber = NULL;
    }
}

void fbr__wait_complete(fbr__wait *w)
{
    if (w->kind == FBR__WAIT_FIBER) {
        fbr__sched_ready(w->fiber);
        return;
    }
    if (w->kind == FBR__WAIT_CALLBACK) {
        /* Completed by a scheduled fiber on a worker: deferred to its loop. */
        struct fbr__thread *t = fbr__thread_peek();
        struct fbr_fiber *self = fbr__thread_fiber(t);
        if (self && self->sched && t->worker) {
            struct fbr__worker *worker = t->worker;
            w->deferred_next = worker->deferred;
            worker->deferred = w;
            return;
        }
        fbr__wait_run_callback(w);
        return;
    }
    /* A waiter still spinning sees the word change; only one that said it
     * sleeps needs the system call (a futex wake costs more than the whole
     * hand-off it ends). */
    if (__atomic_exchange_n(&w->thread_woken, THREAD_WOKEN, __ATOMIC_ACQ_REL) == THREAD_SLEEPING)
        fbr__futex_wake(&w->thread_woken, 1);
}

static void fire_timeout(fbr__timer *t)
{
    fbr__wait *w = (fbr__wait *)((char *)t - offsetof(fbr__wait, timer));
    if (fbr__wait_claim(w, FBR__CLAIM_TIMEOUT)) {
        w->result = FBR_ETIMEDOUT;
        fbr__wait_complete(w);
    }
}

/* How long a blocked thread spins before it sleeps. A fiber often answers
 * a thread within microseconds (a channel hand-off, a short join), while a
 * futex sleep and wake-up costs tens of microseconds on a VM. */
#define THREAD_SPIN_NS (20 * FBR_MICROSECOND)

static uint32_t block_thread(fbr__wait *w, void (*release)(void *), void *arg, int64_t deadline)
{
    if (release)
        release(arg);
    int64_t spin_until = fbr_now() + THREAD_SPIN_NS;
    if (spin_until > deadline)
        spin_until = deadline;
    for (unsigned i = 1; __atomic_load_n(&w->thread_woken, __ATOMIC_ACQUIRE) != THREAD_WOKEN; i++) {
        fbr__cpu_relax();
        if (i % 64 == 0 && fbr_now() >= spin_until)
            break;
    }
    for (;;) {
        uint32_t waiting = THREAD_WAITING;
        if (!__atomic_compare_exchange_n(&w->thread_woken, &waiting, THREAD_SLEEPING, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE) &&
            waiting == THREAD_WOKEN)
            return __atomic_load_n(&w->claim, __ATOMIC_ACQUIRE);
        if (fbr__futex_wait(&w->thread_woken, THREAD_SLEEPING, deadline) == ETIMEDOUT &&
            fbr__wait_claim(w, FBR__CLAIM_TIMEOUT)) {
            w->result = FBR_ETIMEDOUT;
            return FBR__CLAIM_TIMEOUT;
        }
        /* Lost the race to a waker: its wake-up is on the way. */
        if (__atomic_load_n(&w->claim, __ATOMIC_ACQUIRE) != FBR__CLAIM_PENDING)
            deadline = FBR_NO_DEADLINE;
    }
}

uint32_t fbr__wait_block(fbr__wait *w, void (*release)(void *), void *arg, int64_t deadline)
{
    if (w->kind == FBR__WAIT_THREAD)
        return block_thread(w, release, arg, deadline);
    bool timed = false;
    if (deadline != FBR_NO_DEADLINE) {
        if (deadline <= fbr_now()) {
            /* Already late: no timer, just try to claim the timeout. */
            if (fbr__wait_claim(w, FBR__CLAIM_TIMEOUT)) {
                w->result = FBR_ETIMEDOUT;
                if (release)
                    release(arg);
                return FBR__CLAIM_TIMEOUT;
            }
        } else {
            w->timer.deadline = deadline;
            w->timer.fire = fire_timeout;
            timed = fbr__timer_add(&fbr__worker_self()->timers, &w->timer) == FBR_OK;
            /* Without memory for a timer the wait still ends when claimed;
             * only the deadline is lost, and the error was recorded. */
        }
    }
    return fbr__sched_park(w, timed, release, arg);
}

void fbr__wait_queue_push(fbr__wait_queue *q, fbr__wait_node *n)
{
    n->next = NULL;
    n->prev = q->tail;
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    n->queued = true;
}

void fbr__wait_queue_remove(fbr__wait_queue *q, fbr__wait_node *n)
{
    if (!n->queued)
        return;
    if (n->prev)
        n->prev->next = n->next;
    else
        q->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        q->tail = n->prev;
    n->queued = false;
    n->next = n->prev = NULL;
}

fbr__wait_node *fbr__wait_queue_claim_first_queued(fbr__wait_queue *q)
{
    while (q->head) {
        fbr__wait_node *n = q->head;
        fbr__wait_queue_remove(q, n);
        if (fbr__wait_claim(n->wait, n->token))
            return n;
    }
    return NULL;
}

void fbr__wait_release_lock(void *lock)
{
    fbr__lock_release(lock);
}
