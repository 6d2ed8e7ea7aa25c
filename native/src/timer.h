/*
 * Timers: a binary min-heap of deadlines per worker. Sleeps and deadlines of
 * fibers on that worker go in; the worker fires what is due each time it
 * schedules and sleeps no longer than its earliest timer when idle.
 *
 * A timer lives inside the waiting operation's own memory (on the waiting
 * fiber's stack), so it must be cancelled before that operation returns.
 */
#ifndef FBR_TIMER_H
#define FBR_TIMER_H

#include <stdint.h>

#include "fiberrt/time.h"
#include "lock.h"

/* Nanoseconds from now until `deadline`, or 0 once it has passed. Never
 * overflows, however far in the past the deadline lies (INT64_MIN too). */
static inline int64_t fbr__time_left(int64_t deadline)
{
    int64_t now = fbr_now();
    return deadline <= now ? 0 : deadline - now;
}

struct fbr__timer_heap;

typedef struct fbr__timer {
    int64_t deadline;
    struct fbr__timer_heap *heap; /* the heap holding it, NULL otherwise (atomic) */
    uint32_t index;
    /* Called with the heap locked, after the timer was removed. */
    void (*fire)(struct fbr__timer *timer);
} fbr__timer;

typedef struct fbr__timer_heap {
    fbr__lock lock;
    fbr__timer **items;
    uint32_t count;
    uint32_t capacity;
    int64_t earliest; /* deadline of items[0], or FBR_NO_DEADLINE (atomic) */
} fbr__timer_heap;

void fbr__timer_heap_init(fbr__timer_heap *h);
void fbr__timer_heap_free(fbr__timer_heap *h);

/* FBR_ENOMEM if the heap cannot grow. */
int fbr__timer_add(fbr__timer_heap *h, fbr__timer *t);

/* Removes t from whatever heap holds it; harmless if it already fired. */
void fbr__timer_cancel(fbr__timer *t);

/* Fires every timer due at `now`; returns the next deadline. */
int64_t fbr__timer_fire_due(fbr__timer_heap *h, int64_t now);

static inline int64_t fbr__timer_earliest(fbr__timer_heap *h)
{
    return __atomic_load_n(&h->earliest, __ATOMIC_ACQUIRE);
}

#endif
