/*
 * First-in first-out queues of fibers, for the scheduler. Neither locks:
 * callers do.
 *
 * fbr__fiber_list links fibers through their records: no allocation, for
 * short queues. fbr__fiber_queue keeps pointers in a growable ring instead,
 * so that moving thousands of queued fibers (a worker taking its share of
 * the global queue) reads a few cache lines of pointers rather than one
 * cold record per fiber. If the ring cannot grow, fibers go to a list
 * behind it: slower, never lost.
 */
#ifndef FBR_FIBER_QUEUE_H
#define FBR_FIBER_QUEUE_H

#include <stdbool.h>
#include <stdlib.h>

#include "fiber_internal.h"

struct fbr__fiber_list {
    struct fbr_fiber *head, *tail;
};

static inline void fbr__fiber_list_push(struct fbr__fiber_list *l, struct fbr_fiber *f)
{
    f->queue_next = NULL;
    if (l->tail)
        l->tail->queue_next = f;
    else
        l->head = f;
    l->tail = f;
}

static inline struct fbr_fiber *fbr__fiber_list_pop(struct fbr__fiber_list *l)
{
    struct fbr_fiber *f = l->head;
    if (f) {
        l->head = f->queue_next;
        if (l->head == NULL)
            l->tail = NULL;
        f->queue_next = NULL;
    }
    return f;
}

struct fbr__fiber_queue {
    struct fbr_fiber **ring;
    size_t head, count, capacity;
    struct fbr__fiber_list overflow;
};

static inline bool fbr__fiber_queue_grow(struct fbr__fiber_queue *q)
{
    size_t capacity = q->capacity ? q->capacity * 2 : 1024;
    struct fbr_fiber **ring = malloc(capacity * sizeof *ring);
    if (ring == NULL)
        return false;
    for (size_t i = 0; i < q->count; i++)
        ring[i] = q->ring[(q->head + i) % q->capacity];
    free(q->ring);
    q->ring = ring;
    q->head = 0;
    q->capacity = capacity;
    return true;
}

static inline void fbr__fiber_queue_push(struct fbr__fiber_queue *q, struct fbr_fiber *f)
{
    if (q->overflow.head == NULL && (q->count < q->capacity || fbr__fiber_queue_grow(q))) {
        q->ring[(q->head + q->count) % q->capacity] = f;
        q->count++;
        return;
    }
    fbr__fiber_list_push(&q->overflow, f);
}

static inline struct fbr_fiber *fbr__fiber_queue_pop(struct fbr__fiber_queue *q)
{
    if (q->count) {
        struct fbr_fiber *f = q->ring[q->head];
        q->head = (q->head + 1) % q->capacity;
        q->count--;
        return f;
    }
    return fbr__fiber_list_pop(&q->overflow);
}

static inline void fbr__fiber_queue_free(struct fbr__fiber_queue *q)
{
    free(q->ring);
    q->ring = NULL;
    q->head = q->count = q->capacity = 0;
}

#endif
