/* The SIGSEGV handler: overflow reports, and chaining with handlers that
 * other code (a host runtime, a crash reporter) installs before or after. */
#define _GNU_SOURCE
#include <alloca.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

/* Recurses until the stack runs out (the limit is only known to the caller,
 * which is the point). */
static volatile long stop_at_depth = -1;

static long bottomless(long depth)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    if (depth == stop_at_depth)
        return 0;
    return bottomless(depth + 1) + frame[0];
}

static void *overflow_body(void *arg)
{
    (void)arg;
    return (void *)bottomless(0);
}

static void overflow_in_fiber(void *arg)
{
    (void)arg;
    fbr_fiber_options opts = {.stack_max = 64 << 10, .name = "deep-diver"};
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, overflow_body, NULL, &opts));
    printf("fiber id %" PRIu64 "\n", fbr_fiber_id(f));
    fbr_fiber_resume(f, NULL, NULL);
    fprintf(stderr, "the overflow went unnoticed\n");
}

FBR_TEST(overflow_is_reported_with_fiber_limit_and_address)
{
    struct child_outcome out;
    run_in_child(overflow_in_fiber, NULL, &out);
    CHECK_EQ(out.exit_code, FBR_EXIT_STACK_OVERFLOW);
    const char *report = out.stderr_text;
    CHECK_STR_CONTAINS(report, "fiberrt: fatal: stack overflow in fiber ");
    CHECK_STR_CONTAINS(report, "\"deep-diver\"");
    CHECK_STR_CONTAINS(report, "stack limit:   65536 bytes");
    CHECK_STR_CONTAINS(report, "committed:     65536 bytes");
    CHECK_STR_CONTAINS(report, "fault address: 0x");
    /* The fault lies under the usable stack, in the guard. */
    uintptr_t fault = 0, low = 0, high = 0;
    const char *at = strstr(report, "fault address: ");
    CHECK(sscanf(at, "fault address: %" SCNxPTR " (stack spans %" SCNxPTR "-%" SCNxPTR, &fault, &low, &high) == 3);
    CHECK(fault < low);
    CHECK(low - fault <= 64 << 10);
    CHECK_EQ(high - low, 64 << 10);
    CHECK(strstr(report, "went unnoticed") == NULL);
}

static void overflow_with_abort(void *arg)
{
    setenv("FBR_ON_STACK_OVERFLOW", "abort", 1);
    overflow_in_fiber(arg);
}

FBR_TEST(overflow_can_abort_for_a_core_dump)
{
    struct child_outcome out;
    run_in_child(overflow_with_abort, NULL, &out);
    CHECK_EQ(out.signal, SIGABRT);
    CHECK_STR_CONTAINS(out.stderr_text, "stack overflow in fiber");
}

/* A page that faults on purpose, outside every fiber stack. */
static volatile char *trap_page; /* volatile: the faulting accesses must not move */
static volatile sig_atomic_t earlier_handler_calls;
static void *volatile earlier_handler_address;

static void earlier_siginfo_handler(int signo, siginfo_t *info, void *context)
{
    (void)signo;
    (void)context;
    earlier_handler_calls++;
    earlier_handler_address = info->si_addr;
    mprotect((void *)trap_page, 4096, PROT_READ | PROT_WRITE); /* fixes the fault; the access retries */
}

static void earlier_plain_handler(int signo)
{
    (void)signo;
    earlier_handler_calls++;
    mprotect((void *)trap_page, 4096, PROT_READ | PROT_WRITE);
}

static void make_trap_page(void)
{
    trap_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(trap_page != MAP_FAILED);
}

static void *touch_trap_page_and_grow(void *arg)
{
    (void)arg;
    trap_page[10] = 42;
    volatile char big[200 << 10]; /* needs growth beyond the initial 16 KiB */
    big[0] = big[sizeof big - 1] = 1;
    return (void *)(intptr_t)(big[0] + big[sizeof big - 1]);
}

