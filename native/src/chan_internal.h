/*
 * Channel internals shared by the single operations (chan.c) and select
 * (select.c): the channel itself and its operations with the lock held.
 */
#ifndef FBR_CHAN_INTERNAL_H
#define FBR_CHAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fiberrt/chan.h"
#include "fiberrt/error.h"
#include "lock.h"
#include "wait.h"

#define FBR__CHAN_MAGIC 0x4E414843u /* "CHAN" */

struct fbr_chan {
    fbr__lock lock;
    uint32_t magic;
    bool closed;
    size_t elem_size;
    size_t capacity;
    size_t count;     /* values buffered */
    size_t read_at;   /* index of the oldest buffered value */
    char *buffer;
    fbr__wait_queue senders;   /* nodes' elem: the value to send */
    fbr__wait_queue receivers; /* nodes' elem: where to put the value (may be NULL) */
};

/* Outcome of an attempt made with the lock held. */
enum fbr__chan_attempt {
    FBR__CHAN_DONE,       /* completed; `woken` (if set) must be completed after unlocking */
    FBR__CHAN_CLOSED,     /* completed with FBR_ECLOSED */
    FBR__CHAN_WOULD_BLOCK
};


static inline bool fbr__is_chan(const struct fbr_chan *ch)
{
    return ch != NULL && ch->magic == FBR__CHAN_MAGIC;
}

/* Moves one element. Most channels carry a word or an int; a copy of a size the
 * compiler knows is one move, where memcpy of a size it does not know is a
 * call into the C library (4% of a C ping-pong's instructions). */
static inline void fbr__chan_copy(void *to, const void *from, size_t elem_size)
{
    if (elem_size == sizeof(uint64_t))
        memcpy(to, from, sizeof(uint64_t));
    else if (elem_size == sizeof(uint32_t))
        memcpy(to, from, sizeof(uint32_t));
    else if (elem_size)
        memcpy(to, from, elem_size);
}

/* The buffer slot `index` places past the oldest value's (index < capacity).
 * No division: a 64-bit one takes tens of cycles, and each buffered value
 * went through two. */
static inline char *fbr__chan_slot_after_oldest(struct fbr_chan *ch, size_t index)
{
    size_t at = ch->read_at + index;
    if (at >= ch->capacity)
        at -= ch->capacity;
    return ch->buffer + at * ch->elem_size;
}

static inline void fbr__chan_copy_to(struct fbr_chan *ch, void *to, const void *from)
{
    if (to)
        fbr__chan_copy(to, from, ch->elem_size);
}

/* With ch->lock held. On FBR__CHAN_DONE, *woken is a waiter this operation
 * satisfied (already claimed, its result set) or NULL. Inline: each caller
 * is one channel operation's hot path. */
static inline enum fbr__chan_attempt fbr__chan_try_send_locked(struct fbr_chan *ch, const void *elem, fbr__wait **woken)
{
    *woken = NULL;
    if (ch->closed)
        return FBR__CHAN_CLOSED;
    /* A waiting receiver means the buffer is empty: hand the value over. */
    fbr__wait_node *receiver = fbr__wait_queue_claim_first(&ch->receivers);
    if (receiver) {
        fbr__chan_copy_to(ch, receiver->elem, elem);
        receiver->wait->result = FBR_OK;
        *woken = receiver->wait;
        return FBR__CHAN_DONE;
    }
    if (ch->count < ch->capacity) {
        fbr__chan_copy(fbr__chan_slot_after_oldest(ch, ch->count), elem, ch->elem_size);
        ch->count++;
        return FBR__CHAN_DONE;
    }
    return FBR__CHAN_WOULD_BLOCK;
}

static inline enum fbr__chan_attempt fbr__chan_try_recv_locked(struct fbr_chan *ch, void *elem, fbr__wait **woken)
{
    *woken = NULL;
    if (ch->count) {
        fbr__chan_copy_to(ch, elem, fbr__chan_slot_after_oldest(ch, 0));
        ch->read_at = ch->read_at + 1 == ch->capacity ? 0 : ch->read_at + 1;
        ch->count--;
        /* Room now: the longest-waiting sender's value moves in. */
        fbr__wait_node *sender = fbr__wait_queue_claim_first(&ch->senders);
        if (sender) {
            fbr__chan_copy(fbr__chan_slot_after_oldest(ch, ch->count), sender->elem, ch->elem_size);
            ch->count++;
            sender->wait->result = FBR_OK;
            *woken = sender->wait;
        }
        return FBR__CHAN_DONE;
    }
    fbr__wait_node *sender = fbr__wait_queue_claim_first(&ch->senders);
    if (sender) {
        fbr__chan_copy_to(ch, elem, sender->elem);
        sender->wait->result = FBR_OK;
        *woken = sender->wait;
        return FBR__CHAN_DONE;
    }
    if (ch->closed) {
        if (elem && ch->elem_size)
            memset(elem, 0, ch->elem_size);
        return FBR__CHAN_CLOSED;
    }
    return FBR__CHAN_WOULD_BLOCK;
}

#endif
