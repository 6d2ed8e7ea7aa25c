/*
 * What the blocking select (select.c) and the asynchronous one
 * (select_async.c) share: checking the cases, the set of channels to lock
 * (sorted by address, so that two selects cannot deadlock), the random
 * order in which ready cases are tried, and the attempt itself.
 */
#ifndef FBR_SELECT_INTERNAL_H
#define FBR_SELECT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan_internal.h"

#define FBR__SELECT_MAX_CASES 64

struct fbr__select_set {
    struct fbr_chan *chans[FBR__SELECT_MAX_CASES];
    size_t count;
};

/* Checks the cases (`what` names the caller in errors), fills `set` with
 * their distinct channels and `order` with a random permutation of their
 * indices. FBR_OK or FBR_EINVAL (recorded). */
int fbr__select_prepare(const char *what, fbr_select_case *cases, size_t count, struct fbr__select_set *set,
                        uint8_t order[FBR__SELECT_MAX_CASES]);

void fbr__select_lock_all(struct fbr__select_set *set);
void fbr__select_unlock_all(void *set); /* a release function for fbr__wait_block */

/* With every channel of the set locked: performs the first case in `order`
 * that can proceed (*chosen, its result set, *woken to complete after
 * unlocking) and returns true; false if none can. */
bool fbr__select_try_locked(fbr_select_case *cases, size_t count, const uint8_t *order, size_t *chosen,
                            fbr__wait **woken);

/* The queue a case's node waits in. */
static inline fbr__wait_queue *fbr__select_queue(struct fbr_chan *ch, int op)
{
    return op == FBR_SELECT_SEND ? &ch->senders : &ch->receivers;
}

#endif
