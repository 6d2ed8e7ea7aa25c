/*
 * The scheduler workloads of bench_sched.c, done with one OS thread per
 * fiber, to show what the fibers save. Same structure as bench_sched.c and
 * peers/go/main.go; sizes are cut where OS threads are too slow (noted at
 * each). Prints "<workload> <value> <unit>".
 *
 *   gcc -O2 -std=c11 -D_GNU_SOURCE main.c -lpthread
 *   ./a.out [--threads N] [workload ...]
 *   workloads: spawn_join ping_pong buffered skynet (default: all)
 *
 * --threads is accepted so that a driver can pass the same options to every
 * peer; the kernel schedules these threads on every CPU regardless.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what, int err)
{
    if (err)
        fprintf(stderr, "%s: %s\n", what, strerror(err));
    else
        fprintf(stderr, "%s\n", what);
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static pthread_t start_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    int err = pthread_create(&t, NULL, fn, arg);
    if (err)
        die("pthread_create", err);
    return t;
}

/* ---- spawn + join: 10,000 threads that do nothing ------------------------ */

/* 10,000 threads, a tenth of the fibers' 100,000, because each costs a
 * clone and a stack mapping; the figure is per thread all the same, printed
 * in the fibers' unit (ns/fiber) so that drivers read one format. All are
 * created before any is joined, as the fibers are all spawned before the
 * WaitGroup is waited on. */
enum { SPAWN_COUNT = 10000 };

static void *do_nothing(void *arg)
{
    return arg;
}

static double spawn_join(void)
{
    static pthread_t threads[SPAWN_COUNT];
    int64_t start = now_ns();
    for (int i = 0; i < SPAWN_COUNT; i++)
        threads[i] = start_thread(do_nothing, NULL);
    for (int i = 0; i < SPAWN_COUNT; i++)
        pthread_join(threads[i], NULL);
    return (double)(now_ns() - start) / SPAWN_COUNT;
}

/* ---- a 1-slot rendezvous channel: what Go's unbuffered chan int is ------- */

/* send() returns only once a receiver has taken the value, as with an
 * unbuffered channel, so each round trip below costs the same hand-offs as
 * the fibers' version. One condition variable serves both directions: at
 * most one sender and one receiver ever wait on it here. */
struct rendezvous {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int value;
    bool full, closed;
};

static void rv_init(struct rendezvous *c)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->full = c->closed = false;
}

