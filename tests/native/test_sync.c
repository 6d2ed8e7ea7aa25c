/* WaitGroup, Mutex and Cond: fibers park instead of blocking their worker,
 * threads block, and misuse is an error. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

static fbr_sched *start(unsigned workers)
{
    fbr_sched *s;
    fbr_sched_options opts = {.workers = workers};
    CHECK_OK(fbr_sched_create(&s, &opts));
    return s;
}

static void stop(fbr_sched *s)
{
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
}

struct counted {
    fbr_waitgroup *wg;
    fbr_mutex *m;
    long counter;
};

/* Holds the mutex across yields and sleeps: other fibers on the same worker
 * must park on it, not spin, and must not get in. */
static void *increment_slowly(void *arg)
{
    struct counted *c = arg;
    for (int i = 0; i < 50; i++) {
        CHECK_OK(fbr_mutex_lock(c->m));
        long seen = c->counter;
        if (i % 5 == 0)
            CHECK_OK(fbr_yield());
        if (i % 17 == 0)
            CHECK_OK(fbr_sleep_for(100 * FBR_MICROSECOND));
        c->counter = seen + 1;
        CHECK_OK(fbr_mutex_unlock(c->m));
    }
    CHECK_OK(fbr_waitgroup_done(c->wg));
    return NULL;
}

static void *thread_increments(void *arg)
{
    struct counted *c = arg;
    for (int i = 0; i < 500; i++) {
        CHECK_OK(fbr_mutex_lock(c->m));
        c->counter++;
        CHECK_OK(fbr_mutex_unlock(c->m));
    }
    CHECK_OK(fbr_waitgroup_done(c->wg));
    return NULL;
}

FBR_TEST(a_mutex_excludes_across_parks_workers_and_threads)
{
    fbr_sched *s = start(3);
    struct counted c = {.counter = 0};
    CHECK_OK(fbr_waitgroup_create(&c.wg));
    CHECK_OK(fbr_mutex_create(&c.m));
    enum { FIBERS = 40, THREADS = 2 };
    CHECK_OK(fbr_waitgroup_add(c.wg, FIBERS + THREADS));
    for (int i = 0; i < FIBERS; i++)
        CHECK_OK(fbr_spawn(s, NULL, increment_slowly, &c, NULL));
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&threads[i], NULL, thread_increments, &c), 0);
    CHECK_OK(fbr_waitgroup_wait(c.wg));
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_join(threads[i], NULL), 0);
    CHECK_EQ(c.counter, FIBERS * 50 + THREADS * 500);
    CHECK_EQ(fbr_waitgroup_count(c.wg), 0);
    stop(s);
    CHECK_OK(fbr_mutex_destroy(c.m));
    CHECK_OK(fbr_waitgroup_destroy(c.wg));
}

static void *lock_with_deadline(void *arg)
{
    return (void *)(intptr_t)fbr_mutex_lock_until(arg, fbr_deadline_in(5 * FBR_MILLISECOND));
}

FBR_TEST(mutex_misuse_and_timeouts)
{
    fbr_mutex *m;
    CHECK_OK(fbr_mutex_create(&m));
    CHECK_EQ(fbr_mutex_unlock(m), FBR_EINVAL);
    CHECK_OK(fbr_mutex_try_lock(m));
    CHECK_EQ(fbr_mutex_try_lock(m), FBR_EAGAIN);
    CHECK_EQ(fbr_mutex_destroy(m), FBR_EBUSY);
    fbr_sched *s = start(1);
    fbr_fiber *f;
    void *rc;
    CHECK_OK(fbr_spawn(s, &f, lock_with_deadline, m, NULL));
    CHECK_OK(fbr_join(f, &rc));
    CHECK_EQ((intptr_t)rc, FBR_ETIMEDOUT);
    CHECK_EQ((intptr_t)lock_with_deadline(m), FBR_ETIMEDOUT); /* a thread, too */
    CHECK_OK(fbr_mutex_unlock(m));
    CHECK_OK(fbr_mutex_destroy(m));
    stop(s);
    CHECK_EQ(fbr_mutex_lock(NULL), FBR_EINVAL);
}

