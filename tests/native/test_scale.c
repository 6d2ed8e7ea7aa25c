/* Scale and exhaustion: no leaks over many cycles, a million live fibers
 * under the stock vm.max_map_count, and clear errors when mappings or
 * memory run out. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <time.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

static void *touch_some_stack(void *arg)
{
    size_t bytes = (size_t)arg;
    volatile char buffer[256];
    buffer[0] = 1;
    if (bytes > sizeof buffer)
        return (void *)(touch_some_stack((void *)(bytes - sizeof buffer)) + buffer[0]);
    return (void *)(uintptr_t)buffer[0];
}

static void cycle(size_t stack_bytes)
{
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, touch_some_stack, (void *)stack_bytes, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_FINISHED);
    CHECK_OK(fbr_fiber_destroy(f));
}

FBR_TEST(create_destroy_cycles_leak_no_mappings_or_memory)
{
    /* Warm up: the first cycles make the pool's region and the thread's
     * signal stack, which are meant to stay. */
    for (int i = 0; i < 100; i++)
        cycle(i % 10 == 0 ? 200 << 10 : 1 << 10);
    long maps_before = count_mappings();
    long rss_before = status_kib("VmRSS");
    fbr_runtime_stats before;
    CHECK_OK(fbr_runtime_stats_get(&before));
    /* ThreadSanitizer makes each fiber cost milliseconds: fewer cycles there. */
#if defined(__SANITIZE_THREAD__)
    const int cycles = 10000;
#else
    const int cycles = 100000;
#endif
    for (int i = 0; i < cycles; i++)
        cycle(i % 100 == 0 ? 200 << 10 : 1 << 10); /* some grow deep and shrink back */
    fbr_runtime_stats after;
    CHECK_OK(fbr_runtime_stats_get(&after));
    CHECK_EQ(count_mappings(), maps_before);
    /* Sanitizers keep freed memory in quarantine; LeakSanitizer checks for
     * leaks at exit in those builds instead. */
    if (!built_with_sanitizer())
        CHECK(status_kib("VmRSS") - rss_before < 1024);
    CHECK_EQ(after.stacks_in_use, before.stacks_in_use);
    CHECK_EQ(after.stacks_cached, before.stacks_cached);
    CHECK_EQ(after.bytes_committed, before.bytes_committed);
    CHECK_EQ(after.stack_regions, before.stack_regions);
    CHECK_EQ(after.fibers_created - before.fibers_created, (uint64_t)cycles);
}

static void *yield_once(void *arg)
{
    CHECK_OK(fbr_fiber_yield(arg, NULL));
    return arg;
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

FBR_TEST(a_million_fibers_live_at_once)
{
    CHECK_OK(fbr_runtime_init());
    if (fbr_stack_mode_active() != FBR_STACK_MODE_GUARD_MARKERS)
        SKIP("mprotect stacks cost two mappings each; a million needs guard markers (Linux 6.13+)");
#if defined(__SANITIZE_THREAD__)
    SKIP("ThreadSanitizer keeps several KiB of state per fiber; a million exhaust it");
#endif
    enum { FIBERS = 1000000 };
    fbr_fiber **fibers = malloc(FIBERS * sizeof *fibers);
    CHECK(fibers != NULL);
    long maps_before = count_mappings();
    long rss_before = status_kib("VmRSS");
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < FIBERS; i++) {
        CHECK_OK(fbr_fiber_create(&fibers[i], yield_once, (void *)i, NULL));
        void *v;
        CHECK_EQ(fbr_fiber_resume(fibers[i], NULL, &v), FBR_YIELDED);
        CHECK_EQ((long)v, i);
    }
    double create_seconds = seconds_since(&start);
    long maps_live = count_mappings();
    long rss_live = status_kib("VmRSS");
    fbr_runtime_stats rs;
    CHECK_OK(fbr_runtime_stats_get(&rs));
    CHECK_EQ(rs.stacks_in_use, FIBERS);
    printf("1,000,000 live fibers: %.2f s to create and start, %ld new mappings, %.0f bytes resident each "
           "(VmPTE %ld KiB), %llu stack regions\n",
           create_seconds, maps_live - maps_before, (double)(rss_live - rss_before) * 1024.0 / FIBERS,
           status_kib("VmPTE"), (unsigned long long)rs.stack_regions);
    CHECK(maps_live - maps_before < 1000);
    for (long i = 0; i < FIBERS; i++) {
        void *v;
        CHECK_EQ(fbr_fiber_resume(fibers[i], NULL, &v), FBR_FINISHED);
        CHECK_EQ((long)v, i);
        CHECK_OK(fbr_fiber_destroy(fibers[i]));
    }
    free(fibers);
}

