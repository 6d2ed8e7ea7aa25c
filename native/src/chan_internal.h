/*
 * Channel internals shared by the single operations (chan.c) and select
 * (select.c): the channel itself and its operations with the lock held.
 */
#ifndef FBR_CHAN_INTERNAL_H
#define FBR_CHAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "fiberrt/chan.h"
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

/* With ch->lock held. On FBR__CHAN_DONE, *woken is a waiter this operation
 * satisfied (already claimed, its result set) or NULL. */
enum fbr__chan_attempt fbr__chan_try_send_locked(struct fbr_chan *ch, const void *elem, fbr__wait **woken);
enum fbr__chan_attempt fbr__chan_try_recv_locked(struct fbr_chan *ch, void *elem, fbr__wait **woken);

bool fbr__is_chan(const struct fbr_chan *ch);

#endif
