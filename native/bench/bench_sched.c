/*
 * Scheduler and channel workloads, written the way the peer programs in
 * peers/ write them (same sizes, same structure), so that the driver
 * (run_sched_bench.sh) can put them side by side. Prints one line per
 * figure: "<workload> <value> <unit>". Figures, not tests.
 *
 *   fbr_bench_sched [--workers N] [--repeat R] [workload ...]
 *   workloads: spawn_join ping_pong buffered skynet (default: all)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fiberrt.h>

static fbr_sched *sched;

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, fbr_last_error());
    exit(1);
}

/* Runs fn(arg) as a fiber and waits for it, so that every workload starts
 * inside the scheduler, as a Go program starts in main's goroutine. */
static void *run_in_fiber(fbr_fiber_fn fn, void *arg)
{
    fbr_fiber *f;
    void *result;
    if (fbr_spawn(sched, &f, fn, arg, NULL) < 0 || fbr_join(f, &result) < 0)
        die("run_in_fiber");
    return result;
}

/* ---- spawn + join: 100,000 fibers that do nothing, counted by a WaitGroup -- */

enum { SPAWN_COUNT = 100000 };

static void *done_at_once(void *arg)
{
    fbr_waitgroup_done(arg);
    return NULL;
}

static void *spawn_join(void *arg)
{
    (void)arg;
    fbr_waitgroup *wg;
    fbr_waitgroup_create(&wg);
    int64_t start = fbr_now();
    for (int i = 0; i < SPAWN_COUNT; i++) {
        fbr_waitgroup_add(wg, 1);
        if (fbr_spawn(sched, NULL, done_at_once, wg, NULL) < 0)
            die("spawn");
    }
    fbr_waitgroup_wait(wg);
    int64_t elapsed = fbr_now() - start;
    fbr_waitgroup_destroy(wg);
    return (void *)elapsed;
}

/* ---- ping-pong: one int back and forth over two unbuffered channels ------ */

enum { PING_PONG_ROUNDS = 500000 };

struct pair {
    fbr_chan *ping, *pong;
};

static void *ponger(void *arg)
{
    struct pair *p = arg;
    int v;
    while (fbr_chan_recv(p->ping, &v) == FBR_OK)
        fbr_chan_send(p->pong, &v);
    return NULL;
}

static void *ping_pong(void *arg)
{
    (void)arg;
    struct pair p;
    fbr_chan_create(&p.ping, sizeof(int), 0);
    fbr_chan_create(&p.pong, sizeof(int), 0);
    fbr_fiber *other;
    fbr_spawn(sched, &other, ponger, &p, NULL);
    int64_t start = fbr_now();
    for (int i = 0; i < PING_PONG_ROUNDS; i++) {
        int v = i;
        fbr_chan_send(p.ping, &v);
        fbr_chan_recv(p.pong, &v);
    }
    int64_t elapsed = fbr_now() - start;
    fbr_chan_close(p.ping);
    fbr_join(other, NULL);
    fbr_chan_destroy(p.ping);
    fbr_chan_destroy(p.pong);
    return (void *)elapsed;
}

/* ---- buffered throughput: 5,000,000 ints through a 1024-slot channel ----- */

enum { BUFFERED_ITEMS = 5000000 };

static void *drain(void *arg)
{
    int v;
    long sum = 0;
    while (fbr_chan_recv(arg, &v) == FBR_OK)
        sum += v;
    return (void *)sum;
}

static void *buffered(void *arg)
{
    (void)arg;
    fbr_chan *ch;
    fbr_chan_create(&ch, sizeof(int), 1024);
    fbr_fiber *consumer;
    fbr_spawn(sched, &consumer, drain, ch, NULL);
    int64_t start = fbr_now();
    for (int i = 0; i < BUFFERED_ITEMS; i++)
        fbr_chan_send(ch, &i);
    fbr_chan_close(ch);
    void *sum;
    fbr_join(consumer, &sum);
    int64_t elapsed = fbr_now() - start;
    if ((long)sum != (long)BUFFERED_ITEMS * (BUFFERED_ITEMS - 1) / 2)
        die("buffered: wrong sum");
    fbr_chan_destroy(ch);
    return (void *)elapsed;
}

