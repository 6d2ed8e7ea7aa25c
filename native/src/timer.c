#include <stdlib.h>

#include "error_internal.h"
#include "fiberrt/time.h"
#include "timer.h"

void fbr__timer_heap_init(fbr__timer_heap *h)
{
    h->lock = (fbr__lock)FBR__LOCK_INIT;
    h->items = NULL;
    h->count = h->capacity = 0;
    h->earliest = FBR_NO_DEADLINE;
}

void fbr__timer_heap_free(fbr__timer_heap *h)
{
    free(h->items);
    h->items = NULL;
}

static void place(fbr__timer_heap *h, uint32_t i, fbr__timer *t)
{
    h->items[i] = t;
    t->index = i;
}

static void sift_up(fbr__timer_heap *h, uint32_t i)
{
    fbr__timer *t = h->items[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->items[parent]->deadline <= t->deadline)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(fbr__timer_heap *h, uint32_t i)
{
    fbr__timer *t = h->items[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->items[child + 1]->deadline < h->items[child]->deadline)
            child++;
        if (t->deadline <= h->items[child]->deadline)
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, t);
}

static void publish_earliest(fbr__timer_heap *h)
{
    __atomic_store_n(&h->earliest, h->count ? h->items[0]->deadline : FBR_NO_DEADLINE, __ATOMIC_RELEASE);
}

static void remove_at(fbr__timer_heap *h, uint32_t i)
{
    fbr__timer *t = h->items[i];
    __atomic_store_n(&t->heap, NULL, __ATOMIC_RELEASE);
    h->count--;
    if (i != h->count) {
        fbr__timer *moved = h->items[h->count];
        place(h, i, moved);
        sift_down(h, i);
        sift_up(h, moved->index);
    }
}

int fbr__timer_add(fbr__timer_heap *h, fbr__timer *t)
{
    fbr__lock_acquire(&h->lock);
    if (h->count == h->capacity) {
        uint32_t capacity = h->capacity ? h->capacity * 2 : 64;
        fbr__timer **items = realloc(h->items, capacity * sizeof *items);
        if (items == NULL) {
            fbr__lock_release(&h->lock);
            return fbr__fail(FBR_ENOMEM, "out of memory for a timer");
        }
        h->items = items;
        h->capacity = capacity;
    }
    __atomic_store_n(&t->heap, h, __ATOMIC_RELEASE);
    place(h, h->count++, t);
    sift_up(h, t->index);
    publish_earliest(h);
    fbr__lock_release(&h->lock);
    return FBR_OK;
}

void fbr__timer_cancel(fbr__timer *t)
{
    fbr__timer_heap *h = __atomic_load_n(&t->heap, __ATOMIC_ACQUIRE);
    if (h == NULL)
        return;
    fbr__lock_acquire(&h->lock);
    /* It may have fired between the load and the lock. */
    if (__atomic_load_n(&t->heap, __ATOMIC_RELAXED) == h) {
        remove_at(h, t->index);
        publish_earliest(h);
    }
    fbr__lock_release(&h->lock);
}

int64_t fbr__timer_fire_due(fbr__timer_heap *h, int64_t now)
{
    if (fbr__timer_earliest(h) > now)
        return fbr__timer_earliest(h);
    fbr__lock_acquire(&h->lock);
    while (h->count && h->items[0]->deadline <= now) {
        fbr__timer *t = h->items[0];
        remove_at(h, 0);
        t->fire(t);
    }
    publish_earliest(h);
    int64_t next = h->count ? h->items[0]->deadline : FBR_NO_DEADLINE;
    fbr__lock_release(&h->lock);
    return next;
}
