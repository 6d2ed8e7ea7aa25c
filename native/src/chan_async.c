/*
 * Channel operations that never block their caller: for event loops and
 * for .NET's async code, which must be told when a send or receive ends.
 *
 * A pending operation is a heap block holding its wait, its queue node and,
 * for a receive, room for the value. Two references keep it alive: the
 * caller's handle (if the caller wanted one) and the operation itself;
 * whichever is dropped last frees it, so a handle may be released before or
 * after the callback.
 *
 * Freed blocks with room for small values stay with the thread that freed
 * them (if it has the runtime's thread state, as workers do), a few at a
 * time, for its next pending operation: async code awaits one operation
 * after another, and malloc plus free was a tenth of a C# async ping-pong
 * round trip whose continuations run on the worker.
 */
#include <stdlib.h>
#include <string.h>

#include "chan_internal.h"
#include "error_internal.h"
#include "sched_internal.h"
#include "thread.h"

#define OP_MAGIC 0x4F4E4843u /* "CHNO" */

struct fbr_chan_op {
    fbr__wait wait; /* first: the completion callback gets a fbr__wait * */
    fbr__wait_node node;
    uint32_t magic;
    uint32_t references; /* atomic */
    struct fbr_chan *chan;
    bool receive;
    fbr_chan_callback callback;
    void *state;
    size_t value_capacity;
    char value[]; /* value_capacity >= elem_size bytes */
};

/* Values up to this size share one block size, so that a spare block suits
 * any channel of small elements; larger ones get a block of their own. */
#define SPARE_VALUE_SIZE 64

/* A block for an operation on elements of elem_size bytes (start() sets
 * every field): the spare of thread `t` (the caller's state, or NULL) if it
 * has one. */
static struct fbr_chan_op *new_op(struct fbr__thread *t, size_t elem_size)
{
    if (t && elem_size <= SPARE_VALUE_SIZE && t->spare_chan_op_count)
        return t->spare_chan_ops[--t->spare_chan_op_count];
    size_t capacity = elem_size <= SPARE_VALUE_SIZE ? SPARE_VALUE_SIZE : elem_size;
    struct fbr_chan_op *op = malloc(sizeof *op + capacity);
    if (op)
        op->value_capacity = capacity;
    return op;
}

/* Frees `op` or keeps it as a spare of thread `t` (the caller's state, or NULL). */
static void free_op_on(struct fbr__thread *t, struct fbr_chan_op *op)
{
    op->magic = 0;
    if (t && op->value_capacity == SPARE_VALUE_SIZE && t->spare_chan_op_count < FBR__SPARE_CHAN_OPS)
        t->spare_chan_ops[t->spare_chan_op_count++] = op;
    else
        free(op);
}

static void free_op(struct fbr_chan_op *op)
{
    free_op_on(fbr__thread_peek(), op);
}

static void drop_reference(struct fbr_chan_op *op)
{
    if (__atomic_sub_fetch(&op->references, 1, __ATOMIC_ACQ_REL) == 0)
        free_op(op);
}

static void report(struct fbr_chan_op *op, int result)
{
    const void *value = op->receive && result == FBR_OK ? (const void *)op->value : NULL;
    op->callback(op->state, result, value);
    drop_reference(op);
}

/* The channel claimed and completed our wait (value moved, result set). */
static void on_complete(fbr__wait *w)
{
    struct fbr_chan_op *op = (struct fbr_chan_op *)w;
    report(op, w->result);
}

/* An operation that ended before its start call returned: the call reports
 * the end, and the callback never runs. */
static int end_here(struct fbr__thread *t, struct fbr_chan_op *op, void *elem)
{
    int result = op->wait.result;
    if (op->receive && result == FBR_OK && elem)
        fbr__chan_copy(elem, op->value, op->chan->elem_size);
    free_op_on(t, op);
    if (result == FBR_ECLOSED)
        return fbr__fail(FBR_ECLOSED, "the channel is closed");
    return result;
}

