/*
 * The native tour: what the core does, shown on this machine.
 *
 * Spawns many fibers that each recurse to a random depth, yielding along the
 * way so that all of them are alive and growing their stacks at the same
 * time, then checks every frame on the way back and reports what happened:
 * growth faults, committed and resident memory, mappings, time. Ends with a
 * stack overflow in a child process, to show the report.
 *
 *   fbr_tour [--fibers N] [--max-depth-kib K] [--no-overflow]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fiberrt.h>

#include "proc_figures.h"

#define FRAME_BYTES 1024

struct dive {
    long depth;
    long checked_frames;
    size_t committed_at_bottom;
    uint64_t faults;
};

static long recurse(long depth, long seed)
{
    volatile unsigned char frame[FRAME_BYTES];
    for (size_t i = 0; i < sizeof frame; i += 64)
        frame[i] = (unsigned char)(seed + depth + (long)i);
    long checked = 0;
    if (depth > 0) {
        if (depth % 16 == 0)
            fbr_fiber_yield(NULL, NULL);
        checked = recurse(depth - 1, seed);
    }
    for (size_t i = 0; i < sizeof frame; i += 64)
        if (frame[i] != (unsigned char)(seed + depth + (long)i))
            return -1000000000L; /* poisons the count: reported as corruption */
    return checked + 1;
}