static void rv_destroy(struct rendezvous *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static void rv_send(struct rendezvous *c, int v)
{
    pthread_mutex_lock(&c->mu);
    while (c->full)
        pthread_cond_wait(&c->cv, &c->mu);
    c->value = v;
    c->full = true;
    pthread_cond_broadcast(&c->cv);
    while (c->full)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

/* false once the channel is closed (and empty). */
static bool rv_recv(struct rendezvous *c, int *v)
{
    pthread_mutex_lock(&c->mu);
    while (!c->full && !c->closed)
        pthread_cond_wait(&c->cv, &c->mu);
    bool got = c->full;
    if (got) {
        *v = c->value;
        c->full = false;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return got;
}

static void rv_close(struct rendezvous *c)
{
    pthread_mutex_lock(&c->mu);
    c->closed = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- ping-pong: one int back and forth between two threads --------------- */

/* A fifth of the fibers' 500,000: every hand-off is a futex wake and a
 * sleep, microseconds each, so 100,000 round trips take seconds already. */
enum { PING_PONG_ROUNDS = 100000 };

struct pair {
    struct rendezvous ping, pong;
};

static void *ponger(void *arg)
{
    struct pair *p = arg;
    int v;
    while (rv_recv(&p->ping, &v))
        rv_send(&p->pong, v);
    return NULL;
}

static double ping_pong(void)
{
    struct pair p;
    rv_init(&p.ping);
    rv_init(&p.pong);
    pthread_t other = start_thread(ponger, &p);
    int64_t start = now_ns();
    for (int i = 0; i < PING_PONG_ROUNDS; i++) {
        int v;
        rv_send(&p.ping, i);
        rv_recv(&p.pong, &v);
    }
    int64_t elapsed = now_ns() - start;
    rv_close(&p.ping);
    pthread_join(other, NULL);
    rv_destroy(&p.ping);
    rv_destroy(&p.pong);
    return (double)elapsed / PING_PONG_ROUNDS;
}

/* ---- buffered throughput: 5,000,000 ints through a 1024-slot queue ------- */

enum { BUFFERED_ITEMS = 5000000, QUEUE_SLOTS = 1024 };

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    int slots[QUEUE_SLOTS];
    unsigned head, count;
    bool closed;
};

static void queue_push(struct queue *q, int v)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == QUEUE_SLOTS)
        pthread_cond_wait(&q->not_full, &q->mu);
    q->slots[(q->head + q->count) % QUEUE_SLOTS] = v;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

/* false once the queue is closed and drained. */
static bool queue_pop(struct queue *q, int *v)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->mu);
    bool got = q->count > 0;
    if (got) {
        *v = q->slots[q->head];
        q->head = (q->head + 1) % QUEUE_SLOTS;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return got;
}

static void queue_close(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

static void *drain(void *arg)
{
    int v;
    long sum = 0;
    while (queue_pop(arg, &v))
        sum += v;
    return (void *)sum;
}

static double buffered(void)
{
    static struct queue q = {
        .mu = PTHREAD_MUTEX_INITIALIZER,
        .not_empty = PTHREAD_COND_INITIALIZER,
        .not_full = PTHREAD_COND_INITIALIZER,
    };
    /* Static so that the 4 KiB of slots stay off the stack; reset in case the
     * workload is asked for twice. */
    q.head = q.count = 0;
    q.closed = false;
    pthread_t consumer = start_thread(drain, &q);
    int64_t start = now_ns();
    for (int i = 0; i < BUFFERED_ITEMS; i++)
        queue_push(&q, i);
    queue_close(&q);
    void *sum;
    pthread_join(consumer, &sum);
    int64_t elapsed = now_ns() - start;
    if ((long)sum != (long)BUFFERED_ITEMS * (BUFFERED_ITEMS - 1) / 2)
        die("buffered: wrong sum", 0);
    return (double)elapsed / BUFFERED_ITEMS;
}

/* ---- skynet: not run ----------------------------------------------------- */

/* Skynet keeps up to a million threads alive at once, more than Linux allows
 * by default (kernel.pid_max, kernel.threads-max: 32768 and 192730 on the
 * machine this was written on); that fibers make this cheap is the point of
 * the workload, so it is reported as not applicable rather than run. */

int main(int argc, char **argv)
{
    static const char *const order[] = {"spawn_join", "ping_pong", "buffered", "skynet"};
    enum { N_WORKLOADS = sizeof order / sizeof order[0] };
    const char *plan[64];
    int n_plan = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0) {
            char *end = NULL;
            long n = i + 1 < argc ? strtol(argv[++i], &end, 10) : 0;
            if (n < 1 || *end != '\0') {
                fprintf(stderr, "--threads needs a positive number\n");
                return 2;
            }
            continue;
        }
        bool known = false;
        for (int w = 0; w < N_WORKLOADS; w++)
            known |= strcmp(argv[i], order[w]) == 0;
        if (!known) {
            fprintf(stderr, "unknown workload %s\n", argv[i]);
            return 2;
        }
        if (n_plan == (int)(sizeof plan / sizeof plan[0])) {
            fprintf(stderr, "too many workloads\n");
            return 2;
        }
        plan[n_plan++] = argv[i];
    }
    if (n_plan == 0)
        for (int w = 0; w < N_WORKLOADS; w++)
            plan[n_plan++] = order[w];

    for (int i = 0; i < n_plan; i++) {
        const char *name = plan[i];
        if (strcmp(name, "spawn_join") == 0)
            printf("spawn_join %.1f ns/fiber\n", spawn_join());
        else if (strcmp(name, "ping_pong") == 0)
            printf("ping_pong %.1f ns/round-trip\n", ping_pong());
        else if (strcmp(name, "buffered") == 0)
            printf("buffered %.1f ns/item\n", buffered());
        else
            printf("skynet n/a (1000000 threads)\n");
        fflush(stdout);
    }
    return 0;
}