static int start(struct fbr_chan *ch, bool receive, void *elem, fbr_chan_callback callback, void *state,
                 fbr_chan_op **out)
{
    if (out)
        *out = NULL;
    if (!fbr__is_chan(ch) || callback == NULL)
        return fbr__fail(FBR_EINVAL, "asynchronous channel operation: bad channel or callback");
    if (!receive && elem == NULL && ch->elem_size)
        return fbr__fail(FBR_EINVAL, "fbr_chan_send_async: elem is NULL");
    fbr__lock_acquire(&ch->lock);
    fbr__wait *woken;
    enum fbr__chan_attempt attempt =
        receive ? fbr__chan_try_recv_locked(ch, elem, &woken) : fbr__chan_try_send_locked(ch, elem, &woken);
    if (attempt != FBR__CHAN_WOULD_BLOCK) {
        fbr__lock_release(&ch->lock);
        if (woken)
            fbr__wait_complete(woken);
        return attempt == FBR__CHAN_DONE ? FBR_OK : fbr__fail(FBR_ECLOSED, "the channel is closed");
    }
    /* Read once: nothing below switches this caller to another thread (a
     * fiber run for a callback runs on this thread, below this frame). */
    struct fbr__thread *t = fbr__thread_peek();
    struct fbr_chan_op *op = new_op(t, ch->elem_size);
    if (op == NULL) {
        fbr__lock_release(&ch->lock);
        return fbr__fail(FBR_ENOMEM, "out of memory for a pending channel operation");
    }
    /* Partners, a close and fbr_chan_op_cancel all claim it under the channel's lock. */
    op->wait = (fbr__wait){.kind = FBR__WAIT_CALLBACK, .claimed_under_lock = true, .on_complete = on_complete};
    op->magic = OP_MAGIC;
    /* The operation holds a reference, the caller's handle another; and a
     * start that may see its end (below) one until it has looked. */
    struct fbr__worker *may_end_here = fbr__sched_callback_worker_of(t);
    op->references = (out ? 2 : 1) + (may_end_here != NULL);
    op->chan = ch;
    op->receive = receive;
    op->callback = callback;
    op->state = state;
    if (!receive)
        fbr__chan_copy(op->value, elem, ch->elem_size);
    op->node = (fbr__wait_node){.wait = &op->wait, .token = 1, .elem = op->value};
    fbr__wait_queue_push(receive ? &ch->receivers : &ch->senders, &op->node);
    fbr__lock_release(&ch->lock);
    if (may_end_here) {
        if (fbr__sched_run_next_for_callback(may_end_here, &op->wait))
            return end_here(t, op, elem);
        drop_reference(op);
    }
    if (out)
        *out = op;
    return FBR_PENDING;
}

int fbr_chan_send_async(fbr_chan *ch, const void *elem, fbr_chan_callback callback, void *state, fbr_chan_op **op)
{
    return start(ch, false, (void *)elem, callback, state, op);
}

int fbr_chan_recv_async(fbr_chan *ch, void *elem, fbr_chan_callback callback, void *state, fbr_chan_op **op)
{
    return start(ch, true, elem, callback, state, op);
}

static bool is_op(const struct fbr_chan_op *op)
{
    return op != NULL && op->magic == OP_MAGIC;
}

int fbr_chan_op_cancel(fbr_chan_op *op)
{
    if (!is_op(op))
        return fbr__fail(FBR_EINVAL, "fbr_chan_op_cancel: not a pending operation");
    struct fbr_chan *ch = op->chan;
    fbr__lock_acquire(&ch->lock);
    if (!fbr__wait_claim(&op->wait, FBR__CLAIM_TIMEOUT)) {
        fbr__lock_release(&ch->lock);
        return FBR_EAGAIN; /* it ended, or its end is being delivered */
    }
    fbr__wait_queue_remove(op->receive ? &ch->receivers : &ch->senders, &op->node);
    fbr__lock_release(&ch->lock);
    report(op, FBR_ECANCELED);
    return FBR_OK;
}

int fbr_chan_op_release(fbr_chan_op *op)
{
    if (!is_op(op))
        return fbr__fail(FBR_EINVAL, "fbr_chan_op_release: not a pending operation");
    drop_reference(op);
    return FBR_OK;
}
