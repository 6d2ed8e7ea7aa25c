/* Stacks that grow on fault: geometric commits, contents kept across
 * growth, many fibers growing at once, the pool's watermark, big stacks. */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

#define FRAME_BYTES 1000

/* Each frame fills a buffer with a pattern of its depth, recurses, then
 * checks the buffer: growth must never lose or move what is already there. */
static uintptr_t level_address[2]; /* where the frames of depths 0 and 1 were */

static long recurse_and_verify(long depth, long yield_every)
{
    volatile unsigned char frame[FRAME_BYTES];
    if (depth <= 1)
        level_address[depth] = (uintptr_t)&frame[0];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (unsigned char)(depth * 31 + (long)i);
    long below = 0;
    if (depth > 0) {
        if (yield_every && depth % yield_every == 0)
            CHECK_OK(fbr_fiber_yield(NULL, NULL));
        below = recurse_and_verify(depth - 1, yield_every);
    }
    for (size_t i = 0; i < sizeof frame; i++)
        if (frame[i] != (unsigned char)(depth * 31 + (long)i))
            FBR_TEST_FAIL("frame at depth %ld corrupted at byte %zu", depth, i);
    return below + 1;
}

struct dive {
    long depth;
    long yield_every;
    fbr_stack_stats at_bottom;
};

static void *dive(void *arg)
{
    struct dive *d = arg;
    CHECK_EQ(recurse_and_verify(d->depth, d->yield_every), d->depth + 1);
    CHECK_OK(fbr_fiber_stack_stats(fbr_fiber_self(), &d->at_bottom));
    return NULL;
}

FBR_TEST(stack_grows_geometrically_on_demand)
{
    fbr_fiber_options opts = {.stack_max = 1 << 20, .stack_initial = 16 << 10};
    struct dive d = {.depth = 700}; /* about 700 KiB of frames */
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, dive, &d, &opts));
    fbr_stack_stats before;
    CHECK_OK(fbr_fiber_stack_stats(f, &before));
    CHECK_EQ(before.committed, 16 << 10);
    CHECK_EQ(before.limit, 1 << 20);
    CHECK(before.reserved > before.limit);
    CHECK_EQ(before.growth_faults, 0);
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_FINISHED);
    /* 16 KiB doubling to cover ~700 KiB: 16->32->64->128->256->512->1024. */
    CHECK(d.at_bottom.committed >= 700 * FRAME_BYTES);
    CHECK(d.at_bottom.committed <= (size_t)1 << 20);
    CHECK(d.at_bottom.growth_faults >= 5);
    CHECK(d.at_bottom.growth_faults <= 6);
    CHECK(d.at_bottom.high_water >= 700 * FRAME_BYTES);
    CHECK(d.at_bottom.high_water <= d.at_bottom.committed);
    fbr_runtime_stats rs;
    CHECK_OK(fbr_runtime_stats_get(&rs));
    CHECK(rs.growth_faults >= d.at_bottom.growth_faults);
    CHECK_OK(fbr_fiber_destroy(f));
}

/* Bytes of stack one level of recurse_and_verify takes in this build
 * (sanitizers add red zones), measured rather than guessed. */
static size_t bytes_per_level(void)
{
    struct dive calibrate = {.depth = 1};
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, dive, &calibrate, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_FINISHED);
    CHECK_OK(fbr_fiber_destroy(f));
    CHECK(level_address[1] > level_address[0]);
    return level_address[1] - level_address[0];
}

FBR_TEST(many_fibers_grow_concurrently_and_keep_their_frames)
{
    enum { FIBERS = 64 };
    const size_t limit = 256 << 10;
    fbr_fiber_options opts = {.stack_max = limit, .stack_initial = 4 << 10};
    struct dive dives[FIBERS];
    fbr_fiber *fibers[FIBERS];
    /* Deepest dive: 90% of the limit, leaving room for the yield path. */
    long max_depth = (long)(limit * 9 / 10 / (bytes_per_level() + 64));
    unsigned seed = 12345;
    for (int i = 0; i < FIBERS; i++) {
        seed = seed * 1103515245 + 12345;
        /* random depths up to near the limit, yielding every few frames so
         * that all fibers are mid-growth at the same time */
        long depth = i == 0 ? max_depth : 20 + (long)(seed >> 16) % (max_depth - 20);
        dives[i] = (struct dive){.depth = depth, .yield_every = 3 + i % 5};
        CHECK_OK(fbr_fiber_create(&fibers[i], dive, &dives[i], &opts));
    }
    int running = FIBERS;
    while (running) {
        running = 0;
        for (int i = 0; i < FIBERS; i++) {
            if (fbr_fiber_status(fibers[i]) == FBR_FIBER_FINISHED)
                continue;
            int rc = fbr_fiber_resume(fibers[i], NULL, NULL);
            CHECK(rc == FBR_YIELDED || rc == FBR_FINISHED);
            running += rc == FBR_YIELDED;
        }
    }
    CHECK(dives[0].at_bottom.committed >= limit * 3 / 4); /* one really went near the limit */
    for (int i = 0; i < FIBERS; i++) {
        CHECK(dives[i].at_bottom.committed >= (size_t)dives[i].depth * FRAME_BYTES);
        CHECK(dives[i].at_bottom.growth_faults >= 1);
        CHECK_OK(fbr_fiber_destroy(fibers[i]));
    }
}

