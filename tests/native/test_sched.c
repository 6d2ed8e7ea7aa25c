/* The scheduler: spawning and joining from fibers and threads, yields,
 * sleeps, pinning, shutdown and its reports, and every misuse. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fiberrt.h>

#include "harness.h"
#include "record_pool.h"
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

/* Runs `body` as a fiber on a scheduler of its own with one worker, so that
 * what it spawns waits until it parks or ends. */
static void run_on_one_worker(fbr_fiber_fn body)
{
    fbr_sched *s = start(1);
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(s, &f, body, NULL, NULL));
    CHECK_OK(fbr_join(f, NULL));
    stop(s);
}

static void *double_it(void *arg)
{
    return (void *)((intptr_t)arg * 2);
}

FBR_TEST(a_thread_spawns_and_joins)
{
    fbr_sched *s = start(2);
    fbr_fiber *f;
    void *result;
    CHECK_OK(fbr_spawn(s, &f, double_it, (void *)21, NULL));
    CHECK_OK(fbr_join(f, &result));
    CHECK_EQ((intptr_t)result, 42);
    fbr_sched_stats stats;
    CHECK_OK(fbr_sched_stats_get(s, &stats, NULL, 0));
    CHECK_EQ(stats.spawned, 1);
    CHECK_EQ(stats.finished, 1);
    CHECK_EQ(stats.live_fibers, 0);
    stop(s);
}

/* A tree of fibers: each node spawns `fanout` children and sums their
 * results; the leaves return their index. Exercises spawn and join from
 * fibers, across workers, thousands at a time. */
struct tree_node {
    long first, count;
};

static void *sum_tree(void *arg)
{
    struct tree_node *node = arg;
    if (node->count == 1)
        return (void *)node->first;
    enum { FANOUT = 10 };
    struct tree_node children[FANOUT];
    fbr_fiber *fibers[FANOUT];
    long per = (node->count + FANOUT - 1) / FANOUT, spawned = 0;
    for (long start = node->first; start < node->first + node->count; start += per, spawned++) {
        long n = node->first + node->count - start;
        children[spawned] = (struct tree_node){start, n < per ? n : per};
        CHECK_OK(fbr_spawn(fbr_sched_current(), &fibers[spawned], sum_tree, &children[spawned], NULL));
    }
    long sum = 0;
    for (long i = 0; i < spawned; i++) {
        void *part;
        CHECK_OK(fbr_join(fibers[i], &part));
        sum += (long)part;
    }
    return (void *)sum;
}

/* ThreadSanitizer tracks each fiber like a thread and allows ~8000 at once. */
#if defined(__SANITIZE_THREAD__)
#define TREE_LEAVES 2000L
#else
#define TREE_LEAVES 100000L
#endif

static void run_tree(unsigned workers)
{
    fbr_sched *s = start(workers);
    struct tree_node root = {0, TREE_LEAVES};
    fbr_fiber *f;
    void *sum;
    CHECK_OK(fbr_spawn(s, &f, sum_tree, &root, NULL));
    CHECK_OK(fbr_join(f, &sum));
    CHECK_EQ((long)sum, TREE_LEAVES * (TREE_LEAVES - 1) / 2);
    fbr_sched_stats stats;
    fbr_worker_stats per[8];
    CHECK_OK(fbr_sched_stats_get(s, &stats, per, 8));
    CHECK(stats.spawned > (uint64_t)TREE_LEAVES);
    CHECK_EQ(stats.spawned, stats.finished);
    uint64_t runs = 0;
    for (unsigned i = 0; i < workers && i < 8; i++)
        runs += per[i].runs;
    CHECK(runs >= stats.spawned);
    stop(s);
}

static void *done_with_group(void *arg)
{
    CHECK_OK(fbr_waitgroup_done(arg));
    return NULL;
}

