/* Asynchronous channel operations: immediate completion, callbacks from
 * whichever side completes, cancellation, close, and handle lifetimes. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

struct outcome {
    int calls;
    int result;
    long value;
    int had_value;
};

static void record(void *state, int result, const void *value)
{
    struct outcome *o = state;
    o->calls++;
    o->result = result;
    o->had_value = value != NULL;
    if (value)
        memcpy(&o->value, value, sizeof o->value);
}

static fbr_chan *make(size_t cap)
{
    fbr_chan *ch;
    CHECK_OK(fbr_chan_create(&ch, sizeof(long), cap));
    return ch;
}

FBR_TEST(an_operation_that_can_complete_at_once_does)
{
    fbr_chan *ch = make(1);
    struct outcome o = {0};
    fbr_chan_op *op = (fbr_chan_op *)1;
    long v = 5;
    CHECK_EQ(fbr_chan_send_async(ch, &v, record, &o, &op), FBR_OK);
    CHECK(op == NULL);
    v = 0;
    CHECK_EQ(fbr_chan_recv_async(ch, &v, record, &o, &op), FBR_OK);
    CHECK_EQ(v, 5);
    CHECK_EQ(o.calls, 0); /* no callback for immediate completion */
    CHECK_OK(fbr_chan_close(ch));
    CHECK_EQ(fbr_chan_recv_async(ch, &v, record, &o, &op), FBR_ECLOSED);
    CHECK_OK(fbr_chan_destroy(ch));
}

FBR_TEST(a_pending_receive_is_completed_by_a_later_send)
{
    fbr_chan *ch = make(0);
    struct outcome o = {0};
    fbr_chan_op *op;
    long buffer = 0;
    CHECK_EQ(fbr_chan_recv_async(ch, &buffer, record, &o, &op), FBR_PENDING);
    CHECK(op != NULL);
    CHECK_EQ(fbr_chan_destroy(ch), FBR_EBUSY);
    long v = 42;
    CHECK_OK(fbr_chan_send(ch, &v)); /* a receiver is waiting: does not block */
    CHECK_EQ(o.calls, 1);
    CHECK_EQ(o.result, FBR_OK);
    CHECK(o.had_value);
    CHECK_EQ(o.value, 42);
    CHECK_EQ(fbr_chan_op_cancel(op), FBR_EAGAIN); /* too late */
    CHECK_OK(fbr_chan_op_release(op));
    CHECK_OK(fbr_chan_destroy(ch));
}

FBR_TEST(a_pending_send_is_completed_by_a_later_receive)
{
    fbr_chan *ch = make(0);
    struct outcome o = {0};
    fbr_chan_op *op;
    long v = 7;
    CHECK_EQ(fbr_chan_send_async(ch, &v, record, &o, &op), FBR_PENDING);
    v = 99; /* the value was copied when the send started */
    CHECK_OK(fbr_chan_op_release(op)); /* released early: the send goes on */
    long got = 0;
    CHECK_OK(fbr_chan_recv(ch, &got));
    CHECK_EQ(got, 7);
    CHECK_EQ(o.calls, 1);
    CHECK_EQ(o.result, FBR_OK);
    CHECK(!o.had_value);
    CHECK_OK(fbr_chan_destroy(ch));
}

FBR_TEST(cancelling_reports_ecanceled_and_leaves_no_trace)
{
    fbr_chan *ch = make(0);
    struct outcome o = {0};
    fbr_chan_op *op;
    long buffer;
    CHECK_EQ(fbr_chan_recv_async(ch, &buffer, record, &o, &op), FBR_PENDING);
    CHECK_OK(fbr_chan_op_cancel(op));
    CHECK_EQ(o.calls, 1);
    CHECK_EQ(o.result, FBR_ECANCELED);
    CHECK_EQ(fbr_chan_op_cancel(op), FBR_EAGAIN);
    CHECK_OK(fbr_chan_op_release(op));
    long v = 1;
    CHECK_EQ(fbr_chan_try_send(ch, &v), FBR_EAGAIN); /* nobody waits any more */
    CHECK_OK(fbr_chan_destroy(ch));
}

/* A partner and a cancel both claim an operation under the channel's lock,
 * with a plain load and store (no compare-and-swap): however they
 * interleave, exactly one of them ends it. */
