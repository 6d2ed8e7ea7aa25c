/* The low-level fiber API: life cycle, identity, and every misuse answered
 * with an error code rather than undefined behaviour. */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>

#include <errno.h>

#include <fiberrt.h>

#include "harness.h"
#include "runtime_internal.h"

static void *return_arg(void *arg)
{
    return arg;
}

FBR_TEST(fiber_runs_to_its_result)
{
    fbr_fiber *f;
    void *out = NULL;
    CHECK_OK(fbr_fiber_create(&f, return_arg, (void *)0xC0FFEE, NULL));
    CHECK_EQ(fbr_fiber_status(f), FBR_FIBER_CREATED);
    CHECK_EQ(fbr_fiber_resume(f, NULL, &out), FBR_FINISHED);
    CHECK_EQ((uintptr_t)out, 0xC0FFEE);
    CHECK_EQ(fbr_fiber_status(f), FBR_FIBER_FINISHED);
    CHECK_OK(fbr_fiber_destroy(f));
}

FBR_TEST(ids_are_unique_and_names_are_kept)
{
    fbr_fiber_options opts = {.name = "a-name-that-is-much-longer-than-thirty-one-bytes"};
    fbr_fiber *a, *b;
    CHECK_OK(fbr_fiber_create(&a, return_arg, NULL, &opts));
    CHECK_OK(fbr_fiber_create(&b, return_arg, NULL, NULL));
    CHECK(fbr_fiber_id(a) != 0);
    CHECK(fbr_fiber_id(a) != fbr_fiber_id(b));
    CHECK_EQ(strlen(fbr_fiber_name(a)), FBR_FIBER_NAME_MAX - 1);
    CHECK(strncmp(fbr_fiber_name(a), opts.name, FBR_FIBER_NAME_MAX - 1) == 0);
    CHECK_EQ(strlen(fbr_fiber_name(b)), 0);
    CHECK_EQ(fbr_fiber_id(NULL), 0);
    CHECK_OK(fbr_fiber_destroy(a));
    CHECK_OK(fbr_fiber_destroy(b));
}

FBR_TEST(yield_outside_a_fiber_is_an_error)
{
    CHECK(fbr_fiber_self() == NULL);
    CHECK_EQ(fbr_fiber_yield(NULL, NULL), FBR_ENOTFIBER);
    CHECK_STR_CONTAINS(fbr_last_error(), "outside a fiber");
    CHECK_EQ(fbr_last_error_code(), FBR_ENOTFIBER);
}

FBR_TEST(resuming_a_finished_fiber_is_an_error)
{
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, return_arg, NULL, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_FINISHED);
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_EFINISHED);
    fbr_stack_stats stats;
    CHECK_EQ(fbr_fiber_stack_stats(f, &stats), FBR_EFINISHED);
    CHECK_OK(fbr_fiber_destroy(f));
}

static void *misuse_from_inside(void *arg)
{
    fbr_fiber *self = fbr_fiber_self();
    CHECK(self != NULL);
    int *results = arg;
    results[0] = fbr_fiber_resume(self, NULL, NULL);
    results[1] = fbr_fiber_destroy(self);
    return NULL;
}

FBR_TEST(a_running_fiber_cannot_be_resumed_or_destroyed)
{
    int results[2] = {0, 0};
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, misuse_from_inside, results, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_FINISHED);
    CHECK_EQ(results[0], FBR_ERUNNING);
    CHECK_EQ(results[1], FBR_ERUNNING);
    CHECK_OK(fbr_fiber_destroy(f));
}

static void *resume_parent(void *arg)
{
    fbr_fiber *parent = arg;
    return (void *)(intptr_t)fbr_fiber_resume(parent, NULL, NULL);
}