/* Detached fibers spawned from a thread leave their records with the
 * workers they finish on; later spawns from the thread take those back, so
 * an application that only spawns from its own threads does not cut a fresh
 * record per fiber ever spawned (it did, and kept them all as spares). */
FBR_TEST(spawns_from_a_thread_reuse_the_records_of_finished_fibers)
{
    fbr_sched *s = start(2);
    fbr_waitgroup *done;
    CHECK_OK(fbr_waitgroup_create(&done));
    enum { BATCH = 100, WARM = 20, MORE = 200 };
    struct fbr__record_pool_stats warm, now;
    for (int batch = 0; batch < WARM + MORE; batch++) {
        if (batch == WARM)
            fbr__record_pool_stats(&warm);
        CHECK_OK(fbr_waitgroup_add(done, BATCH));
        for (int i = 0; i < BATCH; i++)
            CHECK_OK(fbr_spawn(s, NULL, done_with_group, done, NULL));
        CHECK_OK(fbr_waitgroup_wait(done));
    }
    fbr__record_pool_stats(&now);
    if (now.slab_bytes == 0)
        SKIP("records are heap blocks in this build (AddressSanitizer)");
    /* Fresh records only while the workers' caches (256 each) fill. */
    CHECK(now.carved - warm.carved < 1024);
    CHECK_OK(fbr_waitgroup_destroy(done));
    stop(s);
}

FBR_TEST(a_tree_of_fibers_sums_correctly_on_one_worker)
{
    run_tree(1);
}

FBR_TEST(a_tree_of_fibers_sums_correctly_on_four_workers)
{
    run_tree(4);
}

static void *own_name_length(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)strlen(fbr_fiber_name(fbr_fiber_self()));
}

static void *alternate_named_and_unnamed_spawns(void *arg)
{
    (void)arg;
    /* On one worker a finished fiber's record is the next spawn's: a name
     * must not outlive the fiber that had it. */
    for (int i = 0; i < 50; i++) {
        fbr_spawn_options named = {.name = "eleven-char"};
        fbr_fiber *f;
        void *length;
        CHECK_OK(fbr_spawn(fbr_sched_current(), &f, own_name_length, NULL, i % 2 ? NULL : &named));
        CHECK_OK(fbr_join(f, &length));
        CHECK_EQ((intptr_t)length, i % 2 ? 0 : 11);
    }
    return NULL;
}

FBR_TEST(a_reused_record_does_not_keep_an_earlier_fibers_name)
{
    run_on_one_worker(alternate_named_and_unnamed_spawns);
}

static void *spawn_and_look_before_it_runs(void *arg)
{
    (void)arg;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    fbr_spawn_options opts = {.stack_max = ((size_t)1 << 20) + 1};
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(fbr_sched_current(), &f, own_name_length, NULL, &opts));
    /* The only worker is busy with this fiber: f has not started. */
    CHECK_EQ(fbr_fiber_status(f), FBR_FIBER_CREATED);
    fbr_stack_stats stats;
    CHECK_OK(fbr_fiber_stack_stats(f, &stats));
    CHECK_EQ(stats.limit, ((size_t)1 << 20) + page);
    CHECK_OK(fbr_join(f, NULL));
    return NULL;
}

FBR_TEST(a_fiber_not_yet_started_reports_its_stack_limit_in_whole_pages)
{
    run_on_one_worker(spawn_and_look_before_it_runs);
}

struct turn_log {
    fbr_mutex *lock;
    char order[64];
    int length;
};

static void note(struct turn_log *log, char c)
{
    fbr_mutex_lock(log->lock);
    log->order[log->length++] = c;
    fbr_mutex_unlock(log->lock);
}

static void *take_turns(void *arg)
{
    struct turn_log *log = arg;
    char me = fbr_fiber_name(fbr_fiber_self())[0];
    for (int i = 0; i < 3; i++) {
        note(log, me);
        CHECK_OK(fbr_yield());
    }
    return NULL;
}

