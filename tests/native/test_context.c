/* The switch itself: register preservation, values across switches,
 * floating-point control state, nesting and migration between threads. */
#define _GNU_SOURCE
#include <fenv.h>
#include <pthread.h>
#include <stdint.h>

#include <fiberrt.h>

#include "harness.h"

#if defined(__x86_64__)
#define CALLEE_SAVED 6 /* rbx rbp r12 r13 r14 r15 */
#else
#define CALLEE_SAVED 18 /* x19-x28, d8-d15 */
#endif

void fbr_test_clobber_call(const uint64_t *in, uint64_t *out, void (*fn)(void *), void *arg);

struct pattern_fiber {
    uint64_t in[CALLEE_SAVED];
    uint64_t out[CALLEE_SAVED];
    int yields;
};

static void fill_pattern(uint64_t *values, uint64_t seed)
{
    for (int i = 0; i < CALLEE_SAVED; i++)
        values[i] = (seed + (uint64_t)i) * 0x9E3779B97F4A7C15ull ^ 0x5555AAAA5555AAAAull;
}

static void yield_repeatedly(void *arg)
{
    struct pattern_fiber *p = arg;
    for (int i = 0; i < p->yields; i++)
        CHECK_OK(fbr_fiber_yield(NULL, NULL));
}

static void *run_with_pattern(void *arg)
{
    struct pattern_fiber *p = arg;
    fbr_test_clobber_call(p->in, p->out, yield_repeatedly, p);
    return NULL;
}

static void resume_both_to_the_end(void *arg)
{
    fbr_fiber **fibers = arg;
    int done = 0;
    while (done < 2) {
        done = 0;
        for (int i = 0; i < 2; i++) {
            if (fbr_fiber_status(fibers[i]) == FBR_FIBER_FINISHED) {
                done++;
                continue;
            }
            int rc = fbr_fiber_resume(fibers[i], NULL, NULL);
            CHECK(rc == FBR_YIELDED || rc == FBR_FINISHED);
        }
    }
}

FBR_TEST(callee_saved_registers_survive_switches)
{
    struct pattern_fiber a = {.yields = 50}, b = {.yields = 77}, self = {.yields = 0};
    fill_pattern(a.in, 1000);
    fill_pattern(b.in, 2000);
    fill_pattern(self.in, 3000);
    fbr_fiber *fibers[2];
    CHECK_OK(fbr_fiber_create(&fibers[0], run_with_pattern, &a, NULL));
    CHECK_OK(fbr_fiber_create(&fibers[1], run_with_pattern, &b, NULL));
    /* The thread's own context holds a pattern too while it switches. */
    fbr_test_clobber_call(self.in, self.out, resume_both_to_the_end, fibers);
    for (int i = 0; i < CALLEE_SAVED; i++) {
        CHECK_EQ(a.out[i], a.in[i]);
        CHECK_EQ(b.out[i], b.in[i]);
        CHECK_EQ(self.out[i], self.in[i]);
    }
    CHECK_OK(fbr_fiber_destroy(fibers[0]));
    CHECK_OK(fbr_fiber_destroy(fibers[1]));
}

static void *squares(void *arg)
{
    (void)arg;
    void *in = NULL;
    for (;;) {
        long n = (long)in;
        if (n < 0)
            return (void *)(-n);
        CHECK_OK(fbr_fiber_yield((void *)(n * n), &in));
    }
}

FBR_TEST(values_cross_switches_both_ways)
{
    fbr_fiber *f;
    void *out = (void *)1;
    CHECK_OK(fbr_fiber_create(&f, squares, NULL, NULL));
    CHECK_EQ(fbr_fiber_resume(f, (void *)99, &out), FBR_YIELDED); /* first `in` is not delivered */
    CHECK_EQ((long)out, 0);
    for (long n = 1; n < 1000; n++) {
        CHECK_EQ(fbr_fiber_resume(f, (void *)n, &out), FBR_YIELDED);
        CHECK_EQ((long)out, n * n);
    }
    CHECK_EQ(fbr_fiber_resume(f, (void *)-42, &out), FBR_FINISHED);
    CHECK_EQ((long)out, 42);
    CHECK_OK(fbr_fiber_destroy(f));
}

#if defined(__x86_64__)
/* MXCSR and the x87 control word belong to each context: a fiber that
 * changes the rounding mode must not change it for the code that resumed it. */