FBR_TEST(a_pooled_stack_keeps_only_its_watermark)
{
    fbr_runtime_config cfg = {.pool_keep_committed = 32 << 10};
    CHECK_OK(fbr_runtime_configure(&cfg));
    fbr_fiber_options opts = {.stack_max = 1 << 20, .stack_initial = 8 << 10};
    struct dive d = {.depth = 500};
    fbr_fiber *f;
    fbr_runtime_stats idle, deep, pooled;
    CHECK_OK(fbr_fiber_create(&f, dive, &d, &opts));
    CHECK_OK(fbr_runtime_stats_get(&idle));
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_FINISHED); /* grows to ~512 KiB, then pooled */
    CHECK_OK(fbr_runtime_stats_get(&pooled));
    CHECK_EQ(pooled.stacks_cached, idle.stacks_cached + 1);
    CHECK_EQ(pooled.stacks_in_use, idle.stacks_in_use - 1);
    CHECK_EQ(pooled.bytes_committed, idle.bytes_committed - (8 << 10) + (32 << 10));
    CHECK_OK(fbr_fiber_destroy(f));

    /* The next fiber of that size gets the same stack: already 32 KiB
     * committed, no faults until it goes deeper than that. */
    struct dive shallow = {.depth = 20};
    CHECK_OK(fbr_fiber_create(&f, dive, &shallow, &opts));
    CHECK_OK(fbr_runtime_stats_get(&deep));
    CHECK_EQ(deep.stacks_cached, idle.stacks_cached);
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_FINISHED);
    CHECK_EQ(shallow.at_bottom.committed, 32 << 10);
    CHECK_EQ(shallow.at_bottom.growth_faults, 0);
    CHECK_OK(fbr_fiber_destroy(f));
}

FBR_TEST(a_full_pool_gives_all_memory_back)
{
    fbr_runtime_config cfg = {.pool_max_cached = 1};
    CHECK_OK(fbr_runtime_configure(&cfg));
    fbr_fiber_options opts = {.stack_max = 8 << 20};
    enum { FIBERS = 4 };
    fbr_fiber *fibers[FIBERS];
    struct dive dives[FIBERS];
    long rss_before = status_kib("VmRSS");
    for (int i = 0; i < FIBERS; i++) {
        dives[i] = (struct dive){.depth = 6000}; /* ~6 MB each */
        CHECK_OK(fbr_fiber_create(&fibers[i], dive, &dives[i], &opts));
        CHECK_EQ(fbr_fiber_resume(fibers[i], NULL, NULL), FBR_FINISHED);
    }
    /* Finished fibers gave their stacks back: one kept (64 KiB), the rest
     * released in full. */
    fbr_runtime_stats rs;
    CHECK_OK(fbr_runtime_stats_get(&rs));
    CHECK_EQ(rs.stacks_cached, 1);
    CHECK_EQ(rs.stacks_in_use, 0);
    CHECK(rs.bytes_committed <= 64 << 10);
    long rss_after = status_kib("VmRSS");
    if (!built_with_sanitizer()) /* their shadow memory grows with what was touched */
        CHECK(rss_after - rss_before < 4 * 1024); /* far below the 24 MB touched */
    for (int i = 0; i < FIBERS; i++)
        CHECK_OK(fbr_fiber_destroy(fibers[i]));
}

/* The pool keeps a burst's stacks for the next burst (no system calls per
 * fiber), but past its first 4096 each keeps only 16 KiB committed. */
FBR_TEST(past_4096_cached_stacks_each_keeps_only_16_KiB)
{
    fbr_runtime_config cfg = {.pool_keep_committed = 32 << 10};
    CHECK_OK(fbr_runtime_configure(&cfg));
    fbr_fiber_options opts = {.stack_max = 1 << 20, .stack_initial = 8 << 10};
    enum { HOT = 4096, COLD = 64, FIBERS = HOT + COLD };
    static fbr_fiber *fibers[FIBERS];
    static struct dive dives[FIBERS];
    CHECK_OK(fbr_runtime_init());
    fbr_runtime_stats before, after;
    CHECK_OK(fbr_runtime_stats_get(&before));
    for (int i = 0; i < FIBERS; i++) {
        dives[i] = (struct dive){.depth = 20}; /* grows 8 -> 16 -> 32 KiB */
        CHECK_OK(fbr_fiber_create(&fibers[i], dive, &dives[i], &opts));
    }
    for (int i = 0; i < FIBERS; i++) {
        CHECK_EQ(fbr_fiber_resume(fibers[i], NULL, NULL), FBR_FINISHED);
        CHECK_EQ(dives[i].at_bottom.committed, 32 << 10);
    }
    CHECK_OK(fbr_runtime_stats_get(&after));
    CHECK_EQ(after.stacks_in_use, before.stacks_in_use);
    CHECK_EQ(after.stacks_cached, before.stacks_cached + FIBERS);
    CHECK_EQ(after.bytes_committed - before.bytes_committed, (uint64_t)HOT * (32 << 10) + (uint64_t)COLD * (16 << 10));
    /* The next burst takes them back without growing the reservation. */
    for (int i = 0; i < FIBERS; i++) {
        CHECK_OK(fbr_fiber_destroy(fibers[i]));
        CHECK_OK(fbr_fiber_create(&fibers[i], dive, &dives[i], &opts));
    }
    fbr_runtime_stats again;
    CHECK_OK(fbr_runtime_stats_get(&again));
    CHECK_EQ(again.stacks_cached, before.stacks_cached);
    CHECK_EQ(again.bytes_reserved, after.bytes_reserved);
    for (int i = 0; i < FIBERS; i++) {
        CHECK_EQ(fbr_fiber_resume(fibers[i], NULL, NULL), FBR_FINISHED);
        CHECK_OK(fbr_fiber_destroy(fibers[i]));
    }
}