static void *start_two_turn_takers(void *arg)
{
    /* Spawned from a fiber on the only worker, both wait in its queues
     * until this fiber ends: from then on each yield hands over to the other. */
    fbr_fiber *a, *b;
    fbr_spawn_options oa = {.name = "a"}, ob = {.name = "b"};
    CHECK_OK(fbr_spawn(fbr_sched_current(), &a, take_turns, arg, &oa));
    CHECK_OK(fbr_spawn(fbr_sched_current(), &b, take_turns, arg, &ob));
    CHECK_OK(fbr_detach(a));
    CHECK_OK(fbr_detach(b));
    return NULL;
}

FBR_TEST(yield_lets_the_other_fiber_run_on_one_worker)
{
    fbr_sched *s = start(1);
    struct turn_log log = {.length = 0};
    CHECK_OK(fbr_mutex_create(&log.lock));
    CHECK_OK(fbr_spawn(s, NULL, start_two_turn_takers, &log, NULL));
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL)); /* waits for all three */
    CHECK_OK(fbr_sched_destroy(s));
    log.order[log.length] = '\0';
    CHECK(strcmp(log.order, "ababab") == 0 || strcmp(log.order, "bababa") == 0);
    CHECK_OK(fbr_mutex_destroy(log.lock));
}

struct sleeper {
    int64_t deadline;
    int64_t woke_at;
    int order;
    /* If set: say so on `started`, then wait for `gate` to close before
     * reading the deadline. */
    fbr_waitgroup *started;
    fbr_chan *gate;
};

static int wake_counter;

