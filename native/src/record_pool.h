/*
 * Where fiber records come from: slabs carved into records, not one malloc
 * each. Spawning is mostly served by the workers' record caches; this pool
 * serves what they cannot, above all a burst of spawns beyond any earlier
 * peak, which is fresh memory.
 *
 * Fresh memory is what a burst pays for: on these VMs a 4 KiB page took
 * 14.7 us to fault in (8.5 us with MAP_POPULATE, 0.3 us per 4 KiB of a
 * transparent huge page), and records malloc'd one by one from a worker's
 * arena also paid an mprotect per page as the arena grew. Slabs grow from
 * 64 KiB to 2 MiB, the large ones aligned and advised for huge pages.
 *
 * Records given back are kept for later fibers, as Go keeps its goroutine
 * records: the memory held is the peak number of records in use. Under
 * AddressSanitizer records are plain heap blocks again, so that it still
 * sees a record used after it was given back.
 *
 *     struct fbr_fiber *f = fbr__record_take();   // NULL without memory
 *     ...
 *     fbr__record_give_back(f);
 */
#ifndef FBR_RECORD_POOL_H
#define FBR_RECORD_POOL_H

#include <stddef.h>
#include <stdint.h>

struct fbr_fiber;

/* A record aligned to FBR__FIBER_ALIGN, contents undefined; NULL without
 * memory (the error is recorded). */
struct fbr_fiber *fbr__record_take(void);

/* Up to n records into out (fewer only without memory); how many. One lock
 * for the batch: workers refill their caches this way. */
unsigned fbr__record_take_batch(struct fbr_fiber **out, unsigned n);

void fbr__record_give_back(struct fbr_fiber *f);

/* For tests. Slabs and the free list are 0 where records are heap blocks. */
struct fbr__record_pool_stats {
    size_t slab_bytes;    /* mapped for records */
    size_t free_records;  /* given back, waiting for a take */
    uint64_t carved;      /* records cut from slabs: handed out for the first time */
};

void fbr__record_pool_stats(struct fbr__record_pool_stats *out);

#endif
