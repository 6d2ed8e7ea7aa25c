/* The asynchronous select: immediate completion, callbacks from whichever
 * side ends it, cancellation, close, the waiters it leaves (none), and
 * exactly-once delivery under contention. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

struct ending {
    int calls;
    int result;
    size_t chosen;
    long value;
    bool had_value;
};

static void record(void *state, int result, size_t chosen, const void *value)
{
    struct ending *e = state;
    e->calls++;
    e->result = result;
    e->chosen = chosen;
    e->had_value = value != NULL;
    if (value)
        memcpy(&e->value, value, sizeof e->value);
}

static fbr_chan *make(size_t cap)
{
    fbr_chan *ch;
    CHECK_OK(fbr_chan_create(&ch, sizeof(long), cap));
    return ch;
}

FBR_TEST(a_select_that_can_proceed_at_once_does)
{
    fbr_chan *idle = make(0), *ready = make(1);
    long v = 11, got = 0;
    CHECK_OK(fbr_chan_send(ready, &v));
    fbr_select_case cases[] = {
        {.chan = idle, .op = FBR_SELECT_RECV, .elem = &got},
        {.chan = ready, .op = FBR_SELECT_RECV, .elem = &got},
    };
    struct ending e = {0};
    size_t chosen = 99;
    fbr_select_async_op *op = (fbr_select_async_op *)&e;
    CHECK_OK(fbr_select_async(cases, 2, record, &e, &chosen, &op));
    CHECK(op == NULL);
    CHECK_EQ(chosen, 1);
    CHECK_EQ(got, 11);
    CHECK_EQ(cases[1].result, FBR_OK);
    CHECK_EQ(e.calls, 0);
    /* Nothing was left waiting. */
    CHECK_OK(fbr_chan_destroy(idle));
    CHECK_OK(fbr_chan_destroy(ready));
}

FBR_TEST(a_pending_select_ends_with_the_case_that_proceeds_and_leaves_no_waiters)
{
    fbr_chan *a = make(0), *b = make(0), *out = make(0);
    long got = 0, to_send = 5;
    fbr_select_case cases[] = {
        {.chan = a, .op = FBR_SELECT_RECV, .elem = &got},
        {.chan = out, .op = FBR_SELECT_SEND, .elem = &to_send},
        {.chan = b, .op = FBR_SELECT_RECV, .elem = &got},
    };
    struct ending e = {0};
    size_t chosen;
    fbr_select_async_op *op;
    CHECK_EQ(fbr_select_async(cases, 3, record, &e, &chosen, &op), FBR_PENDING);
    to_send = -1; /* the value was copied when the select started */
    /* Every channel is waited on meanwhile. */
    CHECK_EQ(fbr_chan_destroy(a), FBR_EBUSY);
    CHECK_EQ(fbr_chan_destroy(out), FBR_EBUSY);
    long v = 42;
    CHECK_OK(fbr_chan_send(b, &v)); /* completes the receive case at once, on this thread */
    CHECK_EQ(e.calls, 1);
    CHECK_EQ(e.result, FBR_OK);
    CHECK_EQ(e.chosen, 2);
    CHECK(e.had_value);
    CHECK_EQ(e.value, 42);
    CHECK_EQ(got, 0); /* the buffers given at the start are not written later */
    CHECK_EQ(fbr_select_async_cancel(op), FBR_EAGAIN);
    CHECK_OK(fbr_select_async_release(op));
    /* The other cases' waiters are gone: nothing takes the next value. */
    CHECK_EQ(fbr_chan_try_send(a, &v), FBR_EAGAIN);
    CHECK_EQ(fbr_chan_try_recv(out, &v), FBR_EAGAIN);

    /* A send case: the receiver gets the value copied at the start. */
    to_send = 7;
    e = (struct ending){0};
    CHECK_EQ(fbr_select_async(cases, 3, record, &e, &chosen, NULL), FBR_PENDING);
    to_send = -1;
    CHECK_OK(fbr_chan_recv(out, &v));
    CHECK_EQ(v, 7);
    CHECK_EQ(e.calls, 1);
    CHECK_EQ(e.chosen, 1);
    CHECK(!e.had_value);
    CHECK_OK(fbr_chan_destroy(a));
    CHECK_OK(fbr_chan_destroy(b));
    CHECK_OK(fbr_chan_destroy(out));
}

