/*
 * Benchmarks of the native core, side by side with Boost.Context in the
 * same run: switch cost, create+destroy cost, the cost of one growth fault,
 * and resident memory per live fiber. Prints figures; it is not a test.
 *
 *   fbr_bench_core [--live N] [--runs R]
 *
 * Each figure is the median of R runs (default 7). Stack-mode dependent
 * figures are measured once per mode, each in a forked child, because the
 * mode is fixed when the runtime starts.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fiberrt.h>

#include "proc_figures.h"

#include "context.h"
#include "fiber_internal.h"

/* Boost.Context's fcontext API is extern "C"; declared here so this file
 * stays C. */
typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

static int runs = 7;
static long live_fibers = 1000000;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int n)
{
    qsort(values, (size_t)n, sizeof *values, compare_doubles);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* Runs `measure` (returning ns per operation) `runs` times; the median. */
static double median_of_runs(double (*measure)(void))
{
    double samples[64];
    int n = runs < 64 ? runs : 64;
    measure(); /* warm-up */
    for (int i = 0; i < n; i++)
        samples[i] = measure();
    return median(samples, n);
}

/* ---- switch: raw primitives ---- */

enum { ROUND_TRIPS = 2000000 };
static void *raw_main_sp, *raw_ctx_sp;

static void raw_entry(void *arg, void *value)
{
    (void)arg;
    for (;;)
        value = fbr__context_switch(&raw_ctx_sp, raw_main_sp, value);
}

static double measure_raw_switch(void)
{
    static char *stack;
    if (!stack)
        stack = aligned_alloc(64, 64 << 10);
    raw_ctx_sp = fbr__context_prepare(stack + (64 << 10), raw_entry, NULL);
    double start = now_ns();
    for (int i = 0; i < ROUND_TRIPS; i++)
        fbr__context_switch(&raw_main_sp, raw_ctx_sp, NULL);
    return (now_ns() - start) / (2.0 * ROUND_TRIPS);
}

static void boost_entry(transfer_t t)
{
    for (;;)
        t = jump_fcontext(t.fctx, t.data);
}

static double measure_boost_switch(void)
{
    static char *stack;
    if (!stack)
        stack = aligned_alloc(64, 64 << 10);
    transfer_t t = {make_fcontext(stack + (64 << 10), 64 << 10, boost_entry), NULL};
    double start = now_ns();
    for (int i = 0; i < ROUND_TRIPS; i++)
        t = jump_fcontext(t.fctx, NULL);
    return (now_ns() - start) / (2.0 * ROUND_TRIPS);
}

/* ---- switch: the public resume/yield API ---- */

static void *yield_forever(void *arg)
{
    (void)arg;
    while (fbr_fiber_yield(NULL, NULL) == FBR_OK) {
    }
    return NULL;
}

static double measure_api_switch(void)
{
    fbr_fiber *f;
    fbr_fiber_create(&f, yield_forever, NULL, NULL);
    double start = now_ns();
    for (int i = 0; i < ROUND_TRIPS; i++)
        fbr_fiber_resume(f, NULL, NULL);
    double ns = (now_ns() - start) / (2.0 * ROUND_TRIPS);
    fbr_fiber_destroy(f);
    return ns;
}

/* ---- create + run to the end + destroy ---- */

enum { CYCLES = 200000 };

static void *return_at_once(void *arg)
{
    return arg;
}

static double measure_fiber_cycle(void)
{
    fbr_fiber_options opts = {.stack_max = 64 << 10};
    double start = now_ns();
    for (int i = 0; i < CYCLES; i++) {
        fbr_fiber *f;
        fbr_fiber_create(&f, return_at_once, NULL, &opts);
        fbr_fiber_resume(f, NULL, NULL);
        fbr_fiber_destroy(f);
    }
    return (now_ns() - start) / CYCLES;
}

static void boost_return_at_once(transfer_t t)
{
    jump_fcontext(t.fctx, NULL);
}

static double measure_boost_pooled_cycle(void)
{
    static char *stack;
    if (!stack)
        stack = aligned_alloc(64, 64 << 10);
    double start = now_ns();
    for (int i = 0; i < CYCLES; i++) {
        fcontext_t c = make_fcontext(stack + (64 << 10), 64 << 10, boost_return_at_once);
        jump_fcontext(c, NULL);
    }
    return (now_ns() - start) / CYCLES;
}

/* What boost::context::protected_fixedsize_stack does per fiber: a fresh
 * mapping with a guard page, released afterwards. */
static double measure_boost_guarded_cycle(void)
{
    enum { N = 20000 };
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = (64 << 10) + page;
    double start = now_ns();
    for (int i = 0; i < N; i++) {
        char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mprotect(mem, page, PROT_NONE);
        fcontext_t c = make_fcontext(mem + size, size - page, boost_return_at_once);
        jump_fcontext(c, NULL);
        munmap(mem, size);
    }
    return (now_ns() - start) / N;
}

/* ---- per stack mode, in a child ---- */

struct mode_figures {
    double create_fresh_ns;  /* create on never-used stack memory */
    double cycle_pooled_ns;  /* create + finish + destroy, stack from the pool */
    double growth_fault_ns;  /* one growth fault: signal, commit, retry */
    double rss_per_fiber;    /* bytes resident per live, started fiber */
    double pte_per_fiber;    /* page-table bytes per live fiber */
    long live;               /* how many were alive for the two above */
    long new_mappings;       /* mappings added by those live fibers */
};

static void *touch_pages(void *arg)
{
    size_t bytes = (size_t)arg;
    volatile char frame[4096];
    frame[0] = 1;
    if (bytes > sizeof frame)
        return (void *)(uintptr_t)((uintptr_t)touch_pages((void *)(bytes - sizeof frame)) + (uintptr_t)frame[0]);
    return (void *)(uintptr_t)frame[0];
}

/* Time for fibers that use 256 KiB of stack, starting from `initial`
 * committed, on stacks whose deep pages were given back in between. */
static double deep_fiber_ns(size_t initial, int fibers)
{
    fbr_fiber_options opts = {.stack_max = 1 << 20, .stack_initial = initial};
    double start = now_ns();
    for (int i = 0; i < fibers; i++) {
        fbr_fiber *f;
        fbr_fiber_create(&f, touch_pages, (void *)(size_t)(256 << 10), &opts);
        fbr_fiber_resume(f, NULL, NULL);
        fbr_fiber_destroy(f);
    }
    return (now_ns() - start) / fibers;
}

static void *yield_once(void *arg)
{
    fbr_fiber_yield(NULL, NULL);
    return arg;
}

static void start_runtime(fbr_stack_mode mode, size_t keep_committed)
{
    fbr_runtime_config cfg = {.stack_mode = mode, .pool_keep_committed = keep_committed};
    if (fbr_runtime_configure(&cfg) < 0 || fbr_runtime_init() < 0) {
        fprintf(stderr, "%s: %s\n", fbr_stack_mode_name(mode), fbr_last_error());
        exit(1);
    }
}

/* Growth, in a runtime of its own whose pool gives back everything but one
 * page on release, so that each deep fiber commits (and faults) afresh:
 * 4 KiB initial doubles to 256 KiB in 6 faults; the same fiber with 256 KiB
 * committed up front takes the same page faults from the kernel but none of
 * ours. */
static void measure_growth(fbr_stack_mode mode, struct mode_figures *out)
{
    start_runtime(mode, 4096);
    fbr_runtime_stats before, after;
    double samples[64];
    int n = runs < 64 ? runs : 64;
    deep_fiber_ns(4096, 200);
    for (int i = 0; i < n; i++) {
        fbr_runtime_stats_get(&before);
        double growing = deep_fiber_ns(4096, 500);
        fbr_runtime_stats_get(&after);
        double committed = deep_fiber_ns(256 << 10, 500);
        double faults = (double)(after.growth_faults - before.growth_faults) / 500;
        samples[i] = (growing - committed) / (faults > 0 ? faults : 1);
    }
    out->growth_fault_ns = median(samples, n);
}

static void measure_mode(fbr_stack_mode mode, struct mode_figures *out)
{
    start_runtime(mode, 0);
    out->cycle_pooled_ns = median_of_runs(measure_fiber_cycle);

    /* Live fibers, each started (so its stack top is touched) and parked. */
    long want = live_fibers;
    if (mode == FBR_STACK_MODE_MPROTECT && want > 20000)
        want = 20000; /* two mappings a stack: vm.max_map_count allows ~30k */
    fbr_fiber **fibers = malloc((size_t)want * sizeof *fibers);
    long maps_before = count_mappings(), rss_before = status_kib("VmRSS"), pte_before = status_kib("VmPTE");
    double start = now_ns();
    long made = 0;
    while (made < want && fbr_fiber_create(&fibers[made], yield_once, NULL, NULL) == FBR_OK)
        made++;
    out->create_fresh_ns = (now_ns() - start) / (double)(made ? made : 1);
    for (long i = 0; i < made; i++)
        fbr_fiber_resume(fibers[i], NULL, NULL);
    out->live = made;
    out->new_mappings = count_mappings() - maps_before;
    out->rss_per_fiber = (double)(status_kib("VmRSS") - rss_before) * 1024.0 / (double)(made ? made : 1);
    out->pte_per_fiber = (double)(status_kib("VmPTE") - pte_before) * 1024.0 / (double)(made ? made : 1);
}

static int run_in_child(void (*measure)(fbr_stack_mode, struct mode_figures *), fbr_stack_mode mode,
                        struct mode_figures *out)
{
    struct mode_figures *shared =
        mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        *shared = *out;
        measure(mode, shared);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    *out = *shared;
    munmap(shared, sizeof *shared);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--live") == 0 && i + 1 < argc)
            live_fibers = atol(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--live N] [--runs R]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;

    struct mode_figures guard = {0}, mprot = {0};
    int have_guard = run_in_child(measure_mode, FBR_STACK_MODE_GUARD_MARKERS, &guard) == 0 &&
                     run_in_child(measure_growth, FBR_STACK_MODE_GUARD_MARKERS, &guard) == 0;
    int have_mprot = run_in_child(measure_mode, FBR_STACK_MODE_MPROTECT, &mprot) == 0 &&
                     run_in_child(measure_growth, FBR_STACK_MODE_MPROTECT, &mprot) == 0;

    double raw = median_of_runs(measure_raw_switch);
    double boost = median_of_runs(measure_boost_switch);
    double api = median_of_runs(measure_api_switch);
    double boost_pooled = median_of_runs(measure_boost_pooled_cycle);
    double boost_guarded = median_of_runs(measure_boost_guarded_cycle);

    printf("FiberRuntime native core vs Boost.Context (medians of %d runs)\n\n", runs);
    printf("%-58s %12s %12s %8s\n", "switch (one direction)", "fiberrt", "Boost", "ratio");
    printf("%-58s %10.1f ns %10.1f ns %7.2fx\n", "raw context switch (fbr__context_switch vs jump_fcontext)", raw,
           boost, raw / boost);
    printf("%-58s %10.1f ns %12s\n", "public API: resume + yield, per switch", api, "");
    printf("\n%-58s %12s %12s %8s\n", "create + run + destroy", "fiberrt", "Boost", "ratio");
    if (have_guard)
        printf("%-58s %10.0f ns %10.0f ns %7.2fx\n", "pooled stack (ours: guard markers; Boost: preallocated)",
               guard.cycle_pooled_ns, boost_pooled, guard.cycle_pooled_ns / boost_pooled);
    if (have_mprot)
        printf("%-58s %10.0f ns %10.0f ns %7.2fx\n", "pooled stack (ours: mprotect)", mprot.cycle_pooled_ns,
               boost_pooled, mprot.cycle_pooled_ns / boost_pooled);
    if (have_guard)
        printf("%-58s %10.0f ns %10.0f ns %7.2fx\n", "fresh stack (ours: new 1 MiB slot; Boost: mmap 64 KiB+guard)",
               guard.create_fresh_ns, boost_guarded, guard.create_fresh_ns / boost_guarded);
    if (have_mprot)
        printf("%-58s %10.0f ns %10.0f ns %7.2fx\n", "fresh stack (ours: mprotect)", mprot.create_fresh_ns,
               boost_guarded, mprot.create_fresh_ns / boost_guarded);
    printf("\n%-38s %16s %16s\n", "per stack mode", "guard-markers", "mprotect");
    printf("%-38s %13.0f ns %13.0f ns\n", "one growth fault (handler + commit)", guard.growth_fault_ns,
           mprot.growth_fault_ns);
    printf("%-38s %16ld %16ld\n", "live fibers measured", guard.live, mprot.live);
    printf("%-38s %16ld %16ld\n", "memory mappings they added", guard.new_mappings, mprot.new_mappings);
    printf("%-38s %14.0f B %14.0f B\n", "resident memory per live fiber", guard.rss_per_fiber,
           mprot.rss_per_fiber);
    printf("%-38s %14.0f B %14.0f B\n", "page tables per live fiber", guard.pte_per_fiber, mprot.pte_per_fiber);
    printf("\n(one page is %ld bytes; a fiber record is %zu bytes)\n", sysconf(_SC_PAGESIZE), sizeof(struct fbr_fiber));
    return have_guard || have_mprot ? 0 : 1;
}