static void *round_upward(void *arg)
{
    (void)arg;
    CHECK_EQ(fesetround(FE_UPWARD), 0);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(fbr_fiber_yield(NULL, NULL));
        CHECK_EQ(fegetround(), FE_UPWARD);
        volatile double third = 1.0 / 3.0;
        CHECK(third * 3.0 >= 1.0);
    }
    return NULL;
}

FBR_TEST(floating_point_control_state_is_per_fiber)
{
    CHECK_EQ(fesetround(FE_DOWNWARD), 0);
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, round_upward, NULL, NULL));
    int rc;
    while ((rc = fbr_fiber_resume(f, NULL, NULL)) == FBR_YIELDED)
        CHECK_EQ(fegetround(), FE_DOWNWARD);
    CHECK_EQ(rc, FBR_FINISHED);
    CHECK_EQ(fegetround(), FE_DOWNWARD);
    CHECK_OK(fbr_fiber_destroy(f));
    fesetround(FE_TONEAREST);
}
#endif

static void *inner_counter(void *arg)
{
    long *trace = arg;
    for (long i = 0; i < 3; i++) {
        *trace = *trace * 10 + 2;
        CHECK_OK(fbr_fiber_yield((void *)i, NULL));
    }
    return NULL;
}

static void *outer(void *arg)
{
    long *trace = arg;
    fbr_fiber *inner;
    fbr_fiber *me = fbr_fiber_self();
    CHECK_OK(fbr_fiber_create(&inner, inner_counter, trace, NULL));
    void *v;
    while (fbr_fiber_resume(inner, NULL, &v) == FBR_YIELDED) {
        CHECK(fbr_fiber_self() == me);
        *trace = *trace * 10 + 1;
        /* The outer fiber yields to the thread while the inner one is suspended. */
        CHECK_OK(fbr_fiber_yield(v, NULL));
    }
    CHECK_OK(fbr_fiber_destroy(inner));
    return (void *)7;
}

FBR_TEST(fibers_resume_fibers)
{
    long trace = 0;
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, outer, &trace, NULL));
    void *v;
    long expected_yield = 0;
    int rc;
    while ((rc = fbr_fiber_resume(f, NULL, &v)) == FBR_YIELDED) {
        CHECK(fbr_fiber_self() == NULL);
        CHECK_EQ((long)v, expected_yield++);
    }
    CHECK_EQ(rc, FBR_FINISHED);
    CHECK_EQ((long)v, 7);
    CHECK_EQ(trace, 212121);
    CHECK_OK(fbr_fiber_destroy(f));
}

struct migrating {
    fbr_fiber *fiber;
    pthread_t seen_on[4];
};

static void *migrating_body(void *arg)
{
    struct migrating *m = arg;
    volatile long local = 12345; /* lives on the fiber's stack across threads */
    for (int i = 0; i < 4; i++) {
        m->seen_on[i] = pthread_self();
        CHECK(fbr_fiber_self() == m->fiber);
        CHECK_EQ(local, 12345 + i);
        local++;
        CHECK_OK(fbr_fiber_yield(NULL, NULL));
    }
    return NULL;
}

static void *resume_once_on_new_thread(void *arg)
{
    struct migrating *m = arg;
    CHECK_EQ(fbr_fiber_resume(m->fiber, NULL, NULL), FBR_YIELDED);
    CHECK(fbr_fiber_self() == NULL);
    return NULL;
}

FBR_TEST(suspended_fiber_resumes_on_another_thread)
{
    struct migrating m;
    CHECK_OK(fbr_fiber_create(&m.fiber, migrating_body, &m, NULL));
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, resume_once_on_new_thread, &m), 0);
        CHECK_EQ(pthread_join(t, NULL), 0);
        CHECK(pthread_equal(m.seen_on[i], t));
    }
    CHECK_EQ(fbr_fiber_resume(m.fiber, NULL, NULL), FBR_FINISHED);
    CHECK_OK(fbr_fiber_destroy(m.fiber));
}

static void *ping(void *arg)
{
    long *count = arg;
    for (;;) {
        ++*count;
        CHECK_OK(fbr_fiber_yield(NULL, NULL));
    }
}

FBR_TEST(a_million_round_trips)
{
    long count = 0;
    fbr_fiber *f;
    CHECK_OK(fbr_fiber_create(&f, ping, &count, NULL));
    for (long i = 0; i < 1000000; i++)
        CHECK_EQ(fbr_fiber_resume(f, NULL, NULL), FBR_YIELDED);
    CHECK_EQ(count, 1000000);
    CHECK_OK(fbr_fiber_destroy(f)); /* destroyed while suspended mid-loop */
}

FBR_TEST_MAIN()