FBR_TEST(cancelling_a_select_reports_ecanceled_and_leaves_no_waiters)
{
    fbr_chan *a = make(0), *b = make(0);
    long got, v = 3;
    fbr_select_case cases[] = {
        {.chan = a, .op = FBR_SELECT_RECV, .elem = &got},
        {.chan = b, .op = FBR_SELECT_SEND, .elem = &v},
    };
    struct ending e = {0};
    size_t chosen;
    fbr_select_async_op *op;
    CHECK_EQ(fbr_select_async(cases, 2, record, &e, &chosen, &op), FBR_PENDING);
    CHECK_OK(fbr_select_async_release(op)); /* the handle may go first... */
    CHECK_EQ(e.calls, 0);                   /* ...the select goes on */
    CHECK_EQ(fbr_select_async(cases, 2, record, &e, &chosen, &op), FBR_PENDING);
    CHECK_OK(fbr_select_async_cancel(op));
    CHECK_EQ(e.calls, 1);
    CHECK_EQ(e.result, FBR_ECANCELED);
    CHECK_EQ(e.chosen, SIZE_MAX);
    CHECK_EQ(fbr_select_async_cancel(op), FBR_EAGAIN);
    CHECK_OK(fbr_select_async_release(op));
    /* The first select is still waiting; a close ends it. */
    CHECK_OK(fbr_chan_close(a));
    CHECK_EQ(e.calls, 2);
    CHECK_EQ(e.result, FBR_ECLOSED);
    CHECK_EQ(e.chosen, 0);
    CHECK(!e.had_value);
    CHECK_OK(fbr_chan_destroy(a));
    CHECK_OK(fbr_chan_destroy(b));
}

/* Fibers send on three channels; pending selects started from this thread
 * collect, their callbacks running on the workers (never on a fiber's
 * stack). A checksum proves each value arrived once. */
struct collector {
    long sum, count;
    fbr_waitgroup *done;
};

static void collect(void *state, int result, size_t chosen, const void *value)
{
    struct collector *c = state;
    CHECK(fbr_fiber_self() == NULL);
    CHECK_OK(result);
    CHECK(chosen < 3);
    long v;
    memcpy(&v, value, sizeof v);
    __atomic_add_fetch(&c->sum, v, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&c->count, 1, __ATOMIC_SEQ_CST);
    CHECK_OK(fbr_waitgroup_done(c->done));
}

struct range {
    fbr_chan *ch;
    long from;
};

static void *send_range(void *arg)
{
    struct range *r = arg;
    for (long i = r->from; i < r->from + 1000; i++)
        CHECK_OK(fbr_chan_send(r->ch, &i));
    return NULL;
}

FBR_TEST(selects_completed_by_worker_fibers_deliver_every_value_once)
{
    fbr_sched *s;
    CHECK_OK(fbr_sched_create(&s, NULL));
    fbr_chan *chans[3] = {make(0), make(2), make(0)};
    struct collector c = {0};
    CHECK_OK(fbr_waitgroup_create(&c.done));
    enum { SENDERS = 6, TOTAL = SENDERS * 1000 };
    CHECK_OK(fbr_waitgroup_add(c.done, TOTAL));
    struct range ranges[SENDERS];
    fbr_fiber *senders[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        ranges[i] = (struct range){chans[i % 3], i * 1000L};
        CHECK_OK(fbr_spawn(s, &senders[i], send_range, &ranges[i], NULL));
    }
    long pending = 0;
    for (int i = 0; i < TOTAL; i++) {
        long buffers[3];
        fbr_select_case cases[3];
        for (int k = 0; k < 3; k++)
            cases[k] = (fbr_select_case){.chan = chans[k], .op = FBR_SELECT_RECV, .elem = &buffers[k]};
        size_t chosen;
        fbr_select_async_op *op = NULL;
        int rc = fbr_select_async(cases, 3, collect, &c, &chosen, i % 2 ? &op : NULL);
        if (rc == FBR_OK) {
            collect(&c, cases[chosen].result, chosen, &buffers[chosen]);
        } else {
            CHECK_EQ(rc, FBR_PENDING);
            pending++;
        }
        if (op)
            CHECK_OK(fbr_select_async_release(op));
    }
    CHECK_OK(fbr_waitgroup_wait(c.done));
    for (int i = 0; i < SENDERS; i++)
        CHECK_OK(fbr_join(senders[i], NULL));
    CHECK_EQ(c.count, TOTAL);
    CHECK_EQ(c.sum, (long)TOTAL * (TOTAL - 1) / 2);
    CHECK(pending > 0); /* some had to wait for a fiber */
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
    CHECK_OK(fbr_waitgroup_destroy(c.done));
    for (int k = 0; k < 3; k++)
        CHECK_OK(fbr_chan_destroy(chans[k])); /* no select left a waiter behind */
}

/* A select started from a worker's callback may run the fiber that answers
 * it before the call returns (as fbr_chan_recv_async does): a callback-driven
 * ping-pong whose answers are awaited by a select over the answer's channel
 * and one nobody sends on. */
struct select_relay {
    fbr_chan *ping, *pong, *idle;
    long rounds;
    long sum, ended_in_call, pending, callbacks, wrong_case;
    int closed_result;
    fbr_waitgroup *done;
};

static void select_relay_answer(struct select_relay *r, int result, size_t chosen, long answer);

static void select_relay_callback(void *state, int result, size_t chosen, const void *value)
{
    struct select_relay *r = state;
    CHECK(fbr_fiber_self() == NULL);
    r->callbacks++;
    long answer = 0;
    if (value)
        memcpy(&answer, value, sizeof answer);
    select_relay_answer(r, result, chosen, answer);
}

