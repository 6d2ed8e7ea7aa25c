/* Strict overcommit (vm.overcommit_memory=2) charges every writable private
 * mapping up front. Stacks must then be charged only for what they commit.
 * These cases switch the machine's policy for the length of a child
 * process (root only; CTest runs them serially) and always restore it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

static const char *policy_file = "/proc/sys/vm/overcommit_memory";

static int read_policy(void)
{
    FILE *f = fopen(policy_file, "r");
    int value = -1;
    if (f) {
        if (fscanf(f, "%d", &value) != 1)
            value = -1;
        fclose(f);
    }
    return value;
}

static int write_policy(int value)
{
    FILE *f = fopen(policy_file, "w");
    if (f == NULL)
        return -1;
    int ok = fprintf(f, "%d\n", value) > 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static long meminfo_kib(const char *field)
{
    FILE *f = fopen("/proc/meminfo", "r");
    CHECK(f != NULL);
    char line[256];
    size_t len = strlen(field);
    long value = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            value = strtol(line + len + 1, NULL, 10);
    fclose(f);
    return value;
}

static int policy_before = -1;
static pid_t policy_switcher;

/* Runs at exit, so that a failing check between the switch and its undoing
 * cannot leave the machine in strict mode (the forked child inherits it,
 * and must not undo the switch under the parent). */
static void restore_policy(void)
{
    if (getpid() == policy_switcher && policy_before >= 0 && write_policy(policy_before) != 0)
        fprintf(stderr, "could not restore vm.overcommit_memory to %d\n", policy_before);
}

static void run_under_strict_overcommit(void (*child)(void *))
{
    if (geteuid() != 0 || access(policy_file, W_OK) != 0)
        SKIP("needs root to switch vm.overcommit_memory");
    if (built_with_sanitizer())
        SKIP("sanitizer runtimes reserve terabytes of shadow memory, which strict overcommit refuses");
    policy_before = read_policy();
    CHECK(policy_before >= 0);
    policy_switcher = getpid();
    CHECK_EQ(atexit(restore_policy), 0);
    CHECK_EQ(write_policy(2), 0);
    struct child_outcome out;
    run_in_child(child, NULL, &out);
    CHECK_EQ(write_policy(policy_before), 0);
    policy_before = -1;
    CHECK_EQ(out.exit_code, 0);
}

static void *grow_and_yield(void *arg)
{
    volatile char frame[200 << 10];
    frame[0] = frame[sizeof frame - 1] = 1;
    CHECK_OK(fbr_fiber_yield(NULL, NULL));
    return (void *)(long)(frame[0] + frame[sizeof frame - 1] + (long)arg);
}

static void many_huge_stacks(void *arg)
{
    (void)arg;
    CHECK_OK(fbr_runtime_init());
    CHECK_EQ(fbr_stack_mode_active(), FBR_STACK_MODE_MPROTECT);
    enum { FIBERS = 200 };
    /* 200 reservations of 1 GiB: 200 GiB, far beyond the commit limit if it
     * were charged; committed, each uses about 256 KiB. */
    fbr_fiber_options opts = {.stack_max = (size_t)1 << 30};
    fbr_fiber *fibers[FIBERS];
    /* What makes the creations below a proof: charged in full, they could
     * not all fit under the limit. */
    CHECK(meminfo_kib("CommitLimit") < (long)FIBERS << 20);
    long committed_before = meminfo_kib("Committed_AS");
    for (int i = 0; i < FIBERS; i++) {
        CHECK_OK(fbr_fiber_create(&fibers[i], grow_and_yield, (void *)(long)i, &opts));
        CHECK_EQ(fbr_fiber_resume(fibers[i], NULL, NULL), FBR_YIELDED);
    }
    long charged = meminfo_kib("Committed_AS") - committed_before;
    printf("strict overcommit: %d live 1 GiB stacks charged %ld KiB in all\n", FIBERS, charged);
    CHECK(charged < FIBERS * 1024); /* under 1 MiB a stack, not 1 GiB */
    for (int i = 0; i < FIBERS; i++) {
        void *result;
        CHECK_EQ(fbr_fiber_resume(fibers[i], NULL, &result), FBR_FINISHED);
        CHECK_EQ((long)result, 2 + i);
        CHECK_OK(fbr_fiber_destroy(fibers[i]));
    }
}

FBR_TEST(strict_overcommit_charges_only_committed_stack_memory)
{
    run_under_strict_overcommit(many_huge_stacks);
}

static void guard_markers_forced(void *arg)
{
    (void)arg;
    fbr_runtime_config cfg = {.stack_mode = FBR_STACK_MODE_GUARD_MARKERS};
    CHECK_OK(fbr_runtime_configure(&cfg));
    /* A read-write reservation is charged in full here: 16 GiB is more than
     * the commit limit of this machine, and the failure must say so. */
    fbr_fiber_options opts = {.stack_max = FBR_STACK_LIMIT};
    fbr_fiber *f;
    int rc = fbr_fiber_create(&f, grow_and_yield, NULL, &opts);
    if (meminfo_kib("CommitLimit") > (long)(FBR_STACK_LIMIT >> 10)) {
        printf("SKIP-REASON: this machine's commit limit exceeds 16 GiB\n");
        if (rc == FBR_OK)
            CHECK_OK(fbr_fiber_destroy(f));
        return;
    }
    CHECK_EQ(rc, FBR_ENOMEM);
    CHECK_STR_CONTAINS(fbr_last_error(), "commit limit");
}

FBR_TEST(strict_overcommit_refusing_a_reservation_is_a_clear_error)
{
    run_under_strict_overcommit(guard_markers_forced);
}

FBR_TEST_MAIN()
