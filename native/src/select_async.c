/*
 * A select that never blocks its caller, for event loops and .NET's async
 * code: fbr_select's attempt, and if no case is ready one shared wait queued
 * on every channel, as the blocking select does, but in a heap block that
 * also holds the nodes, the values to send and room for the one received.
 *
 * Whichever channel operation claims the wait first performs its case (a
 * receive lands in the block). The end is reported from the completion: it
 * takes the select's other nodes out of their queues under the channels'
 * locks (operations that meet them before then find them claimed and skip
 * them), then calls the callback. As with fbr_chan_op, the block has two
 * references, the select's and the caller's handle (if wanted).
 */
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "sched_internal.h"
#include "select_internal.h"
#include "wait.h"

#define SELECT_OP_MAGIC 0x4C455341u /* "ASEL" */

struct select_case_state {
    struct fbr_chan *chan;
    int op;
    bool has_value; /* a receive of non-empty values */
    fbr__wait_node node;
};

struct fbr_select_async_op {
    fbr__wait wait; /* first: the completion gets a fbr__wait * */
    uint32_t magic;
    uint32_t references; /* atomic */
    fbr_select_callback callback;
    void *state;
    size_t count;
    struct fbr__select_set set;
    struct select_case_state cases[]; /* count of them, then the values */
};

/* Values live after the cases, each in a 16-byte-aligned slot. */
static size_t slot_size(size_t elem_size)
{
    return (elem_size + 15) & ~(size_t)15;
}

static void drop_reference(struct fbr_select_async_op *op)
{
    if (__atomic_sub_fetch(&op->references, 1, __ATOMIC_ACQ_REL) == 0) {
        op->magic = 0;
        free(op);
    }
}

/* With every channel of the set locked: no node of ours stays queued. */
static void unqueue_all_locked(struct fbr_select_async_op *op)
{
    for (size_t i = 0; i < op->count; i++)
        if (op->cases[i].chan)
            fbr__wait_queue_remove(fbr__select_queue(op->cases[i].chan, op->cases[i].op), &op->cases[i].node);
}

static void on_complete(fbr__wait *w)
{
    struct fbr_select_async_op *op = (struct fbr_select_async_op *)w;
    fbr__select_lock_all(&op->set);
    unqueue_all_locked(op);
    fbr__select_unlock_all(&op->set);
    size_t chosen = __atomic_load_n(&w->claim, __ATOMIC_ACQUIRE) - 1;
    const struct select_case_state *c = &op->cases[chosen];
    const void *value = c->has_value && w->result == FBR_OK ? c->node.elem : NULL;
    op->callback(op->state, w->result, chosen, value);
    drop_reference(op);
}

/* A select that ended before its start call returned (the fiber it ran for a
 * callback performed a case): the call reports the end as an immediate one,
 * and the callback never runs. Nobody else has seen the block. */
static int end_here(struct fbr_select_async_op *op, fbr_select_case *cases, size_t *chosen)
{
    fbr__select_lock_all(&op->set);
    unqueue_all_locked(op);
    fbr__select_unlock_all(&op->set);
    size_t index = __atomic_load_n(&op->wait.claim, __ATOMIC_ACQUIRE) - 1;
    const struct select_case_state *c = &op->cases[index];
    cases[index].result = op->wait.result;
    if (c->has_value && cases[index].elem) {
        /* As a case ready at once: the value, or zeroes from a closed channel. */
        if (op->wait.result == FBR_OK)
            fbr__chan_copy(cases[index].elem, c->node.elem, c->chan->elem_size);
        else
            memset(cases[index].elem, 0, c->chan->elem_size);
    }
    *chosen = index;
    op->magic = 0;
    free(op);
    return FBR_OK;
}