FBR_TEST(waitgroup_misuse_and_timeouts)
{
    fbr_waitgroup *wg;
    CHECK_OK(fbr_waitgroup_create(&wg));
    CHECK_OK(fbr_waitgroup_wait(wg)); /* zero: returns at once */
    CHECK_EQ(fbr_waitgroup_done(wg), FBR_EINVAL);
    CHECK_STR_CONTAINS(fbr_last_error(), "negative");
    CHECK_OK(fbr_waitgroup_add(wg, 2));
    CHECK_EQ(fbr_waitgroup_wait_until(wg, fbr_deadline_in(2 * FBR_MILLISECOND)), FBR_ETIMEDOUT);
    CHECK_OK(fbr_waitgroup_add(wg, -2));
    /* An absurd count is refused and leaves the counter as it was. */
    CHECK_OK(fbr_waitgroup_add(wg, INT64_MAX - 1));
    CHECK_EQ(fbr_waitgroup_add(wg, 2), FBR_EINVAL);
    CHECK_STR_CONTAINS(fbr_last_error(), "overflow");
    CHECK_OK(fbr_waitgroup_add(wg, 1)); /* exactly INT64_MAX still fits */
    CHECK_EQ(fbr_waitgroup_add(wg, INT64_MAX), FBR_EINVAL);
    CHECK_OK(fbr_waitgroup_add(wg, -INT64_MAX));
    CHECK_OK(fbr_waitgroup_wait(wg)); /* back at zero */
    CHECK_EQ(fbr_waitgroup_add(wg, INT64_MIN), FBR_EINVAL);
    CHECK_STR_CONTAINS(fbr_last_error(), "negative");
    CHECK_OK(fbr_waitgroup_destroy(wg));
    CHECK_EQ(fbr_waitgroup_add(NULL, 1), FBR_EINVAL);
}

static void *mark_done(void *arg)
{
    CHECK_OK(fbr_waitgroup_done(arg));
    return NULL;
}

/* The last Done must be finished with the wait group before a waiter can
 * return: the usual pattern frees it right after the wait. A Done that
 * reached zero first and locked later wrote into freed memory (ASan saw it;
 * in release builds it corrupted the heap now and then). */
FBR_TEST(a_wait_group_can_be_freed_as_soon_as_the_wait_returns)
{
    fbr_sched *s = start(2);
#if defined(__SANITIZE_THREAD__) || defined(FBR_TEST_UNDER_EMULATOR)
    const int rounds = 2000; /* ASan sees the bug at native speed; these would take half a minute */
#else
    const int rounds = 20000;
#endif
    for (int round = 0; round < rounds; round++) {
        fbr_waitgroup *wg;
        CHECK_OK(fbr_waitgroup_create(&wg));
        CHECK_OK(fbr_waitgroup_add(wg, 1));
        CHECK_OK(fbr_spawn(s, NULL, mark_done, wg, NULL));
        /* Catch the done in flight as often as possible: spin until zero. */
        while (fbr_waitgroup_count(wg) != 0) {
        }
        CHECK_OK(fbr_waitgroup_wait(wg));
        CHECK_OK(fbr_waitgroup_destroy(wg));
    }
    stop(s);
}

/* Adds and dones at full speed on every worker and on a plain thread, while
 * fibers and a thread wait: a waiter may return only once every unit added
 * in the round is done (each worker counts `finished` before its done), and
 * must return then. A guard unit keeps the count above zero until all adds
 * are in, as Go requires of adds that race with a wait. */
#if defined(__SANITIZE_THREAD__) || defined(FBR_TEST_UNDER_EMULATOR)
enum { FEED_ROUNDS = 3, FEED_FIBERS = 1000, FEED_THREAD_UNITS = 400 }; /* 10x slower there */
#else
enum { FEED_ROUNDS = 10, FEED_FIBERS = 5000, FEED_THREAD_UNITS = 2000 };
#endif