static void *sleep_then_note(void *arg)
{
    struct sleeper *z = arg;
    if (z->gate) {
        CHECK_OK(fbr_waitgroup_done(z->started));
        CHECK_EQ(fbr_chan_recv(z->gate, NULL), FBR_ECLOSED);
    }
    CHECK_OK(fbr_sleep_until(z->deadline));
    z->woke_at = fbr_now();
    z->order = __atomic_fetch_add(&wake_counter, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Joins sleepers spawned latest deadline first: none woke early, and they
 * woke in deadline order (the last spawned first). */
static void join_and_check_deadline_order(fbr_fiber **f, const struct sleeper *z, int n)
{
    for (int i = 0; i < n; i++)
        CHECK_OK(fbr_join(f[i], NULL));
    for (int i = 0; i < n; i++) {
        CHECK(z[i].woke_at >= z[i].deadline);
        CHECK_EQ(z[i].order, n - 1 - i);
    }
}

FBR_TEST(sleepers_wake_in_deadline_order_and_never_early)
{
    fbr_sched *s = start(1);
    enum { N = 6 };
    /* Spawned latest deadline first: wake-up order must follow the deadlines.
     * The deadlines are set once every sleeper has started (a first run
     * takes milliseconds under TSan on a slow VM: 15 ms apart, the last
     * spawned could start after the earlier ones' deadlines). */
    struct sleeper z[N];
    fbr_fiber *f[N];
    fbr_waitgroup *started;
    fbr_chan *gate;
    CHECK_OK(fbr_waitgroup_create(&started));
    CHECK_OK(fbr_waitgroup_add(started, N));
    CHECK_OK(fbr_chan_create(&gate, 0, 0));
    __atomic_store_n(&wake_counter, 0, __ATOMIC_SEQ_CST);
    for (int i = 0; i < N; i++) {
        z[i] = (struct sleeper){.started = started, .gate = gate};
        CHECK_OK(fbr_spawn(s, &f[i], sleep_then_note, &z[i], NULL));
    }
    CHECK_OK(fbr_waitgroup_wait(started));
    int64_t base = fbr_now();
    for (int i = 0; i < N; i++)
        z[i].deadline = base + (N - i) * 15 * FBR_MILLISECOND;
    CHECK_OK(fbr_chan_close(gate)); /* the sleepers read their deadlines after this */
    join_and_check_deadline_order(f, z, N);
    CHECK_OK(fbr_chan_destroy(gate));
    CHECK_OK(fbr_waitgroup_destroy(started));
    stop(s);
}

static void *spin_until(void *arg)
{
    const int64_t *until = arg;
    while (fbr_now() < *until)
        ;
    return NULL;
}

/* A worker that comes late to its timers (here: held by a fiber that never
 * parks) finds several due at once, and still runs them earliest first. */
FBR_TEST(sleepers_due_together_wake_earliest_first)
{
    fbr_sched *s = start(1);
    enum { N = 5 };
    struct sleeper z[N];
    fbr_fiber *f[N], *busy;
    /* Far enough ahead that every sleeper has parked (under qemu a first run
     * can take 20 ms), 1 ms apart. */
    int64_t first = fbr_now() + 100 * FBR_MILLISECOND;
    int64_t busy_until = first + (N + 20) * FBR_MILLISECOND;
    __atomic_store_n(&wake_counter, 0, __ATOMIC_SEQ_CST);
    for (int i = 0; i < N; i++) {
        z[i] = (struct sleeper){.deadline = first + (N - i) * FBR_MILLISECOND};
        CHECK_OK(fbr_spawn(s, &f[i], sleep_then_note, &z[i], NULL));
    }
    /* Queued behind the sleepers: it runs once they have parked, and holds
     * the worker past every deadline. */
    CHECK_OK(fbr_spawn(s, &busy, spin_until, &busy_until, NULL));
    CHECK_OK(fbr_join(busy, NULL));
    join_and_check_deadline_order(f, z, N);
    stop(s);
}

FBR_TEST(a_thread_can_sleep_too)
{
    int64_t start = fbr_now();
    CHECK_OK(fbr_sleep_for(5 * FBR_MILLISECOND));
    CHECK(fbr_now() - start >= 5 * FBR_MILLISECOND);
}

static void *worker_of_every_step(void *arg)
{
    int *seen = arg;
    for (int i = 0; i < 200; i++) {
        seen[i] = fbr_worker_current();
        if (i % 2)
            CHECK_OK(fbr_yield());
        else
            CHECK_OK(fbr_sleep_for(10 * FBR_MICROSECOND));
    }
    return NULL;
}

static void *busy_work(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++)
        CHECK_OK(fbr_yield());
    return NULL;
}

FBR_TEST(a_pinned_fiber_never_changes_worker)
{
    fbr_sched *s = start(4);
    enum { PINNED = 8, BUSY = 32 };
    static int seen[PINNED][200];
    fbr_fiber *pinned[PINNED], *busy[BUSY];
    /* Unpinned busy fibers keep every worker stealing and switching. */
    for (int i = 0; i < BUSY; i++)
        CHECK_OK(fbr_spawn(s, &busy[i], busy_work, NULL, NULL));
    fbr_spawn_options pin = {.pinned = 1};
    for (int i = 0; i < PINNED; i++)
        CHECK_OK(fbr_spawn(s, &pinned[i], worker_of_every_step, seen[i], &pin));
    for (int i = 0; i < PINNED; i++)
        CHECK_OK(fbr_join(pinned[i], NULL));
    for (int i = 0; i < BUSY; i++)
        CHECK_OK(fbr_join(busy[i], NULL));
    for (int i = 0; i < PINNED; i++)
        for (int step = 0; step < 200; step++) {
            CHECK(seen[i][step] >= 0);
            CHECK_EQ(seen[i][step], seen[i][0]);
        }
    stop(s);
}

static void *join_myself(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)fbr_join(fbr_fiber_self(), NULL);
}

static void *shut_down_my_own_scheduler(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)fbr_sched_shutdown(fbr_sched_current(), FBR_NO_DEADLINE, NULL, 0, NULL);
}

static void *resume_myself_by_hand(void *arg)
{
    (void)arg;
    int results[2] = {fbr_fiber_resume(fbr_fiber_self(), NULL, NULL), fbr_fiber_yield(NULL, NULL)};
    return (void *)(intptr_t)(results[0] == FBR_EINVAL && results[1] == FBR_ENOTFIBER);
}

