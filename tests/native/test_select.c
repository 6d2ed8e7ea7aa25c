/* select: readiness, default, deadlines, closed channels, fairness among
 * ready cases, and exactly-once completion under contention. */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

static fbr_chan *make(size_t elem, size_t cap)
{
    fbr_chan *ch;
    CHECK_OK(fbr_chan_create(&ch, elem, cap));
    return ch;
}

FBR_TEST(select_takes_the_ready_case)
{
    fbr_chan *idle = make(sizeof(int), 1), *ready = make(sizeof(int), 1);
    int v = 11, got = 0;
    CHECK_OK(fbr_chan_send(ready, &v));
    fbr_select_case cases[] = {
        {.chan = idle, .op = FBR_SELECT_RECV, .elem = &got},
        {.chan = ready, .op = FBR_SELECT_RECV, .elem = &got},
    };
    size_t chosen = 99;
    CHECK_OK(fbr_select(cases, 2, FBR_NO_DEADLINE, 0, &chosen));
    CHECK_EQ(chosen, 1);
    CHECK_EQ(got, 11);
    CHECK_EQ(cases[1].result, FBR_OK);

    /* A send case into the channel with room. */
    int out = 5;
    fbr_select_case sends[] = {
        {.chan = ready, .op = FBR_SELECT_SEND, .elem = &out},
        {.chan = NULL, .op = FBR_SELECT_RECV, .elem = &got}, /* a nil channel: never ready */
    };
    CHECK_OK(fbr_select(sends, 2, FBR_NO_DEADLINE, 0, &chosen));
    CHECK_EQ(chosen, 0);
    CHECK_OK(fbr_chan_recv(ready, &got));
    CHECK_EQ(got, 5);
    CHECK_OK(fbr_chan_destroy(idle));
    CHECK_OK(fbr_chan_destroy(ready));
}

FBR_TEST(the_default_case_returns_at_once)
{
    fbr_chan *a = make(sizeof(int), 0), *b = make(sizeof(int), 0);
    int v = 1;
    fbr_select_case cases[] = {
        {.chan = a, .op = FBR_SELECT_RECV, .elem = &v},
        {.chan = b, .op = FBR_SELECT_SEND, .elem = &v},
    };
    size_t chosen;
    CHECK_EQ(fbr_select(cases, 2, FBR_NO_DEADLINE, FBR_SELECT_NONBLOCKING, &chosen), FBR_EAGAIN);
    CHECK_OK(fbr_chan_destroy(a));
    CHECK_OK(fbr_chan_destroy(b));
}

FBR_TEST(a_select_deadline_expires_and_leaves_no_waiters)
{
    fbr_chan *a = make(sizeof(int), 0), *b = make(sizeof(int), 0);
    int v;
    fbr_select_case cases[] = {
        {.chan = a, .op = FBR_SELECT_RECV, .elem = &v},
        {.chan = b, .op = FBR_SELECT_RECV, .elem = &v},
    };
    size_t chosen;
    int64_t start = fbr_now();
    CHECK_EQ(fbr_select(cases, 2, fbr_deadline_in(10 * FBR_MILLISECOND), 0, &chosen), FBR_ETIMEDOUT);
    CHECK(fbr_now() - start >= 10 * FBR_MILLISECOND);
    CHECK_OK(fbr_chan_destroy(a)); /* would be FBR_EBUSY if a node had stayed queued */
    CHECK_OK(fbr_chan_destroy(b));
}

FBR_TEST(closed_channels_complete_their_cases)
{
    fbr_chan *closed = make(sizeof(int), 0), *open = make(sizeof(int), 0);
    CHECK_OK(fbr_chan_close(closed));
    int v = 77;
    fbr_select_case cases[] = {
        {.chan = open, .op = FBR_SELECT_RECV, .elem = &v},
        {.chan = closed, .op = FBR_SELECT_RECV, .elem = &v},
    };
    size_t chosen;
    CHECK_OK(fbr_select(cases, 2, FBR_NO_DEADLINE, 0, &chosen));
    CHECK_EQ(chosen, 1);
    CHECK_EQ(cases[1].result, FBR_ECLOSED);
    CHECK_EQ(v, 0);
    fbr_select_case send_closed[] = {{.chan = closed, .op = FBR_SELECT_SEND, .elem = &v}};
    CHECK_OK(fbr_select(send_closed, 1, FBR_NO_DEADLINE, 0, &chosen));
    CHECK_EQ(send_closed[0].result, FBR_ECLOSED);
    CHECK_OK(fbr_chan_destroy(closed));
    CHECK_OK(fbr_chan_destroy(open));
}