struct feed {
    fbr_sched *s;
    fbr_waitgroup *wg;
    long finished; /* atomic: units done this round */
    long expected; /* units added this round, once the guard is gone */
    int early;     /* atomic: waiters that returned before `finished` got there */
};

static void finish(struct feed *f, long units)
{
    __atomic_add_fetch(&f->finished, units, __ATOMIC_SEQ_CST);
    CHECK_OK(fbr_waitgroup_add(f->wg, -units));
}

static void *finish_one(void *arg)
{
    finish(arg, 1);
    return NULL;
}

static void *finish_three(void *arg)
{
    finish(arg, 3);
    return NULL;
}

static void *spawn_units(void *arg)
{
    struct feed *f = arg;
    for (int i = 0; i < FEED_FIBERS; i++) {
        bool three = i % 7 == 0; /* some dones take more than one unit */
        CHECK_OK(fbr_waitgroup_add(f->wg, three ? 3 : 1));
        CHECK_OK(fbr_spawn(f->s, NULL, three ? finish_three : finish_one, f, NULL));
    }
    return NULL;
}

static void *thread_adds_and_finishes(void *arg)
{
    struct feed *f = arg;
    for (int i = 0; i < FEED_THREAD_UNITS; i++) {
        CHECK_OK(fbr_waitgroup_add(f->wg, 1));
        __atomic_add_fetch(&f->finished, 1, __ATOMIC_SEQ_CST);
        CHECK_OK(fbr_waitgroup_done(f->wg));
    }
    return NULL;
}

