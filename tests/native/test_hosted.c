/* Hosted workers: a host (the .NET binding) owns each worker thread's loop
 * through worker_main and resumes its hosted fibers from that one frame,
 * while ordinary fibers keep running inside fbr_worker_run. */
#include <stdint.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

enum { WORKERS = 2, HOSTED = 8, YIELDS = 200 };

struct host {
    /* Resumes of hosted fibers per worker, counted by worker_main itself:
     * proof that they came through the host's frame. */
    long resumes[WORKERS];
    int bad_resume;
    int one_call_per_switch; /* fbr_worker_resume_next instead of run + resume */
};

static void host_main(void *context, unsigned index)
{
    struct host *h = context;
    fbr_fiber *hosted;
    int rc;
    if (h->one_call_per_switch) {
        rc = fbr_worker_run(&hosted);
        while (rc == 1) {
            h->resumes[index]++;
            rc = fbr_worker_resume_next(hosted, &hosted);
        }
        if (rc != 0)
            h->bad_resume = 1;
        return;
    }
    while ((rc = fbr_worker_run(&hosted)) == 1) {
        h->resumes[index]++;
        if (fbr_worker_resume(hosted) != FBR_OK)
            h->bad_resume = 1;
    }
    CHECK_EQ(rc, 0);
}

struct hosted_work {
    fbr_chan *requests, *replies;
    int first_worker;
    int migrated;
};

/* A hosted fiber: yields and asks a native fiber for answers over channels,
 * never leaving the worker it started on. */
static void *hosted_body(void *arg)
{
    struct hosted_work *work = arg;
    work->first_worker = fbr_worker_current();
    long sum = 0;
    for (long i = 0; i < YIELDS; i++) {
        CHECK_OK(i % 2 ? fbr_yield_hosted() : fbr_yield());
        CHECK_OK(fbr_chan_send(work->requests, &i));
        long answer;
        CHECK_OK(fbr_chan_recv(work->replies, &answer));
        sum += answer;
        if (fbr_worker_current() != work->first_worker)
            work->migrated = 1;
    }
    return (void *)(intptr_t)sum;
}

/* An ordinary fiber answering every request with its double. */
static void *doubler(void *arg)
{
    struct hosted_work *work = arg;
    long v;
    while (fbr_chan_recv(work->requests, &v) == FBR_OK) {
        long twice = 2 * v;
        CHECK_OK(fbr_chan_send(work->replies, &twice));
    }
    return NULL;
}

static void run_hosted_and_native_fibers(int one_call_per_switch)
{
    struct host h = {.one_call_per_switch = one_call_per_switch};
    fbr_sched *s;
    fbr_sched_options opts = {.workers = WORKERS, .worker_main = host_main, .worker_context = &h};
    CHECK_OK(fbr_sched_create(&s, &opts));
    struct hosted_work work[HOSTED];
    fbr_fiber *hosted[HOSTED], *native[HOSTED];
    for (int i = 0; i < HOSTED; i++) {
        CHECK_OK(fbr_chan_create(&work[i].requests, sizeof(long), 0));
        CHECK_OK(fbr_chan_create(&work[i].replies, sizeof(long), 0));
        work[i].migrated = 0;
        fbr_spawn_options hosted_opts = {.hosted = 1};
        CHECK_OK(fbr_spawn(s, &hosted[i], hosted_body, &work[i], &hosted_opts));
        CHECK_OK(fbr_spawn(s, &native[i], doubler, &work[i], NULL));
    }
    for (int i = 0; i < HOSTED; i++) {
        void *sum;
        CHECK_OK(fbr_join(hosted[i], &sum));
        CHECK_EQ((intptr_t)sum, (intptr_t)YIELDS * (YIELDS - 1)); /* sum of 2i for i < YIELDS */
        CHECK_EQ(work[i].migrated, 0);
        CHECK_OK(fbr_chan_close(work[i].requests));
        CHECK_OK(fbr_join(native[i], NULL));
        CHECK_OK(fbr_chan_destroy(work[i].requests));
        CHECK_OK(fbr_chan_destroy(work[i].replies));
    }
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
    /* Each hosted fiber came back to the host at least once per yield and
     * per channel wait. */
    CHECK(h.resumes[0] + h.resumes[1] >= (long)HOSTED * YIELDS);
    CHECK_EQ(h.bad_resume, 0);
}

FBR_TEST(hosted_fibers_are_resumed_from_the_hosts_frame_and_never_migrate)
{
    run_hosted_and_native_fibers(0);
}

FBR_TEST(one_call_per_switch_resumes_hosted_fibers_the_same_way)
{
    run_hosted_and_native_fibers(1);
}

static void *nothing(void *arg)
{
    return arg;
}

static void *yield_hosted_from_ordinary_fiber(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)fbr_yield_hosted();
}

FBR_TEST(hosted_workers_are_refused_where_they_make_no_sense)
{
    fbr_sched *plain;
    fbr_sched_options opts = {.workers = 1};
    CHECK_OK(fbr_sched_create(&plain, &opts));
    fbr_spawn_options hosted_opts = {.hosted = 1};
    fbr_fiber *f;
    CHECK_EQ(fbr_spawn(plain, &f, nothing, NULL, &hosted_opts), FBR_EINVAL);
    CHECK_STR_CONTAINS(fbr_last_error(), "worker_main");
    CHECK_OK(fbr_sched_shutdown(plain, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(plain));

    fbr_fiber *hosted;
    CHECK_EQ(fbr_worker_run(&hosted), FBR_ENOTSUP); /* not a worker */
    CHECK(hosted == NULL);
    CHECK_EQ(fbr_worker_run(NULL), FBR_EINVAL);
    CHECK_EQ(fbr_worker_resume(NULL), FBR_EINVAL);
    fbr_fiber *next = (fbr_fiber *)&hosted;
    CHECK_EQ(fbr_worker_resume_next(NULL, &next), FBR_EINVAL); /* nothing handed out here */
    CHECK(next == NULL);
    CHECK_EQ(fbr_worker_resume_next(NULL, NULL), FBR_EINVAL);

    /* Only a hosted fiber may suspend through fbr_yield_hosted. */
    CHECK_EQ(fbr_yield_hosted(), FBR_ENOTFIBER); /* a thread */
    CHECK_STR_CONTAINS(fbr_last_error(), "hosted fiber");
    CHECK_OK(fbr_sched_create(&plain, &opts));
    CHECK_OK(fbr_spawn(plain, &f, yield_hosted_from_ordinary_fiber, NULL, NULL));
    void *rc;
    CHECK_OK(fbr_join(f, &rc));
    CHECK_EQ((intptr_t)rc, FBR_ENOTFIBER);
    CHECK_OK(fbr_sched_shutdown(plain, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(plain));
}

FBR_TEST_MAIN()