struct delayed_send {
    fbr_chan *ch;
    int value;
};

static void *send_later(void *arg)
{
    struct delayed_send *d = arg;
    CHECK_OK(fbr_sleep_for(5 * FBR_MILLISECOND));
    CHECK_OK(fbr_chan_send(d->ch, &d->value));
    return NULL;
}

static void *close_later(void *arg)
{
    CHECK_OK(fbr_sleep_for(5 * FBR_MILLISECOND));
    CHECK_OK(fbr_chan_close(arg));
    return NULL;
}

FBR_TEST(select_waits_until_a_case_becomes_ready)
{
    fbr_sched *s;
    CHECK_OK(fbr_sched_create(&s, NULL));
    fbr_chan *a = make(sizeof(int), 0), *b = make(sizeof(int), 0), *c = make(sizeof(int), 0);
    struct delayed_send later = {b, 123};
    fbr_fiber *f;
    CHECK_OK(fbr_spawn(s, &f, send_later, &later, NULL));
    int v = 0, out = 9;
    fbr_select_case cases[] = {
        {.chan = a, .op = FBR_SELECT_RECV, .elem = &v},
        {.chan = b, .op = FBR_SELECT_RECV, .elem = &v},
        {.chan = c, .op = FBR_SELECT_SEND, .elem = &out},
    };
    size_t chosen;
    CHECK_OK(fbr_select(cases, 3, FBR_NO_DEADLINE, 0, &chosen)); /* a thread selecting */
    CHECK_EQ(chosen, 1);
    CHECK_EQ(v, 123);
    CHECK_OK(fbr_join(f, NULL));

    CHECK_OK(fbr_spawn(s, &f, close_later, a, NULL));
    CHECK_OK(fbr_select(cases, 3, FBR_NO_DEADLINE, 0, &chosen)); /* woken by a close */
    CHECK_EQ(chosen, 0);
    CHECK_EQ(cases[0].result, FBR_ECLOSED);
    CHECK_OK(fbr_join(f, NULL));
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
    CHECK_OK(fbr_chan_destroy(a));
    CHECK_OK(fbr_chan_destroy(b));
    CHECK_OK(fbr_chan_destroy(c));
}

FBR_TEST(ready_cases_are_chosen_uniformly)
{
    enum { CASES = 4, ROUNDS = 40000 };
    fbr_chan *ch[CASES];
    fbr_select_case cases[CASES];
    int v = 0;
    for (int i = 0; i < CASES; i++) {
        ch[i] = make(sizeof(int), 1);
        cases[i] = (fbr_select_case){.chan = ch[i], .op = FBR_SELECT_RECV, .elem = &v};
        CHECK_OK(fbr_chan_send(ch[i], &i));
    }
    long hits[CASES] = {0};
    for (int r = 0; r < ROUNDS; r++) {
        size_t chosen;
        CHECK_OK(fbr_select(cases, CASES, FBR_NO_DEADLINE, 0, &chosen));
        CHECK_EQ(v, (int)chosen);
        hits[chosen]++;
        CHECK_OK(fbr_chan_send(ch[chosen], &v)); /* every case stays ready */
    }
    /* Chi-square with 3 degrees of freedom: 30.66 is the one-in-a-million
     * critical value. A fair choice essentially never fails it; always
     * preferring one case scores in the tens of thousands. */
    double expected = (double)ROUNDS / CASES, chi2 = 0;
    for (int i = 0; i < CASES; i++)
        chi2 += (hits[i] - expected) * (hits[i] - expected) / expected;
    printf("hits %ld %ld %ld %ld, chi-square %.2f\n", hits[0], hits[1], hits[2], hits[3], chi2);
    CHECK(chi2 < 30.66);
    for (int i = 0; i < CASES; i++)
        CHECK_OK(fbr_chan_destroy(ch[i]));
}

/* Many fibers select over the same channels while others send: every value
 * sent is received exactly once. */
struct contention {
    fbr_chan *in[3];
    long per_sender;
    long received_sum;
    long received_count;
    fbr_waitgroup *receivers;
};

