#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "error_internal.h"
#include "fiber_internal.h"
#include "lock.h"
#include "record_pool.h"

#define RECORD_SIZE ((sizeof(struct fbr_fiber) + FBR__FIBER_ALIGN - 1) & ~(size_t)(FBR__FIBER_ALIGN - 1))

#if defined(FBR__ASAN)

struct fbr_fiber *fbr__record_take(void)
{
    struct fbr_fiber *f = aligned_alloc(FBR__FIBER_ALIGN, RECORD_SIZE);
    if (f == NULL)
        fbr__fail(FBR_ENOMEM, "out of memory for a fiber record");
    return f;
}

unsigned fbr__record_take_batch(struct fbr_fiber **out, unsigned n)
{
    unsigned taken = 0;
    while (taken < n && (out[taken] = fbr__record_take()) != NULL)
        taken++;
    return taken;
}

void fbr__record_give_back(struct fbr_fiber *f)
{
    free(f);
}

void fbr__record_pool_stats(struct fbr__record_pool_stats *out)
{
    *out = (struct fbr__record_pool_stats){0};
}

#else

#define FIRST_SLAB ((size_t)64 << 10)
#define HUGE_SLAB ((size_t)2 << 20)

/* A record given back: its first word links the free list. */
struct free_record {
    struct free_record *next;
};

static fbr__lock pool_lock = FBR__LOCK_INIT;
static struct free_record *free_list;
static size_t free_count;
static char *carve_at, *carve_end; /* what is left of the newest slab */
static size_t next_slab_size = FIRST_SLAB;
static size_t slab_bytes_mapped;
static uint64_t records_carved;

/* A slab of `size` bytes, aligned to it when it is huge-page sized (then
 * advised for huge pages: a burst's fresh memory comes 2 MiB at a time). */
static char *map_slab(size_t size)
{
    size_t reserve = size >= HUGE_SLAB ? size + HUGE_SLAB : size;
    char *base = mmap(NULL, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    if (reserve == size)
        return base;
    char *aligned = (char *)(((uintptr_t)base + HUGE_SLAB - 1) & ~(uintptr_t)(HUGE_SLAB - 1));
    if (aligned > base)
        munmap(base, (size_t)(aligned - base));
    char *end = aligned + size;
    if (base + reserve > end)
        munmap(end, (size_t)(base + reserve - end));
    (void)madvise(aligned, size, MADV_HUGEPAGE); /* advice: without huge pages it works all the same */
    return aligned;
}

/* With pool_lock held: one record, from the free list or the slab. */
static struct fbr_fiber *take_locked(void)
{
    if (free_list) {
        struct free_record *r = free_list;
        free_list = r->next;
        free_count--;
        return (struct fbr_fiber *)r;
    }
    if ((size_t)(carve_end - carve_at) < RECORD_SIZE) {
        char *slab = map_slab(next_slab_size);
        if (slab == NULL)
            return NULL;
        slab_bytes_mapped += next_slab_size;
        carve_at = slab;
        carve_end = slab + next_slab_size;
        if (next_slab_size < HUGE_SLAB)
            next_slab_size *= 2;
    }
    struct fbr_fiber *f = (struct fbr_fiber *)carve_at;
    carve_at += RECORD_SIZE;
    records_carved++;
    return f;
}

unsigned fbr__record_take_batch(struct fbr_fiber **out, unsigned n)
{
    unsigned taken = 0;
    fbr__lock_acquire(&pool_lock);
    while (taken < n && (out[taken] = take_locked()) != NULL)
        taken++;
    fbr__lock_release(&pool_lock);
    if (taken < n)
        fbr__fail(FBR_ENOMEM, "out of memory for fiber records (mapping a slab failed)");
    return taken;
}

struct fbr_fiber *fbr__record_take(void)
{
    struct fbr_fiber *f;
    return fbr__record_take_batch(&f, 1) ? f : NULL;
}

void fbr__record_give_back(struct fbr_fiber *f)
{
    struct free_record *r = (struct free_record *)f;
    fbr__lock_acquire(&pool_lock);
    r->next = free_list;
    free_list = r;
    free_count++;
    fbr__lock_release(&pool_lock);
}

void fbr__record_pool_stats(struct fbr__record_pool_stats *out)
{
    fbr__lock_acquire(&pool_lock);
    *out = (struct fbr__record_pool_stats){.slab_bytes = slab_bytes_mapped, .free_records = free_count,
                                           .carved = records_carved};
    fbr__lock_release(&pool_lock);
}

#endif