FBR_TEST(misuse_is_reported_not_crashed)
{
    fbr_sched *s = start(2);
    fbr_fiber *f;
    void *rc;
    CHECK_OK(fbr_spawn(s, &f, join_myself, NULL, NULL));
    CHECK_OK(fbr_join(f, &rc));
    CHECK_EQ((intptr_t)rc, FBR_EDEADLK);

    CHECK_OK(fbr_spawn(s, &f, shut_down_my_own_scheduler, NULL, NULL));
    CHECK_OK(fbr_join(f, &rc));
    CHECK_EQ((intptr_t)rc, FBR_EDEADLK);

    CHECK_OK(fbr_spawn(s, &f, resume_myself_by_hand, NULL, NULL));
    CHECK_OK(fbr_join(f, &rc));
    CHECK_EQ((intptr_t)rc, 1);

    CHECK_EQ(fbr_yield(), FBR_ENOTFIBER);
    CHECK_EQ(fbr_spawn(NULL, &f, double_it, NULL, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_spawn(s, &f, NULL, NULL, NULL), FBR_EINVAL);
    fbr_spawn_options huge = {.stack_max = (size_t)1 << 40};
    CHECK_EQ(fbr_spawn(s, &f, double_it, NULL, &huge), FBR_EINVAL);
    CHECK_EQ(fbr_join(NULL, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_sched_destroy(s), FBR_EBUSY);

    /* A low-level fiber cannot be joined; a scheduled one cannot be resumed. */
    fbr_fiber *manual;
    CHECK_OK(fbr_fiber_create(&manual, double_it, NULL, NULL));
    CHECK_EQ(fbr_join(manual, NULL), FBR_EINVAL);
    CHECK_OK(fbr_fiber_destroy(manual));

    fbr_sched_options too_many = {.workers = FBR_SCHED_MAX_WORKERS + 1};
    fbr_sched *bad;
    CHECK_EQ(fbr_sched_create(&bad, &too_many), FBR_EINVAL);
    stop(s);
}

static void *block_on(void *arg)
{
    int value;
    return (void *)(intptr_t)fbr_chan_recv(arg, &value);
}

struct stuck {
    fbr_chan *started; /* told once the fiber runs */
    fbr_chan *never;   /* nobody sends: the fiber waits until it closes */
};

static void *announce_then_block(void *arg)
{
    struct stuck *st = arg;
    int one = 1;
    CHECK_OK(fbr_chan_send(st->started, &one));
    return block_on(st->never);
}

FBR_TEST(shutdown_reports_what_is_still_running_then_completes)
{
    fbr_sched *s = start(2);
    fbr_chan *never, *started;
    CHECK_OK(fbr_chan_create(&never, sizeof(int), 0));
    CHECK_OK(fbr_chan_create(&started, sizeof(int), 1));
    struct stuck st = {started, never};
    fbr_spawn_options named = {.name = "stuck-receiver"};
    CHECK_OK(fbr_spawn(s, NULL, announce_then_block, &st, &named));
    int one;
    CHECK_OK(fbr_chan_recv(started, &one)); /* it has run: shutdown can name it */
    fbr_fiber_info info[4];
    size_t count = 99;
    CHECK_EQ(fbr_sched_shutdown(s, fbr_deadline_in(20 * FBR_MILLISECOND), info, 4, &count), FBR_ETIMEDOUT);
    CHECK_EQ(count, 1);
    CHECK(strcmp(info[0].name, "stuck-receiver") == 0);
    CHECK(info[0].id != 0);
    CHECK_STR_CONTAINS(fbr_last_error(), "still alive");

    /* Shutting down: no new work from outside, the running fiber goes on. */
    fbr_fiber *late;
    CHECK_EQ(fbr_spawn(s, &late, double_it, NULL, NULL), FBR_ESHUTDOWN);
    CHECK_EQ(fbr_sched_destroy(s), FBR_EBUSY);

    CHECK_OK(fbr_chan_close(never)); /* the receiver ends */
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
    CHECK_OK(fbr_chan_destroy(never));
    CHECK_OK(fbr_chan_destroy(started));
}

struct hog {
    fbr_chan *started;
    int released; /* atomic */
};

/* Keeps its only worker busy without parking, so that nothing else starts. */
static void *hog_the_worker(void *arg)
{
    struct hog *h = arg;
    int one = 1;
    CHECK_OK(fbr_chan_send(h->started, &one));
    while (!__atomic_load_n(&h->released, __ATOMIC_ACQUIRE))
        sched_yield();
    return NULL;
}

FBR_TEST(shutdown_counts_fibers_not_started_yet_and_writes_an_entry_for_each)
{
    fbr_sched *s = start(1);
    struct hog h = {0};
    CHECK_OK(fbr_chan_create(&h.started, sizeof(int), 1));
    fbr_spawn_options hog_name = {.name = "hog"}, waiting_name = {.name = "waiting"};
    fbr_fiber *hog, *waiting;
    CHECK_OK(fbr_spawn(s, &hog, hog_the_worker, &h, &hog_name));
    int one;
    CHECK_OK(fbr_chan_recv(h.started, &one));
    CHECK_OK(fbr_spawn(s, &waiting, double_it, (void *)21, &waiting_name)); /* cannot start: the worker is held */

    fbr_fiber_info info[4];
    memset(info, 0xAB, sizeof info);
    size_t count = 99;
    CHECK_EQ(fbr_sched_shutdown(s, fbr_deadline_in(20 * FBR_MILLISECOND), info, 4, &count), FBR_ETIMEDOUT);
    CHECK_EQ(count, 2);
    CHECK_EQ(info[0].id, fbr_fiber_id(hog));
    CHECK(strcmp(info[0].name, "hog") == 0);
    CHECK_EQ(info[1].id, 0); /* not started: written, but with nothing to say */
    CHECK_EQ(info[1].name[0], '\0');
    CHECK_STR_CONTAINS(fbr_last_error(), "1 started");

    /* Room for one entry: the started fiber comes first. */
    CHECK_EQ(fbr_sched_shutdown(s, fbr_deadline_in(FBR_MILLISECOND), info, 1, &count), FBR_ETIMEDOUT);
    CHECK_EQ(count, 2);
    CHECK_EQ(info[0].id, fbr_fiber_id(hog));

    __atomic_store_n(&h.released, 1, __ATOMIC_RELEASE);
    void *result;
    CHECK_OK(fbr_join(waiting, &result));
    CHECK_EQ((intptr_t)result, 42);
    CHECK_OK(fbr_join(hog, NULL));
    stop(s);
    CHECK_OK(fbr_chan_destroy(h.started));
}

static void *spawn_helpers_while_shutting_down(void *arg)
{
    fbr_chan *go = arg;
    int v;
    CHECK_OK(fbr_chan_recv(go, &v));
    fbr_fiber *helper;
    CHECK_OK(fbr_spawn(fbr_sched_current(), &helper, double_it, (void *)5, NULL));
    void *r;
    CHECK_OK(fbr_join(helper, &r));
    return r;
}

struct shutdown_call {
    fbr_sched *s;
    int rc;
};

static void *shutdown_in_thread(void *arg)
{
    struct shutdown_call *c = arg;
    c->rc = fbr_sched_shutdown(c->s, FBR_NO_DEADLINE, NULL, 0, NULL);
    return NULL;
}

FBR_TEST(fibers_may_still_spawn_while_their_scheduler_shuts_down)
{
    fbr_sched *s = start(2);
    fbr_chan *go;
    CHECK_OK(fbr_chan_create(&go, sizeof(int), 0));
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(s, &f, spawn_helpers_while_shutting_down, go, NULL));
    struct shutdown_call call = {.s = s, .rc = 1};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, shutdown_in_thread, &call), 0);
    /* Wait until shutdown has begun (outside spawns are refused), then let
     * the fiber spawn its helper. */
    fbr_fiber *probe;
    while (fbr_spawn(s, &probe, double_it, NULL, NULL) == FBR_OK)
        CHECK_OK(fbr_join(probe, NULL));
    int one = 1;
    CHECK_OK(fbr_chan_send(go, &one));
    void *r;
    CHECK_OK(fbr_join(f, &r));
    CHECK_EQ((intptr_t)r, 10);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_OK(call.rc);
    CHECK_OK(fbr_sched_destroy(s));
    CHECK_OK(fbr_chan_destroy(go));
}