/* ---- skynet: 1,000,000 leaf fibers in a 10-ary tree, summing their ids --- */

struct skynet_args {
    fbr_chan *out;
    long num, size;
};

static void *skynet_node(void *arg)
{
    struct skynet_args *a = arg;
    long sum = 0;
    if (a->size == 1) {
        sum = a->num;
    } else {
        fbr_chan *results;
        fbr_chan_create(&results, sizeof(long), 0);
        struct skynet_args children[10];
        long part = a->size / 10;
        for (int i = 0; i < 10; i++) {
            children[i] = (struct skynet_args){results, a->num + i * part, part};
            if (fbr_spawn(sched, NULL, skynet_node, &children[i], NULL) < 0)
                die("skynet spawn");
        }
        for (int i = 0; i < 10; i++) {
            long v;
            fbr_chan_recv(results, &v);
            sum += v;
        }
        fbr_chan_destroy(results);
    }
    fbr_chan_send(a->out, &sum);
    return NULL;
}

static void *skynet(void *arg)
{
    (void)arg;
    fbr_chan *out;
    fbr_chan_create(&out, sizeof(long), 0);
    struct skynet_args root = {out, 0, 1000000};
    int64_t start = fbr_now();
    fbr_spawn(sched, NULL, skynet_node, &root, NULL);
    long sum;
    fbr_chan_recv(out, &sum);
    int64_t elapsed = fbr_now() - start;
    if (sum != 499999500000L)
        die("skynet: wrong sum");
    fbr_chan_destroy(out);
    return (void *)elapsed;
}

int main(int argc, char **argv)
{
    fbr_sched_options opts = {0};
    const char *only[8];
    int n_only = 0, repeat = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
            opts.workers = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (n_only < 8)
            only[n_only++] = argv[i];
    }
    if (fbr_sched_create(&sched, &opts) < 0)
        die("fbr_sched_create");
    struct {
        const char *name;
        fbr_fiber_fn fn;
        double per;
        const char *unit;
    } workloads[] = {
        {"spawn_join", spawn_join, SPAWN_COUNT, "ns/fiber"},
        {"ping_pong", ping_pong, PING_PONG_ROUNDS, "ns/round-trip"},
        {"buffered", buffered, BUFFERED_ITEMS, "ns/item"},
        {"skynet", skynet, 1, "ns"},
    };
    for (size_t w = 0; w < sizeof workloads / sizeof workloads[0]; w++) {
        int wanted = n_only == 0;
        for (int i = 0; i < n_only; i++)
            wanted |= strcmp(only[i], workloads[w].name) == 0;
        if (!wanted)
            continue;
        for (int r = 0; r < repeat; r++) {
            int64_t ns = (int64_t)run_in_fiber(workloads[w].fn, NULL);
            if (strcmp(workloads[w].name, "skynet") == 0)
                printf("skynet %.1f ms\n", (double)ns / 1e6);
            else
                printf("%s %.1f %s\n", workloads[w].name, (double)ns / workloads[w].per, workloads[w].unit);
            fflush(stdout);
        }
    }
    if (getenv("FBR_BENCH_STATS")) {
        fbr_sched_stats st;
        fbr_worker_stats per[64];
        fbr_sched_stats_get(sched, &st, per, 64);
        for (unsigned i = 0; i < st.workers && i < 64; i++)
            fprintf(stderr, "worker %u: runs %llu steals %llu parks %llu\n", i, (unsigned long long)per[i].runs,
                    (unsigned long long)per[i].steals, (unsigned long long)per[i].parks);
    }
    fbr_sched_shutdown(sched, FBR_NO_DEADLINE, NULL, 0, NULL);
    fbr_sched_destroy(sched);
    return 0;
}