static void select_relay_answer(struct select_relay *r, int result, size_t chosen, long answer)
{
    for (;;) {
        CHECK_OK(result);
        if (chosen != 0)
            r->wrong_case++;
        long ping = answer;
        r->sum += answer;
        if (fbr_chan_try_send(r->ping, &ping) == FBR_ECLOSED) {
            r->closed_result = FBR_ECLOSED;
            CHECK_OK(fbr_waitgroup_done(r->done));
            return;
        }
        long buffer = -1, unused = -1;
        fbr_select_case cases[] = {{r->pong, FBR_SELECT_RECV, &buffer, 0}, {r->idle, FBR_SELECT_RECV, &unused, 0}};
        result = fbr_select_async(cases, 2, select_relay_callback, r, &chosen, NULL);
        if (result == FBR_PENDING) {
            r->pending++;
            return;
        }
        CHECK_OK(result);
        result = cases[chosen].result;
        r->ended_in_call++;
        answer = buffer;
        CHECK_EQ(unused, -1);
    }
}

/* Answers v with v + 1, `rounds` times, then closes its input. */
static void *select_echo(void *arg)
{
    struct select_relay *r = arg;
    for (long i = 0; i < r->rounds; i++) {
        long v;
        CHECK_OK(fbr_chan_recv(r->ping, &v));
        v++;
        CHECK_OK(fbr_chan_send(r->pong, &v));
    }
    CHECK_OK(fbr_chan_close(r->ping));
    return NULL;
}

FBR_TEST(a_select_started_in_a_worker_callback_can_end_before_the_call_returns)
{
    fbr_sched *s;
    fbr_sched_options one_worker = {.workers = 1};
    CHECK_OK(fbr_sched_create(&s, &one_worker));
    struct select_relay r = {.ping = make(0), .pong = make(0), .idle = make(0), .rounds = 3000};
    CHECK_OK(fbr_waitgroup_create(&r.done));
    CHECK_OK(fbr_waitgroup_add(r.done, 1));
    fbr_fiber *echo;
    CHECK_OK(fbr_spawn(s, &echo, select_echo, &r, NULL));
    long buffer, unused, first = 0;
    size_t chosen;
    fbr_select_case cases[] = {{r.pong, FBR_SELECT_RECV, &buffer, 0}, {r.idle, FBR_SELECT_RECV, &unused, 0}};
    CHECK_EQ(fbr_select_async(cases, 2, select_relay_callback, &r, &chosen, NULL), FBR_PENDING); /* not on a worker */
    CHECK_OK(fbr_chan_send(r.ping, &first));
    CHECK_OK(fbr_waitgroup_wait(r.done));
    CHECK_OK(fbr_join(echo, NULL));
    /* Every answer once and in order; each select ended one way, in its call
     * or in one callback; the idle channel was never chosen and keeps no
     * waiter (destroy refuses a channel that is waited on). */
    CHECK_EQ(r.sum, r.rounds * (r.rounds + 1) / 2);
    CHECK_EQ(r.closed_result, FBR_ECLOSED);
    CHECK_EQ(r.wrong_case, 0);
    CHECK_EQ(r.ended_in_call + r.pending, r.rounds - 1); /* after each answer but the last */
    CHECK_EQ(r.callbacks, r.pending + 1);                   /* and the first select's */
    CHECK(r.ended_in_call > r.rounds / 2);
    CHECK(r.pending >= r.rounds / 61);
    CHECK_OK(fbr_waitgroup_destroy(r.done));
    CHECK_OK(fbr_chan_destroy(r.idle));
    CHECK_OK(fbr_chan_destroy(r.ping));
    CHECK_OK(fbr_chan_destroy(r.pong));
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
}

FBR_TEST(bad_async_selects_are_errors)
{
    fbr_chan *ch = make(0);
    long v = 0;
    size_t chosen;
    fbr_select_case one = {.chan = ch, .op = FBR_SELECT_RECV, .elem = &v};
    fbr_select_case nil = {.chan = NULL, .op = FBR_SELECT_RECV, .elem = &v};
    fbr_select_case bad_op = {.chan = ch, .op = 7, .elem = &v};
    fbr_select_case many[65];
    for (int i = 0; i < 65; i++)
        many[i] = one;
    CHECK_EQ(fbr_select_async(&one, 1, NULL, NULL, &chosen, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_select_async(&one, 1, record, NULL, NULL, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_select_async(NULL, 1, record, NULL, &chosen, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_select_async(&bad_op, 1, record, NULL, &chosen, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_select_async(many, 65, record, NULL, &chosen, NULL), FBR_EINVAL);
    CHECK_EQ(fbr_select_async(&nil, 1, record, NULL, &chosen, NULL), FBR_EDEADLK);
    CHECK_EQ(fbr_select_async_cancel(NULL), FBR_EINVAL);
    CHECK_EQ(fbr_select_async_release(NULL), FBR_EINVAL);
    CHECK_OK(fbr_chan_destroy(ch));
}

FBR_TEST_MAIN()