FBR_TEST(running_out_of_mappings_is_reported)
{
    CHECK_OK(fbr_runtime_init());
    if (fbr_stack_mode_active() != FBR_STACK_MODE_MPROTECT)
        SKIP("guard-marker stacks add no mappings, so they cannot exhaust vm.max_map_count");
    if (built_with_sanitizer())
        SKIP("the sanitizer runtime itself dies when mappings run out");
#if defined(FBR_TEST_UNDER_EMULATOR)
    SKIP("qemu-user needs mappings of its own and misbehaves when they run out");
#endif
    enum { MOST = 200000 };
    fbr_fiber **fibers = malloc(MOST * sizeof *fibers);
    CHECK(fibers != NULL);
    int made = 0, rc = 0;
    while (made < MOST && (rc = fbr_fiber_create(&fibers[made], yield_once, NULL, NULL)) == FBR_OK)
        made++;
    if (rc != FBR_EMAPLIMIT)
        FBR_TEST_FAIL("after %d fibers: %s: %s", made, fbr_err_name(rc), fbr_last_error());
    CHECK_STR_CONTAINS(fbr_last_error(), "vm.max_map_count");
    CHECK(made > 1000);
    printf("mprotect stacks: vm.max_map_count was reached after %d fibers: %s\n", made, fbr_last_error());
    for (int i = 0; i < made; i++)
        CHECK_OK(fbr_fiber_destroy(fibers[i]));
    /* Nothing is lost: after the failure fibers can be made and run again. */
    cycle(1 << 10);
    free(fibers);
}

static void exhaust_address_space(void *arg)
{
    (void)arg;
    CHECK_OK(fbr_runtime_init());
    /* A small address-space limit stands in for a machine out of memory. */
    struct rlimit limit = {.rlim_cur = (rlim_t)status_kib("VmSize") * 1024 + ((rlim_t)64 << 20)};
    limit.rlim_max = limit.rlim_cur;
    CHECK_EQ(setrlimit(RLIMIT_AS, &limit), 0);
    void *probe = mmap(NULL, (size_t)1 << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe != MAP_FAILED) {
        /* qemu-user places guest mappings in space it reserved up front. */
        printf("SKIP: the address-space limit has no effect here (an emulator?)\n");
        fflush(stdout);
        _exit(FBR_TEST_SKIPPED);
    }
    fbr_fiber_options opts = {.stack_max = (size_t)32 << 20};
    fbr_fiber *fibers[64];
    int made = 0, rc = 0;
    while (made < 64 && (rc = fbr_fiber_create(&fibers[made], yield_once, NULL, &opts)) == FBR_OK)
        made++;
    CHECK_EQ(rc, FBR_ENOMEM);
    CHECK_STR_CONTAINS(fbr_last_error(), "out of memory");
    for (int i = 0; i < made; i++)
        CHECK_OK(fbr_fiber_destroy(fibers[i]));
    printf("out of memory reported as: %s\n", fbr_last_error());
}

FBR_TEST(running_out_of_memory_is_reported)
{
    struct child_outcome out;
    run_in_child(exhaust_address_space, NULL, &out);
    if (out.exit_code == FBR_TEST_SKIPPED)
        SKIP("the address-space limit has no effect here (an emulator?)");
    CHECK_EQ(out.exit_code, 0);
}

FBR_TEST_MAIN()