static void *wait_for_round(void *arg)
{
    struct feed *f = arg;
    CHECK_OK(fbr_waitgroup_wait(f->wg));
    if (__atomic_load_n(&f->finished, __ATOMIC_SEQ_CST) != __atomic_load_n(&f->expected, __ATOMIC_SEQ_CST))
        __atomic_add_fetch(&f->early, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

FBR_TEST(a_wait_group_fed_and_drained_at_once_releases_waiters_at_zero_only)
{
    struct feed f = {.s = start(0)};
    CHECK_OK(fbr_waitgroup_create(&f.wg));
    long units_per_round = 0;
    for (int i = 0; i < FEED_FIBERS; i++)
        units_per_round += i % 7 == 0 ? 3 : 1;
    units_per_round += FEED_THREAD_UNITS;
    for (int round = 0; round < FEED_ROUNDS; round++) {
        __atomic_store_n(&f.finished, 0, __ATOMIC_SEQ_CST);
        /* Until the guard goes, nothing a waiter could see is final. */
        __atomic_store_n(&f.expected, -1, __ATOMIC_SEQ_CST);
        CHECK_OK(fbr_waitgroup_add(f.wg, 1));
        fbr_fiber *waiters[2], *spawner;
        for (int i = 0; i < 2; i++)
            CHECK_OK(fbr_spawn(f.s, &waiters[i], wait_for_round, &f, NULL));
        pthread_t waiting_thread, adding_thread;
        CHECK(pthread_create(&waiting_thread, NULL, wait_for_round, &f) == 0);
        CHECK(pthread_create(&adding_thread, NULL, thread_adds_and_finishes, &f) == 0);
        CHECK_OK(fbr_spawn(f.s, &spawner, spawn_units, &f, NULL));
        CHECK_OK(fbr_join(spawner, NULL));
        CHECK(pthread_join(adding_thread, NULL) == 0);
        __atomic_store_n(&f.expected, units_per_round, __ATOMIC_SEQ_CST);
        CHECK_OK(fbr_waitgroup_done(f.wg)); /* the guard */
        for (int i = 0; i < 2; i++)
            CHECK_OK(fbr_join(waiters[i], NULL));
        CHECK(pthread_join(waiting_thread, NULL) == 0);
        CHECK_EQ(__atomic_load_n(&f.early, __ATOMIC_SEQ_CST), 0);
        CHECK_EQ(f.finished, units_per_round);
        CHECK_EQ(fbr_waitgroup_count(f.wg), 0);
    }
    CHECK_EQ(fbr_waitgroup_done(f.wg), FBR_EINVAL); /* still exact at zero */
    CHECK_OK(fbr_waitgroup_destroy(f.wg));
    stop(f.s);
}

/* A bounded queue built from a mutex and two conditions: producers wait
 * while it is full, consumers while it is empty. */
struct bounded {
    fbr_mutex *m;
    fbr_cond *not_full, *not_empty;
    long items[8];
    int count, head;
    long consumed_sum;
    int producers_left;
};

static void *produce(void *arg)
{
    struct bounded *q = arg;
    for (long i = 1; i <= 2000; i++) {
        CHECK_OK(fbr_mutex_lock(q->m));
        while (q->count == 8)
            CHECK_OK(fbr_cond_wait(q->not_full, q->m));
        q->items[(q->head + q->count++) % 8] = i;
        CHECK_OK(fbr_cond_signal(q->not_empty));
        CHECK_OK(fbr_mutex_unlock(q->m));
    }
    CHECK_OK(fbr_mutex_lock(q->m));
    q->producers_left--;
    CHECK_OK(fbr_cond_broadcast(q->not_empty));
    CHECK_OK(fbr_mutex_unlock(q->m));
    return NULL;
}

static void *consume(void *arg)
{
    struct bounded *q = arg;
    long sum = 0;
    for (;;) {
        CHECK_OK(fbr_mutex_lock(q->m));
        while (q->count == 0 && q->producers_left > 0)
            CHECK_OK(fbr_cond_wait(q->not_empty, q->m));
        if (q->count == 0) {
            CHECK_OK(fbr_mutex_unlock(q->m));
            break;
        }
        sum += q->items[q->head];
        q->head = (q->head + 1) % 8;
        q->count--;
        CHECK_OK(fbr_cond_signal(q->not_full));
        CHECK_OK(fbr_mutex_unlock(q->m));
    }
    CHECK_OK(fbr_mutex_lock(q->m));
    q->consumed_sum += sum;
    CHECK_OK(fbr_mutex_unlock(q->m));
    return NULL;
}

FBR_TEST(cond_builds_a_bounded_queue)
{
    fbr_sched *s = start(2);
    struct bounded q = {.producers_left = 4};
    CHECK_OK(fbr_mutex_create(&q.m));
    CHECK_OK(fbr_cond_create(&q.not_full));
    CHECK_OK(fbr_cond_create(&q.not_empty));
    fbr_fiber *fibers[7];
    for (int i = 0; i < 4; i++)
        CHECK_OK(fbr_spawn(s, &fibers[i], produce, &q, NULL));
    for (int i = 4; i < 7; i++)
        CHECK_OK(fbr_spawn(s, &fibers[i], consume, &q, NULL));
    consume(&q); /* this thread is a consumer too */
    for (int i = 0; i < 7; i++)
        CHECK_OK(fbr_join(fibers[i], NULL));
    CHECK_EQ(q.consumed_sum, 4L * 2000 * 2001 / 2);
    stop(s);
    CHECK_OK(fbr_cond_destroy(q.not_full));
    CHECK_OK(fbr_cond_destroy(q.not_empty));
    CHECK_OK(fbr_mutex_destroy(q.m));
}

FBR_TEST(cond_wait_times_out_with_the_mutex_held_again)
{
    fbr_mutex *m;
    fbr_cond *c;
    CHECK_OK(fbr_mutex_create(&m));
    CHECK_OK(fbr_cond_create(&c));
    CHECK_OK(fbr_mutex_lock(m));
    CHECK_EQ(fbr_cond_wait_until(c, m, fbr_deadline_in(3 * FBR_MILLISECOND)), FBR_ETIMEDOUT);
    CHECK_EQ(fbr_mutex_try_lock(m), FBR_EAGAIN); /* still ours */
    CHECK_OK(fbr_mutex_unlock(m));
    CHECK_EQ(fbr_cond_wait(c, m), FBR_EINVAL); /* waiting needs the mutex locked */
    CHECK_OK(fbr_cond_destroy(c));
    CHECK_OK(fbr_mutex_destroy(m));
}

FBR_TEST_MAIN()