static void check_growth_and_chaining(void)
{
    make_trap_page();
    trap_page[5] = 1; /* outside any fiber */
    CHECK_EQ(earlier_handler_calls, 1);
    CHECK(trap_page[5] == 1);
    mprotect((void *)trap_page, 4096, PROT_NONE);

    fbr_fiber *f;
    void *result;
    CHECK_OK(fbr_fiber_create(&f, touch_trap_page_and_grow, NULL, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, &result), FBR_FINISHED); /* inside a fiber */
    CHECK_EQ((intptr_t)result, 2);
    CHECK_EQ(earlier_handler_calls, 2);
    CHECK(trap_page[10] == 42);
    CHECK_OK(fbr_fiber_destroy(f));
}

FBR_TEST(an_earlier_siginfo_handler_still_gets_other_faults)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = earlier_siginfo_handler;
    sa.sa_flags = SA_SIGINFO;
    CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
    CHECK_OK(fbr_runtime_init()); /* ours goes in on top, chaining to it */
    check_growth_and_chaining();
    CHECK(earlier_handler_address == trap_page + 10);
}

FBR_TEST(an_earlier_plain_handler_still_gets_other_faults)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = earlier_plain_handler;
    CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
    CHECK_OK(fbr_runtime_init());
    check_growth_and_chaining();
}

static struct sigaction runtime_handler;
static volatile sig_atomic_t later_handler_calls;

static void later_handler(int signo, siginfo_t *info, void *context)
{
    later_handler_calls++;
    /* Like a host runtime that was loaded later: look first, then pass on. */
    runtime_handler.sa_sigaction(signo, info, context);
}

static void *grow_a_lot(void *arg)
{
    (void)arg;
    volatile char big[500 << 10];
    big[0] = big[sizeof big - 1] = 3;
    return (void *)(intptr_t)big[0];
}

FBR_TEST(a_later_handler_that_chains_back_keeps_growth_working)
{
    CHECK_OK(fbr_runtime_init());
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = later_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    CHECK_EQ(sigaction(SIGSEGV, &sa, &runtime_handler), 0);
    CHECK(runtime_handler.sa_flags & SA_SIGINFO);
    fbr_fiber *f;
    void *result;
    CHECK_OK(fbr_fiber_create(&f, grow_a_lot, NULL, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, &result), FBR_FINISHED);
    CHECK_EQ((intptr_t)result, 3);
    CHECK(later_handler_calls >= 1);
    CHECK_OK(fbr_fiber_destroy(f));
}

static void fault_outside_fibers(void *arg)
{
    (void)arg;
    CHECK_OK(fbr_runtime_init());
    make_trap_page();
    trap_page[0] = 1;
    fprintf(stderr, "survived a fault nobody handles\n");
}

FBR_TEST(with_no_earlier_handler_a_stray_fault_still_kills)
{
    struct child_outcome out;
    run_in_child(fault_outside_fibers, NULL, &out);
    CHECK_EQ(out.signal, SIGSEGV);
    CHECK(strstr(out.stderr_text, "survived") == NULL);
}

static void raise_segv_by_kill(void *arg)
{
    (void)arg;
    CHECK_OK(fbr_runtime_init());
    kill(getpid(), SIGSEGV);
    fprintf(stderr, "survived kill -SEGV\n");
}

FBR_TEST(a_sent_sigsegv_is_not_swallowed)
{
    struct child_outcome out;
    run_in_child(raise_segv_by_kill, NULL, &out);
    CHECK_EQ(out.signal, SIGSEGV);
}

static void *alt_stack_report(void *arg)
{
    stack_t *ss = arg;
    sigaltstack(NULL, ss);
    return NULL;
}

FBR_TEST(threads_running_fibers_get_a_signal_stack)
{
    stack_t before, in_fiber;
    sigaltstack(NULL, &before);
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, alt_stack_report, &in_fiber, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_FINISHED);
    CHECK(!(in_fiber.ss_flags & SS_DISABLE));
    CHECK(in_fiber.ss_size >= 16 << 10);
    if (!(before.ss_flags & SS_DISABLE)) /* a sanitizer runtime may have set one: it is kept */
        CHECK(in_fiber.ss_sp == before.ss_sp);
    CHECK_OK(fbr_fiber_destroy(f));
    CHECK_OK(fbr_thread_prepare());
}

