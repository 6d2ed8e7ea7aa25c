#include <stdlib.h>
#include <string.h>

#include "chan_internal.h"
#include "error_internal.h"
#include "runtime_internal.h"

/* Buffers past this are a mistake, whatever the element size. */
#define BUFFER_LIMIT ((size_t)4 << 30)

int fbr_chan_create(fbr_chan **out, size_t elem_size, size_t capacity)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_chan_create: out is NULL");
    *out = NULL;
    if (elem_size > FBR_CHAN_MAX_ELEM_SIZE)
        return fbr__fail(FBR_EINVAL, "element size %zu exceeds the %zu-byte limit", elem_size,
                         FBR_CHAN_MAX_ELEM_SIZE);
    if (capacity > FBR_CHAN_MAX_CAPACITY)
        return fbr__fail(FBR_EINVAL, "capacity %zu exceeds the limit of %zu", capacity, FBR_CHAN_MAX_CAPACITY);
    if (elem_size && capacity > BUFFER_LIMIT / elem_size)
        return fbr__fail(FBR_EINVAL, "a buffer of %zu x %zu bytes exceeds 4 GiB", capacity, elem_size);
    struct fbr_chan *ch = calloc(1, sizeof *ch);
    if (ch == NULL)
        return fbr__fail(FBR_ENOMEM, "out of memory for a channel");
    if (capacity && elem_size) {
        ch->buffer = malloc(capacity * elem_size);
        if (ch->buffer == NULL) {
            free(ch);
            return fbr__fail(FBR_ENOMEM, "out of memory for a channel buffer of %zu bytes", capacity * elem_size);
        }
    }
    ch->elem_size = elem_size;
    ch->capacity = capacity;
    ch->magic = FBR__CHAN_MAGIC;
    *out = ch;
    return FBR_OK;
}

static int check_destroy(struct fbr_chan *ch, const char *caller)
{
    if (!fbr__is_chan(ch))
        return fbr__fail(FBR_EINVAL, "%s: not a channel", caller);
    fbr__lock_acquire(&ch->lock);
    bool waited_on = !fbr__wait_queue_empty(&ch->senders) || !fbr__wait_queue_empty(&ch->receivers);
    fbr__lock_release(&ch->lock);
    if (waited_on)
        return fbr__fail(FBR_EBUSY, "the channel has waiting senders or receivers");
    return FBR_OK;
}

int fbr_chan_check_destroy(fbr_chan *ch)
{
    return check_destroy(ch, "fbr_chan_check_destroy");
}

int fbr_chan_destroy(fbr_chan *ch)
{
    int rc = check_destroy(ch, "fbr_chan_destroy");
    if (rc != FBR_OK)
        return rc;
    ch->magic = 0;
    free(ch->buffer);
    free(ch);
    return FBR_OK;
}

enum { SEND, RECV };

/* The part of an operation that waits: queue a node, park or block until a
 * partner (or close, or the deadline) ends it. Entered with ch->lock held. */
static __attribute__((noinline)) int wait_for_partner(struct fbr_chan *ch, int direction, void *elem, int64_t deadline)
{
    fbr__wait wait;
    fbr__wait_init(&wait);
    wait.claimed_under_lock = deadline == FBR_NO_DEADLINE; /* a deadline's timer claims without the lock */
    fbr__wait_node node = {.wait = &wait, .token = 1, .elem = elem};
    fbr__wait_queue *queue = direction == SEND ? &ch->senders : &ch->receivers;
    fbr__wait_queue_push(queue, &node);
    if (fbr__wait_block(&wait, fbr__wait_release_lock, &ch->lock, deadline) == FBR__CLAIM_TIMEOUT) {
        fbr__lock_acquire(&ch->lock);
        fbr__wait_queue_remove(queue, &node);
        fbr__lock_release(&ch->lock);
        return fbr__fail(FBR_ETIMEDOUT, "the channel operation did not complete before the deadline");
    }
    if (wait.result == FBR_ECLOSED)
        return fbr__fail(FBR_ECLOSED, direction == SEND ? "the channel was closed while sending" : "the channel is closed");
    return wait.result;
}

/* Inlined into each entry point, which so gets its own straight path for
 * the common case of an operation that completes at once. */