struct cancel_race {
    fbr_chan *ch;
    unsigned go;   /* round number the sender may start */
    unsigned done; /* rounds the sender has finished */
    int sent[2000];
};

static void *race_sender(void *arg)
{
    struct cancel_race *r = arg;
    for (unsigned round = 1; round <= 2000; round++) {
        while (__atomic_load_n(&r->go, __ATOMIC_ACQUIRE) != round)
            ;
        long v = round;
        r->sent[round - 1] = fbr_chan_try_send(r->ch, &v);
        __atomic_store_n(&r->done, round, __ATOMIC_RELEASE);
    }
    return NULL;
}

FBR_TEST(a_cancel_racing_a_partner_lets_exactly_one_end_the_operation)
{
    struct cancel_race r = {.ch = make(0)};
    pthread_t sender;
    CHECK_EQ(pthread_create(&sender, NULL, race_sender, &r), 0);
    int cancelled = 0, delivered = 0;
    for (unsigned round = 1; round <= 2000; round++) {
        struct outcome o = {0};
        fbr_chan_op *op;
        long buffer = 0;
        CHECK_EQ(fbr_chan_recv_async(r.ch, &buffer, record, &o, &op), FBR_PENDING);
        __atomic_store_n(&r.go, round, __ATOMIC_RELEASE);
        /* A delay that varies by round, around the sender's reaction time,
         * so that either side wins in some rounds. */
        for (volatile unsigned spin = 0; spin < (round % 64) * 40; spin++)
            ;
        int rc = fbr_chan_op_cancel(op);
        while (__atomic_load_n(&r.done, __ATOMIC_ACQUIRE) != round)
            ;
        CHECK_EQ(o.calls, 1);
        if (rc == FBR_OK) {
            cancelled++;
            CHECK_EQ(o.result, FBR_ECANCELED);
            CHECK_EQ(r.sent[round - 1], FBR_EAGAIN); /* the value did not go anywhere */
        } else {
            delivered++;
            CHECK_EQ(rc, FBR_EAGAIN);
            CHECK_EQ(o.result, FBR_OK);
            CHECK_EQ(o.value, (long)round);
            CHECK_OK(r.sent[round - 1]);
        }
        CHECK_OK(fbr_chan_op_release(op));
    }
    CHECK_EQ(pthread_join(sender, NULL), 0);
    CHECK_EQ(cancelled + delivered, 2000);
    CHECK_OK(fbr_chan_destroy(r.ch)); /* nothing left queued */
}

FBR_TEST(close_ends_pending_operations_with_eclosed)
{
    fbr_chan *ch = make(0);
    struct outcome r = {0}, s = {0};
    fbr_chan_op *rop, *sop;
    long buffer, v = 3;
    CHECK_EQ(fbr_chan_recv_async(ch, &buffer, record, &r, &rop), FBR_PENDING);
    fbr_chan *other = make(0);
    CHECK_EQ(fbr_chan_send_async(other, &v, record, &s, &sop), FBR_PENDING);
    CHECK_OK(fbr_chan_close(ch));
    CHECK_OK(fbr_chan_close(other));
    CHECK_EQ(r.calls, 1);
    CHECK_EQ(r.result, FBR_ECLOSED);
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(s.result, FBR_ECLOSED);
    CHECK_OK(fbr_chan_op_release(rop));
    CHECK_OK(fbr_chan_op_release(sop));
    CHECK_OK(fbr_chan_destroy(ch));
    CHECK_OK(fbr_chan_destroy(other));
}

FBR_TEST(an_operation_started_without_a_handle_reports_its_end_and_frees_itself)
{
    fbr_chan *ch = make(0);
    struct outcome r = {0}, s = {0};
    long buffer = 0, v = 11;
    CHECK_EQ(fbr_chan_recv_async(ch, &buffer, record, &r, NULL), FBR_PENDING);
    CHECK_EQ(fbr_chan_destroy(ch), FBR_EBUSY); /* it is still pending, handle or not */
    CHECK_OK(fbr_chan_send(ch, &v));
    CHECK_EQ(r.calls, 1);
    CHECK_EQ(r.result, FBR_OK);
    CHECK_EQ(r.value, 11);
    /* A send without a handle, ended by close; the sanitizer build checks
     * that neither block outlives its callback. */
    CHECK_EQ(fbr_chan_send_async(ch, &v, record, &s, NULL), FBR_PENDING);
    CHECK_OK(fbr_chan_close(ch));
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(s.result, FBR_ECLOSED);
    CHECK_OK(fbr_chan_destroy(ch));
}

