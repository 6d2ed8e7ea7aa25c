/* Channels with Go's semantics: order, rendezvous, close and drain,
 * non-blocking and deadline variants, threads and fibers mixed, the
 * concurrent prime sieve. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <fiberrt.h>

#include "chan_internal.h"
#include "harness.h"
#include "support.h"

/* White-box: waits (politely) until `n` fibers or threads are queued on
 * the channel, so tests never have to guess with a sleep. */
static void wait_for_waiters(fbr_chan *ch, size_t senders, size_t receivers)
{
    for (;;) {
        size_t s = 0, r = 0;
        fbr__lock_acquire(&ch->lock);
        for (fbr__wait_node *n = ch->senders.head; n; n = n->next)
            s++;
        for (fbr__wait_node *n = ch->receivers.head; n; n = n->next)
            r++;
        fbr__lock_release(&ch->lock);
        if (s >= senders && r >= receivers)
            return;
        CHECK_OK(fbr_sleep_for(FBR_MILLISECOND));
    }
}

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

static fbr_chan *make(size_t elem, size_t cap)
{
    fbr_chan *ch;
    CHECK_OK(fbr_chan_create(&ch, elem, cap));
    return ch;
}

struct stream {
    fbr_chan *ch;
    long count;
};

static void *send_sequence(void *arg)
{
    struct stream *st = arg;
    for (long i = 0; i < st->count; i++)
        CHECK_OK(fbr_chan_send(st->ch, &i));
    CHECK_OK(fbr_chan_close(st->ch));
    return NULL;
}

static void *receive_in_order(void *arg)
{
    struct stream *st = arg;
    long v, expected = 0;
    int rc;
    while ((rc = fbr_chan_recv(st->ch, &v)) == FBR_OK)
        CHECK_EQ(v, expected++);
    CHECK_EQ(rc, FBR_ECLOSED);
    CHECK_EQ(v, 0); /* zeroed once closed and drained */
    return (void *)expected;
}

static void check_order(size_t capacity, unsigned workers)
{
    fbr_sched *s = start(workers);
    struct stream st = {make(sizeof(long), capacity), 20000};
    fbr_fiber *p, *c;
    void *received;
    CHECK_OK(fbr_spawn(s, &c, receive_in_order, &st, NULL));
    CHECK_OK(fbr_spawn(s, &p, send_sequence, &st, NULL));
    CHECK_OK(fbr_join(p, NULL));
    CHECK_OK(fbr_join(c, &received));
    CHECK_EQ((long)received, st.count);
    CHECK_OK(fbr_chan_destroy(st.ch));
    stop(s);
}

FBR_TEST(buffered_channels_keep_order)
{
    check_order(64, 2);
}

FBR_TEST(unbuffered_channels_keep_order)
{
    check_order(0, 2);
}

FBR_TEST(order_holds_on_a_single_worker)
{
    check_order(3, 1);
    check_order(0, 1);
}

struct rendezvous {
    fbr_chan *ch;
    int sent_returned;
};