static inline __attribute__((always_inline)) int operate(struct fbr_chan *ch, int direction, void *elem,
                                                          int64_t deadline, bool may_wait)
{
    if (!fbr__is_chan(ch))
        return fbr__fail(FBR_EINVAL, "not a channel");
    if (elem == NULL && direction == SEND && ch->elem_size)
        return fbr__fail(FBR_EINVAL, "fbr_chan_send: elem is NULL");
    fbr__lock_acquire(&ch->lock);
    fbr__wait *woken;
    enum fbr__chan_attempt attempt = direction == SEND ? fbr__chan_try_send_locked(ch, elem, &woken)
                                                       : fbr__chan_try_recv_locked(ch, elem, &woken);
    if (attempt != FBR__CHAN_WOULD_BLOCK) {
        fbr__lock_release(&ch->lock);
        if (woken)
            fbr__wait_complete(woken);
        return attempt == FBR__CHAN_DONE ? FBR_OK
                                         : fbr__fail(FBR_ECLOSED, direction == SEND ? "send on a closed channel"
                                                                                     : "the channel is closed");
    }
    if (!may_wait) {
        fbr__lock_release(&ch->lock);
        return FBR_EAGAIN; /* an expected outcome, not a failure worth details */
    }
    return wait_for_partner(ch, direction, elem, deadline);
}

int fbr_chan_send(fbr_chan *ch, const void *elem)
{
    return operate(ch, SEND, (void *)elem, FBR_NO_DEADLINE, true);
}

int fbr_chan_send_until(fbr_chan *ch, const void *elem, int64_t deadline)
{
    return operate(ch, SEND, (void *)elem, deadline, true);
}

int fbr_chan_try_send(fbr_chan *ch, const void *elem)
{
    return operate(ch, SEND, (void *)elem, FBR_NO_DEADLINE, false);
}

int fbr_chan_recv(fbr_chan *ch, void *elem)
{
    return operate(ch, RECV, elem, FBR_NO_DEADLINE, true);
}

int fbr_chan_recv_until(fbr_chan *ch, void *elem, int64_t deadline)
{
    return operate(ch, RECV, elem, deadline, true);
}

int fbr_chan_try_recv(fbr_chan *ch, void *elem)
{
    return operate(ch, RECV, elem, FBR_NO_DEADLINE, false);
}

int fbr_chan_close(fbr_chan *ch)
{
    if (!fbr__is_chan(ch))
        return fbr__fail(FBR_EINVAL, "fbr_chan_close: not a channel");
    fbr__lock_acquire(&ch->lock);
    if (ch->closed) {
        fbr__lock_release(&ch->lock);
        return fbr__fail(FBR_ECLOSED, "the channel is already closed");
    }
    ch->closed = true;
    /* Everyone waiting fails with FBR_ECLOSED (receivers can only be waiting
     * when nothing is buffered). Collect them, then wake them unlocked. */
    fbr__wait_node *claimed = NULL, *n;
    while ((n = fbr__wait_queue_claim_first(&ch->receivers))) {
        if (n->elem && ch->elem_size)
            memset(n->elem, 0, ch->elem_size);
        n->wait->result = FBR_ECLOSED;
        n->next_claimed = claimed;
        claimed = n;
    }
    while ((n = fbr__wait_queue_claim_first(&ch->senders))) {
        n->wait->result = FBR_ECLOSED;
        n->next_claimed = claimed;
        claimed = n;
    }
    fbr__lock_release(&ch->lock);
    while ((n = claimed)) {
        claimed = n->next_claimed; /* read before the waiter runs and its node goes away */
        fbr__wait_complete(n->wait);
    }
    return FBR_OK;
}

size_t fbr_chan_len(fbr_chan *ch)
{
    if (!fbr__is_chan(ch))
        return 0;
    fbr__lock_acquire(&ch->lock);
    size_t n = ch->count;
    fbr__lock_release(&ch->lock);
    return n;
}

size_t fbr_chan_cap(fbr_chan *ch)
{
    return fbr__is_chan(ch) ? ch->capacity : 0;
}

size_t fbr_chan_elem_size(fbr_chan *ch)
{
    return fbr__is_chan(ch) ? ch->elem_size : 0;
}

int fbr_chan_is_closed(fbr_chan *ch)
{
    if (!fbr__is_chan(ch))
        return fbr__fail(FBR_EINVAL, "fbr_chan_is_closed: not a channel");
    fbr__lock_acquire(&ch->lock);
    int closed = ch->closed;
    fbr__lock_release(&ch->lock);
    return closed;
}