/* 60 KiB frames, each checked after the recursion returns so the compiler
 * cannot turn the recursion into a loop; stack probes touch every page. */
static size_t touch_deep(size_t bytes)
{
    volatile char chunk[60 << 10];
    chunk[0] = (char)bytes;
    chunk[sizeof chunk - 1] = (char)(bytes >> 8);
    size_t below = bytes > sizeof chunk ? touch_deep(bytes - sizeof chunk) : 0;
    CHECK(chunk[0] == (char)bytes && chunk[sizeof chunk - 1] == (char)(bytes >> 8));
    return below + sizeof chunk;
}

static void *touch_deep_entry(void *arg)
{
    return (void *)touch_deep((size_t)arg);
}

FBR_TEST(stack_max_of_256_mib_is_usable)
{
    fbr_fiber_options opts = {.stack_max = (size_t)256 << 20};
    fbr_fiber *f;
    void *used;
    CHECK_OK(fbr_fiber_create(&f, touch_deep_entry, (void *)((size_t)200 << 20), &opts));
    CHECK_EQ(fbr_fiber_resume(f, NULL, &used), FBR_FINISHED);
    CHECK((size_t)used >= (size_t)200 << 20);
    CHECK_OK(fbr_fiber_destroy(f));
}

static void *report_own_stats(void *arg)
{
    return (void *)(intptr_t)fbr_fiber_stack_stats(fbr_fiber_self(), arg);
}

FBR_TEST(a_fiber_reads_its_own_stack_figures)
{
    fbr_stack_stats stats;
    fbr_fiber *f;
    void *rc;
    CHECK_OK(fbr_fiber_create(&f, report_own_stats, &stats, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, &rc), FBR_FINISHED);
    CHECK_EQ((intptr_t)rc, FBR_OK);
    CHECK_EQ(stats.limit, FBR_STACK_DEFAULT_MAX);
    CHECK_EQ(stats.committed, FBR_STACK_DEFAULT_INITIAL);
    CHECK(stats.high_water > 0);
    CHECK(stats.high_water <= stats.committed);
    CHECK_OK(fbr_fiber_destroy(f));
}

/* A frame much larger than the growth window, compiled without stack
 * probes and written deepest byte first (as memset does): its first touch
 * lands below the window. Growth must still work, account for it, and
 * never mark (and so wipe) memory that is in use. */
__attribute__((noinline, optimize("no-stack-clash-protection"))) static long jump_the_window(long deeper)
{
    volatile unsigned char big[200 << 10];
    for (size_t i = 0; i < sizeof big; i += 512) /* lowest address first */
        big[i] = (unsigned char)(i / 512 + 7);
    /* Deeper frames fault below the big one; the handler must commit and
     * place its new window under them, not over `big`. */
    long below = recurse_and_verify(deeper, 0);
    for (size_t i = 0; i < sizeof big; i += 512)
        if (big[i] != (unsigned char)(i / 512 + 7))
            FBR_TEST_FAIL("the big frame lost byte %zu", i);
    return below;
}

static void *jump_then_report(void *arg)
{
    fbr_stack_stats *stats = arg;
    long frames = jump_the_window(150);
    CHECK_EQ(frames, 151);
    CHECK_OK(fbr_fiber_stack_stats(fbr_fiber_self(), stats));
    return NULL;
}

FBR_TEST(a_frame_that_jumps_the_growth_window_keeps_working)
{
    fbr_fiber_options opts = {.stack_max = 1 << 20, .stack_initial = 16 << 10};
    fbr_stack_stats stats;
    for (int round = 0; round < 3; round++) { /* again on the pooled stack */
        fbr_fiber *f;
        CHECK_OK(fbr_fiber_create(&f, jump_then_report, &stats, &opts));
        CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_FINISHED);
        CHECK(stats.committed >= (200 << 10) + 150 * FRAME_BYTES);
        CHECK(stats.high_water >= (200 << 10) + 150 * FRAME_BYTES);
        CHECK(stats.growth_faults >= 1);
        CHECK_OK(fbr_fiber_destroy(f));
    }
}

FBR_TEST_MAIN()
