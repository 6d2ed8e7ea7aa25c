/* Fiber records from slabs: aligned, never overlapping, and reused once
 * given back rather than mapped anew. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "fiber_internal.h"
#include "harness.h"
#include "record_pool.h"

enum { COUNT = 3000 }; /* past the first slabs (64 KiB, then 128, 256 ...) */

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(struct fbr_fiber *const *)a, y = (uintptr_t)*(struct fbr_fiber *const *)b;
    return x < y ? -1 : x > y;
}

FBR_TEST(records_are_aligned_apart_and_reused_once_given_back)
{
    static struct fbr_fiber *records[COUNT];
    CHECK_EQ(fbr__record_take_batch(records, COUNT / 2), COUNT / 2);
    for (int i = COUNT / 2; i < COUNT; i++)
        CHECK((records[i] = fbr__record_take()) != NULL);
    for (int i = 0; i < COUNT; i++) {
        CHECK((uintptr_t)records[i] % FBR__FIBER_ALIGN == 0);
        /* Each one whole and writable. */
        records[i]->magic = (uint32_t)i;
        records[i]->name[FBR_FIBER_NAME_MAX - 1] = 'x';
    }
    for (int i = 0; i < COUNT; i++)
        CHECK_EQ(records[i]->magic, (uint32_t)i);
    qsort(records, COUNT, sizeof records[0], by_address);
    for (int i = 1; i < COUNT; i++)
        CHECK((uintptr_t)records[i] - (uintptr_t)records[i - 1] >= sizeof(struct fbr_fiber));

    struct fbr__record_pool_stats before, after;
    fbr__record_pool_stats(&before);
    for (int i = 0; i < COUNT; i++)
        fbr__record_give_back(records[i]);
#if !defined(FBR__ASAN)
    fbr__record_pool_stats(&after);
    CHECK(before.slab_bytes >= (size_t)COUNT * sizeof(struct fbr_fiber));
    CHECK(before.carved >= COUNT);
    CHECK_EQ(after.free_records, before.free_records + COUNT);
    /* Taken again: all from what was given back, no new slab. */
    CHECK_EQ(fbr__record_take_batch(records, COUNT), COUNT);
    fbr__record_pool_stats(&after);
    CHECK_EQ(after.slab_bytes, before.slab_bytes);
    CHECK_EQ(after.free_records, before.free_records);
    CHECK_EQ(after.carved, before.carved);
    for (int i = 0; i < COUNT; i++)
        fbr__record_give_back(records[i]);
#else
    (void)after;
#endif
}

FBR_TEST_MAIN()