/* When the kernel cannot write a signal's frame below a thread's stack
 * pointer (a handler that runs on the interrupted stack, as a host
 * runtime's thread-suspension signal does, on a fiber whose stack pointer
 * sits just above its committed memory), it sends SIGSEGV with si_code
 * SI_KERNEL and no address; qemu does the same. Passed on to a handler that
 * restores the default action for faults it does not know (as .NET's does,
 * and as ours does with nobody before it), it left the process to die at
 * the next growth fault. Here a fiber sitting a few hundred bytes above its
 * committed memory sends itself that SIGSEGV (a thread may send itself any
 * si_code). */
static char *volatile skipped_frames; /* a use that keeps the allocation */

struct edge_visit {
    uintptr_t sp, top;
    fbr_stack_stats after;
};

static void *sigsegv_from_the_commit_edge(void *arg)
{
    struct edge_visit *visit = arg;
    char here;
    /* The fiber's first frames lie in its stack's top page. */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    visit->top = ((uintptr_t)&here + page) & ~(page - 1);
    fbr_stack_stats stats;
    CHECK_OK(fbr_fiber_stack_stats(fbr_fiber_self(), &stats));
    uintptr_t edge = visit->top - stats.committed;
    CHECK((uintptr_t)&here > edge + 1024);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = SIGSEGV;
    info.si_code = SI_KERNEL;
    pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
    /* Down to a few hundred bytes above the edge, without touching what lies
     * between; the system call's own frame fits in what is left. */
    skipped_frames = alloca((uintptr_t)&here - edge - 512);
    visit->sp = (uintptr_t)skipped_frames;
    long sent = syscall(SYS_rt_tgsigqueueinfo, pid, tid, SIGSEGV, &info);
    CHECK_EQ(sent, 0);
    CHECK_OK(fbr_fiber_stack_stats(fbr_fiber_self(), &visit->after));
    return NULL;
}

static void kernel_sigsegv_at_the_commit_edge(void *arg)
{
    (void)arg;
    struct edge_visit visit;
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, sigsegv_from_the_commit_edge, &visit, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_FINISHED);
    CHECK_OK(fbr_fiber_destroy(f));
    /* Room for a signal frame was committed under the stack pointer. */
    CHECK(visit.top - visit.after.committed <= visit.sp - (32 << 10));
    CHECK_EQ(visit.after.growth_faults, 1);
    struct sigaction now;
    CHECK_EQ(sigaction(SIGSEGV, NULL, &now), 0);
    CHECK((now.sa_flags & SA_SIGINFO) && now.sa_sigaction != NULL);
    void *result;
    CHECK_OK(fbr_fiber_create(&f, grow_a_lot, NULL, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, &result), FBR_FINISHED);
    CHECK_EQ((intptr_t)result, 3);
    CHECK_OK(fbr_fiber_destroy(f));
    fprintf(stderr, "survived\n");
}

FBR_TEST(a_kernel_sigsegv_for_a_signal_frame_without_room_grows_the_fiber_stack)
{
    if (built_with_sanitizer())
        SKIP("sanitizer runtimes deliver signals through their own handlers");
#if defined(__aarch64__)
    /* Our ARM64 runs are qemu-user ones, which does not deliver a SIGSEGV a
     * thread sends itself as the kernel does (the child exits 127). */
    SKIP("a self-sent SI_KERNEL SIGSEGV is not emulated faithfully under qemu-user");
#endif
    struct child_outcome out;
    run_in_child(kernel_sigsegv_at_the_commit_edge, NULL, &out);
    if (out.exit_code != 0)
        fprintf(stderr, "--- child stderr ---\n%s--- end ---\n", out.stderr_text);
    CHECK_EQ(out.signal, 0);
    CHECK_EQ(out.exit_code, 0);
    CHECK_STR_CONTAINS(out.stderr_text, "survived");
}

FBR_TEST_MAIN()