/* Fibers send; pending receives started from this thread collect. The
 * callbacks run on the workers; a checksum proves every value arrived once. */
struct collector {
    long sum, count;
    fbr_waitgroup *done;
};

static void collect(void *state, int result, const void *value)
{
    struct collector *c = state;
    /* Completed by fibers, but never run on a fiber's stack: callbacks may
     * be code (like .NET's) that must run on a thread's own stack. */
    CHECK(fbr_fiber_self() == NULL);
    if (result == FBR_OK) {
        long v;
        memcpy(&v, value, sizeof v);
        __atomic_add_fetch(&c->sum, v, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&c->count, 1, __ATOMIC_SEQ_CST);
    }
    CHECK_OK(fbr_waitgroup_done(c->done));
}

static void *send_range(void *arg)
{
    fbr_chan *ch = arg;
    for (long i = 1; i <= 1000; i++)
        CHECK_OK(fbr_chan_send(ch, &i));
    return NULL;
}

/* The receives' blocks are freed on the workers (the handle is released
 * first, or there is none) and kept there as spares until the workers exit:
 * the sanitizer build fails on any block left behind. */
static void collect_from_workers(bool with_handles)
{
    fbr_sched *s;
    CHECK_OK(fbr_sched_create(&s, NULL));
    fbr_chan *ch = make(4);
    struct collector c = {0};
    CHECK_OK(fbr_waitgroup_create(&c.done));
    enum { SENDERS = 8, TOTAL = SENDERS * 1000 };
    CHECK_OK(fbr_waitgroup_add(c.done, TOTAL));
    fbr_fiber *senders[SENDERS];
    for (int i = 0; i < SENDERS; i++)
        CHECK_OK(fbr_spawn(s, &senders[i], send_range, ch, NULL));
    for (int i = 0; i < TOTAL; i++) {
        long buffer;
        fbr_chan_op *op = NULL;
        int rc = fbr_chan_recv_async(ch, &buffer, collect, &c, with_handles ? &op : NULL);
        if (rc == FBR_OK)
            collect(&c, FBR_OK, &buffer);
        else
            CHECK_EQ(rc, FBR_PENDING);
        if (op)
            CHECK_OK(fbr_chan_op_release(op));
    }
    CHECK_OK(fbr_waitgroup_wait(c.done));
    for (int i = 0; i < SENDERS; i++)
        CHECK_OK(fbr_join(senders[i], NULL));
    CHECK_EQ(c.count, TOTAL);
    CHECK_EQ(c.sum, SENDERS * 1000L * 1001 / 2);
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
    CHECK_OK(fbr_waitgroup_destroy(c.done));
    CHECK_OK(fbr_chan_destroy(ch));
}

FBR_TEST(callbacks_from_worker_threads_deliver_every_value)
{
    collect_from_workers(true);
}

FBR_TEST(receives_without_handles_completed_on_workers_deliver_every_value)
{
    collect_from_workers(false);
}

/* An async ping-pong driven from callbacks, as C# continuations run on a
 * worker: each answer's callback sends the next ping to a native echo fiber
 * and starts the receive of its answer. That receive may end inside the
 * call (the worker runs the woken echo first); every few rounds it must go
 * back to the worker's loop and end in a callback. */
struct relay {
    fbr_chan *ping, *pong;
    long rounds;
    long sum, ended_in_call, pending, callbacks, sends_pending;
    int closed_result;
    fbr_waitgroup *done;
};

static void relay_answer(struct relay *r, int result, long answer);

static void relay_callback(void *state, int result, const void *value)
{
    struct relay *r = state;
    CHECK(fbr_fiber_self() == NULL);
    r->callbacks++;
    long answer = 0;
    if (value)
        memcpy(&answer, value, sizeof answer);
    relay_answer(r, result, answer);
}