static void *send_and_mark(void *arg)
{
    struct rendezvous *r = arg;
    int v = 7;
    CHECK_OK(fbr_chan_send(r->ch, &v));
    __atomic_store_n(&r->sent_returned, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

FBR_TEST(an_unbuffered_send_waits_for_its_receiver)
{
    fbr_sched *s = start(2);
    struct rendezvous r = {make(sizeof(int), 0), 0};
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(s, &f, send_and_mark, &r, NULL));
    /* Once the sender is queued, it must stay blocked until we receive. */
    wait_for_waiters(r.ch, 1, 0);
    CHECK_OK(fbr_sleep_for(10 * FBR_MILLISECOND));
    CHECK_EQ(__atomic_load_n(&r.sent_returned, __ATOMIC_SEQ_CST), 0);
    int v = 0;
    CHECK_OK(fbr_chan_recv(r.ch, &v)); /* this thread is the receiver */
    CHECK_EQ(v, 7);
    CHECK_OK(fbr_join(f, NULL));
    CHECK_EQ(r.sent_returned, 1);
    CHECK_OK(fbr_chan_destroy(r.ch));
    stop(s);
}

FBR_TEST(close_lets_receivers_drain_then_reports_closed)
{
    fbr_chan *ch = make(sizeof(int), 8);
    for (int i = 1; i <= 5; i++)
        CHECK_OK(fbr_chan_send(ch, &i));
    CHECK_OK(fbr_chan_close(ch));
    CHECK_EQ(fbr_chan_is_closed(ch), 1);
    int six = 6;
    CHECK_EQ(fbr_chan_send(ch, &six), FBR_ECLOSED);
    CHECK_STR_CONTAINS(fbr_last_error(), "closed");
    CHECK_EQ(fbr_chan_close(ch), FBR_ECLOSED);
    CHECK_EQ(fbr_chan_len(ch), 5);
    for (int i = 1; i <= 5; i++) {
        int v;
        CHECK_OK(fbr_chan_recv(ch, &v));
        CHECK_EQ(v, i);
    }
    for (int i = 0; i < 3; i++) {
        int v = 99;
        CHECK_EQ(fbr_chan_recv(ch, &v), FBR_ECLOSED);
        CHECK_EQ(v, 0);
        CHECK_EQ(fbr_chan_try_recv(ch, &v), FBR_ECLOSED);
    }
    CHECK_OK(fbr_chan_destroy(ch));
}

static void *wait_to_receive(void *arg)
{
    int v = 5;
    return (void *)(intptr_t)fbr_chan_recv(arg, &v);
}

static void *wait_to_send(void *arg)
{
    int v = 5;
    return (void *)(intptr_t)fbr_chan_send(arg, &v);
}

FBR_TEST(close_wakes_every_blocked_sender_and_receiver)
{
    fbr_sched *s = start(2);
    fbr_chan *empty = make(sizeof(int), 0), *full = make(sizeof(int), 1);
    int one = 1;
    CHECK_OK(fbr_chan_send(full, &one));
    enum { EACH = 20 };
    fbr_fiber *receivers[EACH], *senders[EACH];
    for (int i = 0; i < EACH; i++) {
        CHECK_OK(fbr_spawn(s, &receivers[i], wait_to_receive, empty, NULL));
        CHECK_OK(fbr_spawn(s, &senders[i], wait_to_send, full, NULL));
    }
    wait_for_waiters(empty, 0, EACH);
    wait_for_waiters(full, EACH, 0);
    CHECK_EQ(fbr_chan_destroy(empty), FBR_EBUSY); /* not while anyone waits */
    CHECK_EQ(fbr_chan_check_destroy(empty), FBR_EBUSY); /* and the check says so, freeing nothing */
    CHECK_STR_CONTAINS(fbr_last_error(), "waiting senders or receivers");
    CHECK_EQ(fbr_chan_check_destroy(full), FBR_EBUSY);
    CHECK_OK(fbr_chan_close(empty));
    CHECK_OK(fbr_chan_close(full));
    for (int i = 0; i < EACH; i++) {
        void *rc;
        CHECK_OK(fbr_join(receivers[i], &rc));
        CHECK_EQ((intptr_t)rc, FBR_ECLOSED);
        CHECK_OK(fbr_join(senders[i], &rc));
        CHECK_EQ((intptr_t)rc, FBR_ECLOSED);
    }
    int v;
    CHECK_OK(fbr_chan_recv(full, &v)); /* what was buffered before the close survives it */
    CHECK_EQ(v, 1);
    CHECK_OK(fbr_chan_check_destroy(empty));
    CHECK_OK(fbr_chan_check_destroy(full));
    CHECK_EQ(fbr_chan_check_destroy(NULL), FBR_EINVAL);
    CHECK_OK(fbr_chan_destroy(empty));
    CHECK_OK(fbr_chan_destroy(full));
    stop(s);
}

FBR_TEST(try_operations_never_wait)
{
    fbr_chan *unbuffered = make(sizeof(int), 0), *buffered = make(sizeof(int), 1);
    int v = 3;
    CHECK_EQ(fbr_chan_try_send(unbuffered, &v), FBR_EAGAIN);
    CHECK_EQ(fbr_chan_try_recv(unbuffered, &v), FBR_EAGAIN);
    CHECK_OK(fbr_chan_try_send(buffered, &v));
    CHECK_EQ(fbr_chan_try_send(buffered, &v), FBR_EAGAIN);
    v = 0;
    CHECK_OK(fbr_chan_try_recv(buffered, &v));
    CHECK_EQ(v, 3);
    CHECK_EQ(fbr_chan_try_recv(buffered, &v), FBR_EAGAIN);
    CHECK_OK(fbr_chan_destroy(unbuffered));
    CHECK_OK(fbr_chan_destroy(buffered));
}

static void *recv_with_deadline(void *arg)
{
    int v;
    int64_t start = fbr_now();
    int rc = fbr_chan_recv_until(arg, &v, fbr_deadline_in(15 * FBR_MILLISECOND));
    CHECK(fbr_now() - start >= 15 * FBR_MILLISECOND);
    return (void *)(intptr_t)rc;
}

FBR_TEST(deadlines_expire_for_fibers_and_threads)
{
    fbr_sched *s = start(2);
    fbr_chan *ch = make(sizeof(int), 0);
    fbr_fiber *f;
    void *rc;
    CHECK_OK(fbr_spawn(s, &f, recv_with_deadline, ch, NULL));
    CHECK_OK(fbr_join(f, &rc));
    CHECK_EQ((intptr_t)rc, FBR_ETIMEDOUT);
    CHECK_EQ((intptr_t)recv_with_deadline(ch), FBR_ETIMEDOUT); /* on this thread */
    int v = 1;
    CHECK_EQ(fbr_chan_send_until(ch, &v, fbr_deadline_in(5 * FBR_MILLISECOND)), FBR_ETIMEDOUT);
    CHECK_EQ(fbr_chan_send_until(ch, &v, fbr_now() - 1), FBR_ETIMEDOUT); /* already past */
    /* The timed-out waiters left no trace: the channel can be destroyed. */
    CHECK_OK(fbr_chan_destroy(ch));
    stop(s);
}

static void *reply_after_a_while(void *arg)
{
    fbr_chan *ch = arg;
    CHECK_OK(fbr_sleep_for(5 * FBR_MILLISECOND));
    int v = 42;
    CHECK_OK(fbr_chan_send(ch, &v));
    return NULL;
}

FBR_TEST(a_deadline_that_does_not_expire_lets_the_value_through)
{
    fbr_sched *s = start(1);
    fbr_chan *ch = make(sizeof(int), 0);
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(s, &f, reply_after_a_while, ch, NULL));
    int v = 0;
    CHECK_OK(fbr_chan_recv_until(ch, &v, fbr_deadline_in(10 * FBR_SECOND)));
    CHECK_EQ(v, 42);
    CHECK_OK(fbr_join(f, NULL));
    CHECK_OK(fbr_chan_destroy(ch));
    stop(s);
}