static void *selecting_receiver(void *arg)
{
    struct contention *c = arg;
    long sum = 0, count = 0, v;
    int open = 3;
    fbr_select_case cases[3];
    for (int i = 0; i < 3; i++)
        cases[i] = (fbr_select_case){.chan = c->in[i], .op = FBR_SELECT_RECV, .elem = &v};
    while (open) {
        size_t chosen;
        CHECK_OK(fbr_select(cases, 3, FBR_NO_DEADLINE, 0, &chosen));
        if (cases[chosen].result == FBR_ECLOSED) {
            cases[chosen].chan = NULL; /* stop selecting on it */
            open--;
            continue;
        }
        sum += v;
        count++;
    }
    __atomic_add_fetch(&c->received_sum, sum, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&c->received_count, count, __ATOMIC_SEQ_CST);
    CHECK_OK(fbr_waitgroup_done(c->receivers));
    return NULL;
}

struct sender_job {
    struct contention *c;
    int channel;
};

static void *plain_sender(void *arg)
{
    struct sender_job *j = arg;
    for (long i = 1; i <= j->c->per_sender; i++)
        CHECK_OK(fbr_chan_send(j->c->in[j->channel], &i));
    return NULL;
}

FBR_TEST(selects_under_contention_receive_everything_exactly_once)
{
    fbr_sched *s;
    fbr_sched_options opts = {.workers = 4};
    CHECK_OK(fbr_sched_create(&s, &opts));
    struct contention c = {.per_sender = 5000};
    for (int i = 0; i < 3; i++)
        c.in[i] = make(sizeof(long), i); /* capacities 0, 1, 2 */
    CHECK_OK(fbr_waitgroup_create(&c.receivers));
    enum { RECEIVERS = 8, SENDERS_PER_CHANNEL = 4 };
    CHECK_OK(fbr_waitgroup_add(c.receivers, RECEIVERS));
    for (int i = 0; i < RECEIVERS; i++)
        CHECK_OK(fbr_spawn(s, NULL, selecting_receiver, &c, NULL));
    struct sender_job jobs[3 * SENDERS_PER_CHANNEL];
    fbr_fiber *senders[3 * SENDERS_PER_CHANNEL];
    for (int i = 0; i < 3 * SENDERS_PER_CHANNEL; i++) {
        jobs[i] = (struct sender_job){&c, i % 3};
        CHECK_OK(fbr_spawn(s, &senders[i], plain_sender, &jobs[i], NULL));
    }
    for (int i = 0; i < 3 * SENDERS_PER_CHANNEL; i++)
        CHECK_OK(fbr_join(senders[i], NULL));
    for (int i = 0; i < 3; i++)
        CHECK_OK(fbr_chan_close(c.in[i]));
    CHECK_OK(fbr_waitgroup_wait(c.receivers));
    long senders_total = 3 * SENDERS_PER_CHANNEL;
    CHECK_EQ(c.received_count, senders_total * c.per_sender);
    CHECK_EQ(c.received_sum, senders_total * c.per_sender * (c.per_sender + 1) / 2);
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
    CHECK_OK(fbr_waitgroup_destroy(c.receivers));
    for (int i = 0; i < 3; i++)
        CHECK_OK(fbr_chan_destroy(c.in[i]));
}

FBR_TEST(bad_selects_are_errors)
{
    fbr_chan *a = make(sizeof(int), 0);
    int v;
    size_t chosen;
    fbr_select_case bad_op[] = {{.chan = a, .op = 7, .elem = &v}};
    CHECK_EQ(fbr_select(bad_op, 1, FBR_NO_DEADLINE, 0, &chosen), FBR_EINVAL);
    fbr_select_case no_value[] = {{.chan = a, .op = FBR_SELECT_SEND, .elem = NULL}};
    CHECK_EQ(fbr_select(no_value, 1, FBR_NO_DEADLINE, 0, &chosen), FBR_EINVAL);
    CHECK_EQ(fbr_select(NULL, 1, FBR_NO_DEADLINE, 0, &chosen), FBR_EINVAL);
    fbr_select_case many[65];
    memset(many, 0, sizeof many);
    CHECK_EQ(fbr_select(many, 65, FBR_NO_DEADLINE, 0, &chosen), FBR_EINVAL);
    fbr_select_case only_nil[] = {{.chan = NULL, .op = FBR_SELECT_RECV, .elem = &v}};
    CHECK_EQ(fbr_select(only_nil, 1, FBR_NO_DEADLINE, 0, &chosen), FBR_EDEADLK);
    CHECK_EQ(fbr_select(only_nil, 1, fbr_deadline_in(FBR_MILLISECOND), 0, &chosen), FBR_ETIMEDOUT);
    CHECK_OK(fbr_chan_destroy(a));
}

FBR_TEST_MAIN()