static void *spawn_child_that_resumes_me(void *arg)
{
    (void)arg;
    fbr_fiber *child;
    void *child_result;
    CHECK_OK(fbr_fiber_create(&child, resume_parent, fbr_fiber_self(), NULL));
    CHECK_EQ(fbr_fiber_resume(child, NULL, &child_result), FBR_FINISHED);
    CHECK_OK(fbr_fiber_destroy(child));
    return child_result;
}

FBR_TEST(a_fiber_waiting_in_resume_cannot_be_resumed)
{
    fbr_fiber *f;
    void *out;
    CHECK_OK(fbr_fiber_create(&f, spawn_child_that_resumes_me, NULL, NULL));
    CHECK_EQ(fbr_fiber_resume(f, NULL, &out), FBR_FINISHED);
    CHECK_EQ((intptr_t)out, FBR_ERUNNING);
    CHECK_OK(fbr_fiber_destroy(f));
}

static void *yield_forever(void *arg)
{
    (void)arg;
    while (fbr_fiber_yield(NULL, NULL) == FBR_OK) {
    }
    return NULL;
}

FBR_TEST(a_suspended_fiber_can_be_destroyed)
{
    fbr_runtime_stats before, after;
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, yield_forever, NULL, NULL));
    CHECK_OK(fbr_runtime_stats_get(&before));
    CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_YIELDED);
    CHECK_EQ(fbr_fiber_status(f), FBR_FIBER_SUSPENDED);
    CHECK_OK(fbr_fiber_destroy(f));
    CHECK_OK(fbr_runtime_stats_get(&after));
    CHECK_EQ(after.stacks_in_use, before.stacks_in_use - 1);
}

FBR_TEST(null_and_absurd_arguments_are_errors)
{
    fbr_fiber *f = (fbr_fiber *)1;
    CHECK_EQ(fbr_fiber_create(NULL, return_arg, NULL, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_fiber_create(&f, NULL, NULL, NULL), FBR_EINVAL);
    CHECK(f == NULL);
    fbr_fiber_options huge = {.stack_max = (size_t)1 << 40};
    CHECK_EQ(fbr_fiber_create(&f, return_arg, NULL, &huge), FBR_EINVAL);
    CHECK_STR_CONTAINS(fbr_last_error(), "stack_max");
    fbr_fiber_options tiny = {.stack_max = 4096};
    CHECK_EQ(fbr_fiber_create(&f, return_arg, NULL, &tiny), FBR_EINVAL);
    fbr_fiber_options wrapping = {.stack_max = SIZE_MAX};
    CHECK_EQ(fbr_fiber_create(&f, return_arg, NULL, &wrapping), FBR_EINVAL);
    CHECK_EQ(fbr_fiber_resume(NULL, NULL, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_fiber_destroy(NULL), FBR_EINVAL);
    CHECK_EQ(fbr_fiber_status(NULL), FBR_EINVAL);
    CHECK_EQ(fbr_runtime_stats_get(NULL), FBR_EINVAL);
    CHECK_EQ(fbr_runtime_configure(NULL), FBR_EINVAL);
    fbr_stack_stats stats;
    CHECK_EQ(fbr_fiber_stack_stats(NULL, &stats), FBR_EINVAL);
}

FBR_TEST(stack_initial_larger_than_stack_max_is_capped)
{
    fbr_fiber_options opts = {.stack_max = 64 << 10, .stack_initial = 1 << 20};
    fbr_fiber *f;
    fbr_stack_stats stats;
    CHECK_OK(fbr_fiber_create(&f, return_arg, NULL, &opts));
    CHECK_OK(fbr_fiber_stack_stats(f, &stats));
    CHECK_EQ(stats.limit, 64 << 10);
    CHECK_EQ(stats.committed, 64 << 10);
    CHECK_OK(fbr_fiber_destroy(f));
}

FBR_TEST(every_error_code_has_a_message_and_a_name)
{
    for (int code = FBR_ECANCELED; code <= FBR_OK; code++) {
        CHECK(strcmp(fbr_strerror(code), "unknown error") != 0);
        CHECK(strcmp(fbr_err_name(code), "FBR_UNKNOWN") != 0);
    }
    CHECK_STR_CONTAINS(fbr_strerror(FBR_EMAPLIMIT), "vm.max_map_count");
    CHECK(strcmp(fbr_strerror(1000), "unknown error") == 0);
    CHECK(strcmp(fbr_err_name(-1000), "FBR_UNKNOWN") == 0);
    CHECK(strcmp(fbr_err_name(FBR_EINVAL), "FBR_EINVAL") == 0);
    /* System errors from I/O carry errno's name and text. */
    CHECK(strcmp(fbr_err_name(FBR_SYSERR(EPIPE)), "FBR_SYSERR(EPIPE)") == 0);
    CHECK(strcmp(fbr_strerror(FBR_SYSERR(ECONNRESET)), "Connection reset by peer") == 0);
    CHECK(strcmp(fbr_err_name(FBR_SYSERR(99999)), "FBR_UNKNOWN") == 0);
}

FBR_TEST(configuration_is_refused_once_fibers_exist)
{
    fbr_runtime_config cfg = {.stack_mode = FBR_STACK_MODE_MPROTECT};
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, return_arg, NULL, NULL));
    CHECK_EQ(fbr_runtime_configure(&cfg), FBR_EBUSY);
    CHECK_OK(fbr_fiber_destroy(f));
}