static void count_send(void *state, int result, const void *value)
{
    (void)value;
    CHECK_OK(result);
    ((struct relay *)state)->sends_pending++;
}

static void relay_answer(struct relay *r, int result, long answer)
{
    for (;;) {
        if (result == FBR_ECLOSED) {
            r->closed_result = result;
            CHECK_OK(fbr_waitgroup_done(r->done));
            return;
        }
        CHECK_OK(result);
        r->sum += answer;
        long ping = answer;
        int rc = fbr_chan_send_async(r->ping, &ping, count_send, r, NULL);
        CHECK(rc == FBR_OK || rc == FBR_PENDING);
        long buffer = -1;
        result = fbr_chan_recv_async(r->pong, &buffer, relay_callback, r, NULL);
        if (result == FBR_PENDING) {
            r->pending++;
            return;
        }
        r->ended_in_call++;
        answer = buffer;
    }
}

/* Answers v with v + 1 until it has answered `rounds` times, then closes. */
static void *echo_then_close(void *arg)
{
    struct relay *r = arg;
    for (long i = 0; i < r->rounds; i++) {
        long v;
        CHECK_OK(fbr_chan_recv(r->ping, &v));
        v++;
        CHECK_OK(fbr_chan_send(r->pong, &v));
    }
    long last;
    CHECK_OK(fbr_chan_recv(r->ping, &last)); /* the ping after the last answer */
    CHECK_EQ(last, r->rounds);
    CHECK_OK(fbr_chan_close(r->pong));
    return NULL;
}

FBR_TEST(a_receive_started_in_a_worker_callback_can_end_before_the_call_returns)
{
    fbr_sched *s;
    fbr_sched_options one_worker = {.workers = 1};
    CHECK_OK(fbr_sched_create(&s, &one_worker));
    struct relay r = {.ping = make(0), .pong = make(0), .rounds = 3000};
    CHECK_OK(fbr_waitgroup_create(&r.done));
    CHECK_OK(fbr_waitgroup_add(r.done, 1));
    fbr_fiber *echo;
    CHECK_OK(fbr_spawn(s, &echo, echo_then_close, &r, NULL));
    long buffer, first = 0;
    CHECK_EQ(fbr_chan_recv_async(r.pong, &buffer, relay_callback, &r, NULL), FBR_PENDING); /* not on a worker */
    CHECK_OK(fbr_chan_send(r.ping, &first));
    CHECK_OK(fbr_waitgroup_wait(r.done));
    CHECK_OK(fbr_join(echo, NULL));
    /* Every answer arrived once, in order (the echo checks the last ping),
     * and each receive ended one way: in its call or in one callback. */
    CHECK_EQ(r.sum, r.rounds * (r.rounds + 1) / 2);
    CHECK_EQ(r.closed_result, FBR_ECLOSED);
    CHECK_EQ(r.ended_in_call + r.pending, r.rounds);
    CHECK_EQ(r.callbacks, r.pending + 1); /* the first receive's, and one per pending one */
    CHECK(r.ended_in_call > r.rounds / 2);
    CHECK(r.pending >= r.rounds / 61); /* the loop's rounds still come */
    CHECK_EQ(r.sends_pending, 0);      /* the echo was always waiting for the ping */
    CHECK_OK(fbr_waitgroup_destroy(r.done));
    CHECK_OK(fbr_chan_destroy(r.ping));
    CHECK_OK(fbr_chan_destroy(r.pong));
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
}

FBR_TEST(bad_async_arguments_are_errors)
{
    fbr_chan *ch = make(0);
    fbr_chan_op *op;
    long v = 0;
    CHECK_EQ(fbr_chan_recv_async(NULL, &v, record, NULL, &op), FBR_EINVAL);
    CHECK_EQ(fbr_chan_recv_async(ch, &v, NULL, NULL, &op), FBR_EINVAL);
    CHECK_EQ(fbr_chan_send_async(ch, NULL, record, NULL, &op), FBR_EINVAL);
    CHECK_EQ(fbr_chan_op_cancel(NULL), FBR_EINVAL);
    CHECK_EQ(fbr_chan_op_release(NULL), FBR_EINVAL);
    CHECK_OK(fbr_chan_destroy(ch));
}

FBR_TEST_MAIN()