int fbr_select_async(fbr_select_case *cases, size_t count, fbr_select_callback callback, void *state,
                     size_t *chosen, fbr_select_async_op **out)
{
    if (out)
        *out = NULL;
    if (callback == NULL || chosen == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_select_async: callback or chosen is NULL");
    struct fbr__select_set set;
    uint8_t order[FBR__SELECT_MAX_CASES];
    int rc = fbr__select_prepare("fbr_select_async", cases, count, &set, order);
    if (rc != FBR_OK)
        return rc;
    if (set.count == 0)
        return fbr__fail(FBR_EDEADLK, "fbr_select_async: no channel to wait on");
    size_t values = 0;
    for (size_t i = 0; i < count; i++)
        if (cases[i].chan)
            values += slot_size(cases[i].chan->elem_size);

    /* Allocated before the attempt, so that nothing fails once the channels
     * are locked; freed at once if a case proceeds. */
    struct fbr_select_async_op *op = malloc(sizeof *op + count * sizeof op->cases[0] + values);
    if (op == NULL)
        return fbr__fail(FBR_ENOMEM, "out of memory for a pending select");

    fbr__select_lock_all(&set);
    fbr__wait *woken;
    if (fbr__select_try_locked(cases, count, order, chosen, &woken)) {
        fbr__select_unlock_all(&set);
        free(op);
        if (woken)
            fbr__wait_complete(woken);
        return FBR_OK;
    }
    op->wait = (fbr__wait){.kind = FBR__WAIT_CALLBACK, .on_complete = on_complete};
    op->magic = SELECT_OP_MAGIC;
    /* The select holds a reference, the caller's handle another; and a start
     * that may see its end (as fbr_chan_recv_async does) one until it has
     * looked. */
    struct fbr__worker *may_end_here = fbr__sched_callback_worker_of(fbr__thread_peek());
    op->references = (out ? 2 : 1) + (may_end_here != NULL);
    op->callback = callback;
    op->state = state;
    op->count = count;
    op->set = set;
    char *value = (char *)&op->cases[count];
    for (size_t i = 0; i < count; i++) {
        struct select_case_state *c = &op->cases[i];
        c->chan = cases[i].chan;
        c->op = cases[i].op;
        c->node = (fbr__wait_node){.wait = &op->wait, .token = (uint32_t)i + 1, .elem = value};
        c->has_value = c->chan && c->op == FBR_SELECT_RECV && c->chan->elem_size;
        if (c->chan == NULL)
            continue;
        if (c->op == FBR_SELECT_SEND && c->chan->elem_size)
            memcpy(value, cases[i].elem, c->chan->elem_size);
        value += slot_size(c->chan->elem_size);
        fbr__wait_queue_push(fbr__select_queue(c->chan, c->op), &c->node);
    }
    fbr__select_unlock_all(&set);
    if (may_end_here) {
        if (fbr__sched_run_next_for_callback(may_end_here, &op->wait))
            return end_here(op, cases, chosen);
        drop_reference(op);
    }
    if (out)
        *out = op;
    return FBR_PENDING;
}

static bool is_select_op(const struct fbr_select_async_op *op)
{
    return op != NULL && op->magic == SELECT_OP_MAGIC;
}

int fbr_select_async_cancel(fbr_select_async_op *op)
{
    if (!is_select_op(op))
        return fbr__fail(FBR_EINVAL, "fbr_select_async_cancel: not a pending select");
    /* Claimed under every channel's lock: no case can be half done. */
    fbr__select_lock_all(&op->set);
    bool cancelled = fbr__wait_claim(&op->wait, FBR__CLAIM_TIMEOUT);
    if (cancelled)
        unqueue_all_locked(op);
    fbr__select_unlock_all(&op->set);
    if (!cancelled)
        return FBR_EAGAIN; /* it ended, or its end is being delivered */
    op->callback(op->state, FBR_ECANCELED, SIZE_MAX, NULL);
    drop_reference(op);
    return FBR_OK;
}

int fbr_select_async_release(fbr_select_async_op *op)
{
    if (!is_select_op(op))
        return fbr__fail(FBR_EINVAL, "fbr_select_async_release: not a pending select");
    drop_reference(op);
    return FBR_OK;
}
