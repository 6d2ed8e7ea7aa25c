/*
 * A worker's local run queue: a fixed ring that only its owner pushes to,
 * and that the owner and idle thieves take from with a compare-and-swap on
 * `head`. A thief takes half of what is there in one go, so work spreads in
 * a few steals instead of one per fiber.
 */
#ifndef FBR_RUNQ_H
#define FBR_RUNQ_H

#include <stdbool.h>

#include "sched_internal.h"

static inline uint32_t fbr__runq_size(struct fbr__runq *q)
{
    uint32_t head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
    uint32_t tail = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
    return tail - head;
}

/* Owner only. False when full. */
static inline bool fbr__runq_push(struct fbr__runq *q, struct fbr_fiber *f)
{
    uint32_t head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
    uint32_t tail = q->tail;
    if (tail - head >= FBR__RUNQ_SIZE)
        return false;
    __atomic_store_n(&q->slots[tail % FBR__RUNQ_SIZE], f, __ATOMIC_RELAXED);
    /* Sequentially consistent: pairs with an idle worker's last look before
     * it sleeps (see wake_idle_worker in sched.c). */
    __atomic_store_n(&q->tail, tail + 1, __ATOMIC_SEQ_CST);
    return true;
}

/* Owner only. */
static inline struct fbr_fiber *fbr__runq_pop(struct fbr__runq *q)
{
    for (;;) {
        uint32_t head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
        uint32_t tail = q->tail;
        if (head == tail)
            return NULL;
        struct fbr_fiber *f = __atomic_load_n(&q->slots[head % FBR__RUNQ_SIZE], __ATOMIC_RELAXED);
        if (__atomic_compare_exchange_n(&q->head, &head, head + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            /* The next one's record is most likely cold (queued long ago):
             * start fetching it while this one runs. */
            if (head + 1 != tail)
                FBR__FIBER_PREFETCH(__atomic_load_n(&q->slots[(head + 1) % FBR__RUNQ_SIZE], __ATOMIC_RELAXED), 0);
            return f;
        }
    }
}

/* Owner only: takes half of a full ring out, for the global queue. Returns
 * how many were written to `out` (at most FBR__RUNQ_SIZE / 2). */
static inline uint32_t fbr__runq_take_half(struct fbr__runq *q, struct fbr_fiber **out)
{
    for (;;) {
        uint32_t head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
        uint32_t tail = q->tail;
        uint32_t n = (tail - head) / 2;
        for (uint32_t i = 0; i < n; i++)
            out[i] = __atomic_load_n(&q->slots[(head + i) % FBR__RUNQ_SIZE], __ATOMIC_RELAXED);
        if (__atomic_compare_exchange_n(&q->head, &head, head + n, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return n;
    }
}

#define FBR__STEAL_PREFETCH 16

/* A thief moves half of `victim`'s ring into its own (empty) ring `mine`,
 * returning one of the stolen fibers to run now, or NULL. */
static inline struct fbr_fiber *fbr__runq_steal(struct fbr__runq *victim, struct fbr__runq *mine)
{
    for (;;) {
        uint32_t head = __atomic_load_n(&victim->head, __ATOMIC_ACQUIRE);
        uint32_t tail = __atomic_load_n(&victim->tail, __ATOMIC_ACQUIRE);
        uint32_t n = tail - head;
        if (n == 0 || n > FBR__RUNQ_SIZE)
            return NULL; /* empty, or a torn read of a moving queue */
        n -= n / 2;
        uint32_t my_tail = mine->tail;
        for (uint32_t i = 0; i < n; i++) {
            struct fbr_fiber *f = __atomic_load_n(&victim->slots[(head + i) % FBR__RUNQ_SIZE], __ATOMIC_RELAXED);
            __atomic_store_n(&mine->slots[(my_tail + i) % FBR__RUNQ_SIZE], f, __ATOMIC_RELAXED);
        }
        if (!__atomic_compare_exchange_n(&victim->head, &head, head + n, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        /* The last one runs now; the rest become ours. */
        n--;
        /* The stolen records were just written on the victim's core: ask
         * for several at once rather than one miss per fiber as each runs
         * (the pop prefetches only the next). */
        for (uint32_t i = 0; i < n && i < FBR__STEAL_PREFETCH; i++)
            FBR__FIBER_PREFETCH(__atomic_load_n(&mine->slots[(my_tail + i) % FBR__RUNQ_SIZE], __ATOMIC_RELAXED), 1);
        struct fbr_fiber *run = __atomic_load_n(&mine->slots[(my_tail + n) % FBR__RUNQ_SIZE], __ATOMIC_RELAXED);
        if (n)
            __atomic_store_n(&mine->tail, my_tail + n, __ATOMIC_RELEASE);
        return run;
    }
}

#endif