struct echo_after_delays {
    fbr_chan *in, *out;
    int rounds;
};

/* Answers each value after 0, 10, 20 or 30 microseconds: around the time a
 * blocked thread spins before it sleeps, so its answers find it spinning,
 * going to sleep and asleep. */
static void *echo_after_delays(void *arg)
{
    struct echo_after_delays *e = arg;
    for (int i = 0; i < e->rounds; i++) {
        int v;
        CHECK_OK(fbr_chan_recv(e->in, &v));
        if (i % 4)
            CHECK_OK(fbr_sleep_for((i % 4) * 10 * FBR_MICROSECOND));
        v++;
        CHECK_OK(fbr_chan_send(e->out, &v));
    }
    return NULL;
}

FBR_TEST(a_thread_is_woken_whether_it_spins_or_sleeps_when_the_answer_comes)
{
    fbr_sched *s = start(1);
    struct echo_after_delays e = {make(sizeof(int), 0), make(sizeof(int), 0), 2000};
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(s, &f, echo_after_delays, &e, NULL));
    /* A lost wake-up leaves this thread asleep for good: the test hangs
     * and its time limit fails it. */
    for (int i = 0; i < e.rounds; i++) {
        int v = i;
        CHECK_OK(fbr_chan_send(e.in, &v));
        CHECK_OK(fbr_chan_recv(e.out, &v));
        CHECK_EQ(v, i + 1);
    }
    CHECK_OK(fbr_join(f, NULL));
    CHECK_OK(fbr_chan_destroy(e.in));
    CHECK_OK(fbr_chan_destroy(e.out));
    stop(s);
}