FBR_TEST(join_with_a_deadline_leaves_the_fiber_joinable)
{
    fbr_sched *s = start(1);
    fbr_chan *gate;
    CHECK_OK(fbr_chan_create(&gate, sizeof(int), 0));
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(s, &f, block_on, gate, NULL));
    int64_t start_time = fbr_now();
    CHECK_EQ(fbr_join_until(f, NULL, fbr_deadline_in(10 * FBR_MILLISECOND)), FBR_ETIMEDOUT);
    CHECK(fbr_now() - start_time >= 10 * FBR_MILLISECOND);
    CHECK_OK(fbr_chan_close(gate));
    void *rc;
    CHECK_OK(fbr_join(f, &rc));
    CHECK_EQ((intptr_t)rc, FBR_ECLOSED);
    stop(s);
    CHECK_OK(fbr_chan_destroy(gate));
}

static void *count_down(void *arg)
{
    __atomic_fetch_sub((long *)arg, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

FBR_TEST(detached_fibers_clean_up_after_themselves)
{
    fbr_sched *s = start(2);
    long remaining = 1000;
    for (int i = 0; i < 1000; i++)
        CHECK_OK(fbr_spawn(s, NULL, count_down, &remaining, NULL));
    fbr_fiber *joinable;
    CHECK_OK(fbr_spawn(s, &joinable, count_down, &remaining, NULL));
    CHECK_OK(fbr_detach(joinable)); /* from here on the handle may be gone */
    /* Shutdown waits for all of them. */
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_EQ(remaining, -1);
    fbr_sched_stats stats;
    CHECK_OK(fbr_sched_stats_get(s, &stats, NULL, 0));
    CHECK_EQ(stats.live_fibers, 0);
    CHECK_EQ(stats.finished, 1001);
    CHECK_OK(fbr_sched_destroy(s));
}

static double process_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

FBR_TEST(an_idle_scheduler_uses_no_cpu)
{
    fbr_sched *s = start(4);
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(s, &f, double_it, NULL, NULL)); /* wake the workers once */
    CHECK_OK(fbr_join(f, NULL));
    CHECK_OK(fbr_sleep_for(20 * FBR_MILLISECOND)); /* let them settle */
    double before = process_cpu_seconds();
    CHECK_OK(fbr_sleep_for(300 * FBR_MILLISECOND));
    double used = process_cpu_seconds() - before;
    printf("idle scheduler, 4 workers, 300 ms: %.3f ms of CPU\n", used * 1e3);
    CHECK(used < 0.010); /* spinning workers would burn ~1200 ms here */
    stop(s);
}

FBR_TEST(many_schedulers_come_and_go)
{
    for (int round = 0; round < 50; round++) {
        fbr_sched *s = start(1 + round % 3);
        fbr_fiber *f;
        void *r;
        CHECK_OK(fbr_spawn(s, &f, double_it, (void *)(intptr_t)round, NULL));
        CHECK_OK(fbr_join(f, &r));
        CHECK_EQ((intptr_t)r, round * 2);
        stop(s);
    }
}

FBR_TEST_MAIN()