static void *dive(void *arg)
{
    struct dive *d = arg;
    long checked = recurse(d->depth, (long)(uintptr_t)d);
    fbr_stack_stats stats;
    fbr_fiber_stack_stats(fbr_fiber_self(), &stats);
    d->checked_frames = checked;
    d->committed_at_bottom = stats.committed;
    d->faults = stats.growth_faults;
    return NULL;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long bottomless(long n)
{
    volatile char frame[256];
    frame[0] = (char)n;
    return n < 0 ? 0 : bottomless(n + 1) + frame[0];
}

static void *overflow(void *arg)
{
    return (void *)bottomless((long)(uintptr_t)arg);
}

static void show_overflow_report(void)
{
    printf("\nA fiber that overflows its 64 KiB limit, in a child process:\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(STDOUT_FILENO, STDERR_FILENO);
        fbr_fiber_options opts = {.stack_max = 64 << 10, .name = "runaway-recursion"};
        fbr_fiber *f;
        if (fbr_fiber_create(&f, overflow, NULL, &opts) == FBR_OK)
            fbr_fiber_resume(f, NULL, NULL);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("  -> the child exited with status %d (FBR_EXIT_STACK_OVERFLOW is %d)\n",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, FBR_EXIT_STACK_OVERFLOW);
}

int main(int argc, char **argv)
{
    long fibers = 10000, max_depth_kib = 512;
    int overflow_demo = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fibers") == 0 && i + 1 < argc)
            fibers = atol(argv[++i]);
        else if (strcmp(argv[i], "--max-depth-kib") == 0 && i + 1 < argc)
            max_depth_kib = atol(argv[++i]);
        else if (strcmp(argv[i], "--no-overflow") == 0)
            overflow_demo = 0;
        else {
            fprintf(stderr, "usage: %s [--fibers N] [--max-depth-kib K] [--no-overflow]\n", argv[0]);
            return 2;
        }
    }
    if (fibers < 1 || max_depth_kib < 1 || max_depth_kib > 900) {
        fprintf(stderr, "--fibers must be positive and --max-depth-kib between 1 and 900\n");
        return 2;
    }
    int rc = fbr_runtime_init();
    if (rc < 0) {
        fprintf(stderr, "cannot start the runtime: %s\n", fbr_last_error());
        return 1;
    }
    printf("FiberRuntime %s native tour\n", fbr_version_string());
    printf("stacks: %s mode, 1 MiB limit each, 16 KiB committed at start, page %ld bytes\n",
           fbr_stack_mode_name(fbr_stack_mode_active()), sysconf(_SC_PAGESIZE));

    struct dive *dives = calloc((size_t)fibers, sizeof *dives);
    fbr_fiber **handles = calloc((size_t)fibers, sizeof *handles);
    if (!dives || !handles) {
        fprintf(stderr, "out of memory for %ld fibers\n", fibers);
        return 1;
    }
    long maps_before = count_mappings(), rss_before = status_kib("VmRSS");
    unsigned seed = 2026;
    double start = seconds();
    for (long i = 0; i < fibers; i++) {
        seed = seed * 1103515245u + 12345u;
        dives[i].depth = 1 + (long)((seed >> 8) % (unsigned)max_depth_kib); /* 1 KiB frames */
        rc = fbr_fiber_create(&handles[i], dive, &dives[i], NULL);
        if (rc < 0) {
            fprintf(stderr, "fiber %ld: %s\n", i, fbr_last_error());
            return 1;
        }
    }
    double created = seconds();
    /* Round-robin on this thread: every fiber is alive and mid-recursion at
     * once, growing its stack while the others wait on theirs. */
    long running = fibers, switches = 0, peak_rss = 0;
    uint64_t peak_committed = 0;
    while (running) {
        running = 0;
        for (long i = 0; i < fibers; i++) {
            if (fbr_fiber_status(handles[i]) == FBR_FIBER_FINISHED)
                continue;
            running += fbr_fiber_resume(handles[i], NULL, NULL) == FBR_YIELDED;
            switches += 2;
        }
        fbr_runtime_stats rs;
        fbr_runtime_stats_get(&rs);
        if (rs.bytes_committed > peak_committed)
            peak_committed = rs.bytes_committed;
        long rss = status_kib("VmRSS");
        if (rss > peak_rss)
            peak_rss = rss;
    }
    double finished = seconds();

    long corrupted = 0, deepest = 0;
    uint64_t faults = 0;
    size_t biggest = 0;
    for (long i = 0; i < fibers; i++) {
        corrupted += dives[i].checked_frames != dives[i].depth + 1;
        faults += dives[i].faults;
        if (dives[i].depth > deepest)
            deepest = dives[i].depth;
        if (dives[i].committed_at_bottom > biggest)
            biggest = dives[i].committed_at_bottom;
        fbr_fiber_destroy(handles[i]);
    }
    fbr_runtime_stats rs;
    fbr_runtime_stats_get(&rs);

    printf("\n%ld fibers, each recursing to a random depth of 1-%ld KiB, all alive at once:\n", fibers,
           max_depth_kib);
    printf("  created in            %8.1f ms (%.2f us each)\n", (created - start) * 1e3,
           (created - start) * 1e6 / (double)fibers);
    printf("  ran to the end in     %8.1f ms (%ld switches; page faults and growth included)\n",
           (finished - created) * 1e3, switches);
    printf("  growth faults         %8llu (%.1f per fiber: 16 KiB doubling as needed)\n",
           (unsigned long long)faults, (double)faults / (double)fibers);
    printf("  deepest stack         %8zu KiB committed (recursion of %ld KiB)\n", biggest >> 10, deepest);
    printf("  peak committed        %8llu MiB for all stacks (reserved: %llu MiB of address space)\n",
           (unsigned long long)(peak_committed >> 20), (unsigned long long)(rs.bytes_reserved >> 20));
    printf("  peak resident growth  %8ld MiB\n", (peak_rss - rss_before) >> 10);
    printf("  new memory mappings   %8ld (stack regions: %llu)\n", count_mappings() - maps_before,
           (unsigned long long)rs.stack_regions);
    printf("  frames verified       %8s (%ld fibers with a corrupted frame)\n", corrupted ? "FAILED" : "all ok",
           corrupted);
    printf("  afterwards            %8llu stacks pooled for reuse, %llu KiB still committed\n",
           (unsigned long long)rs.stacks_cached, (unsigned long long)(rs.bytes_committed >> 10));
    if (overflow_demo)
        show_overflow_report();
    return corrupted ? 1 : 0;
}