/* Answers v with v + 1 until its input closes. */
static void *echo_until_closed(void *arg)
{
    struct echo_after_delays *e = arg;
    int v;
    while (fbr_chan_recv(e->in, &v) == FBR_OK) {
        v++;
        CHECK_OK(fbr_chan_send(e->out, &v));
    }
    return NULL;
}

/* A thread readies the fiber (its send) after 0, 20, 60 or 120 microseconds:
 * around the time an idle worker spins for work before it sleeps (about
 * 50 us). The fiber is handed straight to a spinning worker, so each wake
 * finds its worker spinning, giving up its spin, going to sleep or asleep,
 * on one worker and on two. */
FBR_TEST(a_fiber_readied_from_a_thread_runs_whether_its_worker_spins_or_sleeps)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        fbr_sched *s = start(workers);
        struct echo_after_delays e = {make(sizeof(int), 0), make(sizeof(int), 0), 2400};
        fbr_fiber *f;
        CHECK_OK(fbr_spawn(s, &f, echo_until_closed, &e, NULL));
        static const int delay_us[] = {0, 20, 60, 120};
        /* A fiber left in the slot of a worker that went to sleep is never
         * run: the test hangs and its time limit fails it. */
        for (int i = 0; i < e.rounds; i++) {
            if (delay_us[i % 4])
                CHECK_OK(fbr_sleep_for(delay_us[i % 4] * FBR_MICROSECOND));
            int v = i;
            CHECK_OK(fbr_chan_send(e.in, &v));
            CHECK_OK(fbr_chan_recv(e.out, &v));
            CHECK_EQ(v, i + 1);
        }
        fbr_sched_stats stats;
        fbr_worker_stats per_worker[2];
        CHECK_OK(fbr_sched_stats_get(s, &stats, per_worker, workers));
        uint64_t parks = 0;
        for (unsigned i = 0; i < workers; i++)
            parks += per_worker[i].parks;
        CHECK(parks > 0); /* the workers did go to sleep between rounds */
        CHECK_OK(fbr_chan_close(e.in));
        CHECK_OK(fbr_join(f, NULL));
        CHECK_OK(fbr_chan_destroy(e.in));
        CHECK_OK(fbr_chan_destroy(e.out));
        stop(s);
    }
}

struct thread_sender {
    fbr_chan *ch;
    long from, count;
};

static void *thread_sends(void *arg)
{
    struct thread_sender *t = arg;
    for (long i = t->from; i < t->from + t->count; i++)
        CHECK_OK(fbr_chan_send(t->ch, &i));
    return NULL;
}

static void *fiber_sums(void *arg)
{
    struct thread_sender *t = arg;
    long sum = 0, v;
    for (long i = 0; i < t->count; i++) {
        CHECK_OK(fbr_chan_recv(t->ch, &v));
        sum += v;
    }
    return (void *)sum;
}

FBR_TEST(threads_and_fibers_share_channels)
{
    fbr_sched *s = start(2);
    struct thread_sender job = {make(sizeof(long), 0), 0, 30000};
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(s, &f, fiber_sums, &job, NULL));
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, thread_sends, &job), 0);
    void *sum;
    CHECK_OK(fbr_join(f, &sum));
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ((long)sum, 30000L * 29999 / 2);
    CHECK_OK(fbr_chan_destroy(job.ch));
    stop(s);
}

FBR_TEST(channels_of_empty_values_count_events)
{
    fbr_chan *ch = make(0, 3);
    for (int i = 0; i < 3; i++)
        CHECK_OK(fbr_chan_send(ch, NULL));
    CHECK_EQ(fbr_chan_try_send(ch, NULL), FBR_EAGAIN);
    CHECK_EQ(fbr_chan_len(ch), 3);
    for (int i = 0; i < 3; i++)
        CHECK_OK(fbr_chan_recv(ch, NULL));
    CHECK_EQ(fbr_chan_try_recv(ch, NULL), FBR_EAGAIN);
    CHECK_OK(fbr_chan_destroy(ch));
}