FBR_TEST(configuration_rejects_nonsense)
{
    fbr_runtime_config bad_mode = {.stack_mode = (fbr_stack_mode)42};
    CHECK_EQ(fbr_runtime_configure(&bad_mode), FBR_EINVAL);
    fbr_runtime_config huge_guard = {.stack_guard_size = (size_t)1 << 40};
    CHECK_EQ(fbr_runtime_configure(&huge_guard), FBR_EINVAL);
    CHECK_STR_CONTAINS(fbr_last_error(), "stack_guard_size");
}

FBR_TEST(configuration_chooses_the_stack_mode)
{
    fbr_runtime_config cfg = {.stack_mode = FBR_STACK_MODE_MPROTECT, .stack_guard_size = 4096};
    CHECK_EQ(fbr_stack_mode_active(), FBR_STACK_MODE_AUTO);
    CHECK_OK(fbr_runtime_configure(&cfg));
    CHECK_OK(fbr_runtime_init());
    CHECK_EQ(fbr_stack_mode_active(), FBR_STACK_MODE_MPROTECT);
    CHECK(strcmp(fbr_stack_mode_name(fbr_stack_mode_active()), "mprotect") == 0);
    fbr_runtime_stats stats;
    CHECK_OK(fbr_runtime_stats_get(&stats));
    CHECK_EQ(stats.stack_mode, FBR_STACK_MODE_MPROTECT);
}

FBR_TEST(shadow_stacks_are_refused_with_a_clear_error)
{
    /* CPUs here have no CET; the hook stands in for the kernel's answer. */
    fbr__testing_pretend_shadow_stack(true);
    fbr_fiber *f;
    CHECK_EQ(fbr_fiber_create(&f, return_arg, NULL, NULL), FBR_ESHADOWSTACK);
    CHECK_STR_CONTAINS(fbr_last_error(), "shadow stack");
    CHECK_EQ(fbr_runtime_init(), FBR_ESHADOWSTACK);
    /* Not sticky: once the cause is gone the runtime initialises. */
    fbr__testing_pretend_shadow_stack(false);
    CHECK_OK(fbr_fiber_create(&f, return_arg, NULL, NULL));
    CHECK_OK(fbr_fiber_destroy(f));
}

FBR_TEST(this_machine_has_no_shadow_stack_enabled)
{
    CHECK(!fbr__shadow_stack_active());
}

FBR_TEST(version_matches_the_header)
{
    CHECK_EQ(fbr_version(), FBR_VERSION);
    CHECK_STR_CONTAINS(fbr_version_string(), "0.1.0");
}

FBR_TEST_MAIN()
