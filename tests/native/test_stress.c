/* Many producers and consumers, fibers on every worker and plain OS
 * threads, on buffered and unbuffered channels: every value sent is
 * received exactly once. Run under ThreadSanitizer too. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

#if defined(__SANITIZE_THREAD__)
#define PER_PRODUCER 2000L
#else
#define PER_PRODUCER 20000L
#endif

enum { FIBER_PRODUCERS = 12, THREAD_PRODUCERS = 2, FIBER_CONSUMERS = 10, THREAD_CONSUMERS = 2 };
#define PRODUCERS (FIBER_PRODUCERS + THREAD_PRODUCERS)
#define TOTAL (PRODUCERS * PER_PRODUCER)

struct arena {
    fbr_chan *ch;
    uint8_t *seen;          /* one byte per value: received how many times */
    fbr_waitgroup *producers_done;
    uint64_t received_xor, received_sum;
    long received_count;
};

struct producer {
    struct arena *a;
    long id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    /* Values are unique across producers: id * PER_PRODUCER + i. */
    for (long i = 0; i < PER_PRODUCER; i++) {
        uint64_t v = (uint64_t)(p->id * PER_PRODUCER + i);
        CHECK_OK(fbr_chan_send(p->a->ch, &v));
        if (i % 1000 == 999 && fbr_fiber_self())
            CHECK_OK(fbr_yield());
    }
    CHECK_OK(fbr_waitgroup_done(p->a->producers_done));
    return NULL;
}

static void *consume(void *arg)
{
    struct arena *a = arg;
    uint64_t v, x = 0, sum = 0;
    long count = 0;
    while (fbr_chan_recv(a->ch, &v) == FBR_OK) {
        CHECK(v < (uint64_t)TOTAL);
        __atomic_add_fetch(&a->seen[v], 1, __ATOMIC_RELAXED);
        x ^= v * 0x9E3779B97F4A7C15ull;
        sum += v;
        count++;
    }
    __atomic_xor_fetch(&a->received_xor, x, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&a->received_sum, sum, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&a->received_count, count, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *close_when_produced(void *arg)
{
    struct arena *a = arg;
    CHECK_OK(fbr_waitgroup_wait(a->producers_done));
    CHECK_OK(fbr_chan_close(a->ch));
    return NULL;
}

static void run(size_t capacity, unsigned workers)
{
    fbr_sched *s;
    fbr_sched_options opts = {.workers = workers};
    CHECK_OK(fbr_sched_create(&s, &opts));
    struct arena a = {.seen = calloc(TOTAL, 1)};
    CHECK(a.seen != NULL);
    CHECK_OK(fbr_chan_create(&a.ch, sizeof(uint64_t), capacity));
    CHECK_OK(fbr_waitgroup_create(&a.producers_done));
    CHECK_OK(fbr_waitgroup_add(a.producers_done, PRODUCERS));

    struct producer producers[PRODUCERS];
    fbr_fiber *fibers[FIBER_PRODUCERS + FIBER_CONSUMERS + 1];
    int nf = 0;
    pthread_t threads[THREAD_PRODUCERS + THREAD_CONSUMERS];
    int nt = 0;
    for (int i = 0; i < FIBER_CONSUMERS; i++)
        CHECK_OK(fbr_spawn(s, &fibers[nf++], consume, &a, NULL));
    for (int i = 0; i < THREAD_CONSUMERS; i++)
        CHECK_EQ(pthread_create(&threads[nt++], NULL, consume, &a), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        producers[i] = (struct producer){&a, i};
        if (i < FIBER_PRODUCERS)
            CHECK_OK(fbr_spawn(s, &fibers[nf++], produce, &producers[i], NULL));
        else
            CHECK_EQ(pthread_create(&threads[nt++], NULL, produce, &producers[i]), 0);
    }
    CHECK_OK(fbr_spawn(s, &fibers[nf++], close_when_produced, &a, NULL));
    for (int i = 0; i < nf; i++)
        CHECK_OK(fbr_join(fibers[i], NULL));
    for (int i = 0; i < nt; i++)
        CHECK_EQ(pthread_join(threads[i], NULL), 0);

    uint64_t expected_xor = 0, expected_sum = 0;
    for (uint64_t v = 0; v < (uint64_t)TOTAL; v++) {
        expected_xor ^= v * 0x9E3779B97F4A7C15ull;
        expected_sum += v;
        if (a.seen[v] != 1)
            FBR_TEST_FAIL("value %llu was received %d times", (unsigned long long)v, a.seen[v]);
    }
    CHECK_EQ(a.received_count, TOTAL);
    CHECK_EQ(a.received_sum, expected_sum);
    CHECK_EQ(a.received_xor, expected_xor);

    fbr_sched_stats stats;
    fbr_worker_stats per[8];
    CHECK_OK(fbr_sched_stats_get(s, &stats, per, 8));
    printf("capacity %zu, %u workers: %ld values; steals:", capacity, workers, (long)TOTAL);
    for (unsigned i = 0; i < workers && i < 8; i++)
        printf(" %llu", (unsigned long long)per[i].steals);
    printf("\n");
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
    CHECK_OK(fbr_chan_destroy(a.ch));
    CHECK_OK(fbr_waitgroup_destroy(a.producers_done));
    free(a.seen);
}

FBR_TEST(unbuffered_channel_many_producers_and_consumers)
{
    run(0, 4);
}

FBR_TEST(buffered_channel_many_producers_and_consumers)
{
    run(128, 4);
}

FBR_TEST(tiny_buffer_on_two_workers)
{
    run(1, 2);
}

FBR_TEST_MAIN()