FBR_TEST(bad_channel_arguments_are_errors)
{
    fbr_chan *ch;
    CHECK_EQ(fbr_chan_create(NULL, 4, 4), FBR_EINVAL);
    CHECK_EQ(fbr_chan_create(&ch, FBR_CHAN_MAX_ELEM_SIZE + 1, 1), FBR_EINVAL);
    CHECK_EQ(fbr_chan_create(&ch, 8, FBR_CHAN_MAX_CAPACITY + 1), FBR_EINVAL);
    CHECK_EQ(fbr_chan_create(&ch, 65536, 1 << 20), FBR_EINVAL); /* 64 GiB of buffer */
    CHECK_STR_CONTAINS(fbr_last_error(), "4 GiB");
    CHECK_EQ(fbr_chan_send(NULL, "x"), FBR_EINVAL);
    CHECK_EQ(fbr_chan_recv(NULL, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_chan_close(NULL), FBR_EINVAL);
    CHECK_EQ(fbr_chan_destroy(NULL), FBR_EINVAL);
    ch = make(sizeof(int), 1);
    CHECK_EQ(fbr_chan_send(ch, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_chan_cap(ch), 1);
    CHECK_EQ(fbr_chan_elem_size(ch), sizeof(int));
    CHECK_OK(fbr_chan_destroy(ch));
}

/* The concurrent prime sieve from the Go tour: a chain of filter fibers,
 * one per prime found, connected by unbuffered channels. */
struct filter {
    fbr_chan *in, *out;
    long prime;
};

static void *generate(void *arg)
{
    fbr_chan *out = arg;
    for (long i = 2;; i++)
        if (fbr_chan_send(out, &i) != FBR_OK)
            return NULL; /* closed: the sieve is done */
}

static void *filter(void *arg)
{
    struct filter *f = arg;
    long v;
    while (fbr_chan_recv(f->in, &v) == FBR_OK)
        if (v % f->prime != 0 && fbr_chan_send(f->out, &v) != FBR_OK)
            break;
    fbr_chan_close(f->in); /* tells the stage before us to stop */
    return NULL;
}

static void *sieve(void *arg)
{
    long *primes = arg;
    enum { COUNT = 1000 };
    fbr_chan *ch = make(sizeof(long), 0);
    fbr_chan *first = ch;
    fbr_fiber *gen;
    CHECK_OK(fbr_spawn(fbr_sched_current(), &gen, generate, ch, NULL));
    static struct filter filters[COUNT];
    fbr_fiber *stages[COUNT];
    for (int i = 0; i < COUNT; i++) {
        long prime;
        CHECK_OK(fbr_chan_recv(ch, &prime));
        primes[i] = prime;
        filters[i] = (struct filter){ch, make(sizeof(long), 0), prime};
        CHECK_OK(fbr_spawn(fbr_sched_current(), &stages[i], filter, &filters[i], NULL));
        ch = filters[i].out;
    }
    /* Tear down from the end: each stage closes its input when it stops. */
    CHECK_OK(fbr_chan_close(ch));
    CHECK_OK(fbr_join(gen, NULL));
    for (int i = 0; i < COUNT; i++)
        CHECK_OK(fbr_join(stages[i], NULL));
    CHECK_OK(fbr_chan_destroy(first));
    for (int i = 0; i < COUNT; i++)
        CHECK_OK(fbr_chan_destroy(filters[i].out));
    return NULL;
}

static void run_sieve(unsigned workers)
{
    static long primes[1000];
    fbr_sched *s = start(workers);
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(s, &f, sieve, primes, NULL));
    CHECK_OK(fbr_join(f, NULL));
    stop(s);
    /* Check against trial division. */
    long n = 1;
    for (int i = 0; i < 1000; i++) {
        bool prime;
        do {
            n++;
            prime = true;
            for (long d = 2; d * d <= n; d++)
                if (n % d == 0) {
                    prime = false;
                    break;
                }
        } while (!prime);
        CHECK_EQ(primes[i], n);
    }
    CHECK_EQ(primes[999], 7919);
}

FBR_TEST(prime_sieve_on_one_worker)
{
    run_sieve(1);
}

FBR_TEST(prime_sieve_on_four_workers)
{
    run_sieve(4);
}

FBR_TEST_MAIN()
