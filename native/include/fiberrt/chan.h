/*
 * Channels: typed pipes between fibers (and threads), with Go's semantics.
 * Values of a fixed size are copied in and out. An unbuffered channel
 * (capacity 0) hands each value directly from a sender to a receiver; a
 * buffered one holds up to `capacity` values.
 *
 *     fbr_chan *ch;
 *     fbr_chan_create(&ch, sizeof(int), 16);
 *
 *     // producer fiber                       // consumer fiber
 *     for (int i = 0; i < 100; i++)           int v;
 *         fbr_chan_send(ch, &i);              while (fbr_chan_recv(ch, &v) == FBR_OK)
 *     fbr_chan_close(ch);                         use(v);       // ends with FBR_ECLOSED
 *
 * A fiber that must wait parks (its worker runs other fibers); a thread that
 * is not a fiber blocks. Closing follows Go: receivers drain what is
 * buffered and then get FBR_ECLOSED; sending on a closed channel and closing
 * twice are errors (FBR_ECLOSED), not crashes.
 */
#ifndef FIBERRT_CHAN_H
#define FIBERRT_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fbr_chan fbr_chan;

#define FBR_CHAN_MAX_ELEM_SIZE ((size_t)1 << 16)   /* 64 KiB per value */
#define FBR_CHAN_MAX_CAPACITY ((size_t)1 << 30)

/* elem_size may be 0 (a channel of pure events). FBR_EINVAL past the limits
 * above or when the buffer would exceed 4 GiB; FBR_ENOMEM. */
FBR_API int fbr_chan_create(fbr_chan **out, size_t elem_size, size_t capacity);

/* Frees a channel nobody is waiting on (FBR_EBUSY otherwise). */
FBR_API int fbr_chan_destroy(fbr_chan *ch);

/* What fbr_chan_destroy would answer now, without freeing: FBR_OK, or
 * FBR_EBUSY with the same message. For an owner that stops using a channel
 * before it frees it (a garbage-collected binding frees it once no call in
 * flight can reach it) and should refuse the same way. */
FBR_API int fbr_chan_check_destroy(fbr_chan *ch);

/* Copies elem_size bytes from `elem` into the channel, waiting for room (or
 * for a receiver, if unbuffered). FBR_ECLOSED if the channel is or becomes
 * closed; the value is then not sent. */
FBR_API int fbr_chan_send(fbr_chan *ch, const void *elem);
FBR_API int fbr_chan_send_until(fbr_chan *ch, const void *elem, int64_t deadline);
/* FBR_EAGAIN instead of waiting. */
FBR_API int fbr_chan_try_send(fbr_chan *ch, const void *elem);

/* Copies the next value into `elem` (may be NULL to discard it), waiting for
 * one. FBR_ECLOSED once the channel is closed and drained (elem is zeroed). */
FBR_API int fbr_chan_recv(fbr_chan *ch, void *elem);
FBR_API int fbr_chan_recv_until(fbr_chan *ch, void *elem, int64_t deadline);
FBR_API int fbr_chan_try_recv(fbr_chan *ch, void *elem);

/* Closes the channel: waiting senders fail with FBR_ECLOSED, receivers
 * drain the buffer, then get FBR_ECLOSED. FBR_ECLOSED if already closed. */
FBR_API int fbr_chan_close(fbr_chan *ch);

FBR_API size_t fbr_chan_len(fbr_chan *ch);   /* values buffered now */
FBR_API size_t fbr_chan_cap(fbr_chan *ch);
FBR_API size_t fbr_chan_elem_size(fbr_chan *ch);
FBR_API int fbr_chan_is_closed(fbr_chan *ch);

/* One arm of a select. */
typedef enum fbr_select_op {
    FBR_SELECT_SEND = 1,
    FBR_SELECT_RECV = 2
} fbr_select_op;

typedef struct fbr_select_case {
    fbr_chan *chan;  /* NULL: the case is never ready (like a nil channel in Go) */
    int op;          /* fbr_select_op */
    void *elem;      /* value to send, or buffer to receive into (may be NULL) */
    int result;      /* set for the chosen case: FBR_OK or FBR_ECLOSED */
} fbr_select_case;

/* No waiting: return FBR_EAGAIN at once when no case is ready (Go's default). */
#define FBR_SELECT_NONBLOCKING 1

/* Waits until one of the cases can proceed, performs it and stores its index
 * in *chosen. When several are ready, one is chosen uniformly at random.
 * Returns FBR_OK (see cases[*chosen].result: FBR_ECLOSED for a receive from
 * a closed, drained channel or a send to a closed one), FBR_EAGAIN (with
 * FBR_SELECT_NONBLOCKING), FBR_ETIMEDOUT, or FBR_EINVAL for bad cases.
 * At most 64 cases. */
FBR_API int fbr_select(fbr_select_case *cases, size_t count, int64_t deadline, int flags, size_t *chosen);

/* ---- Operations that complete later, for event loops and async code ------- */

/* A pending asynchronous send or receive. */
typedef struct fbr_chan_op fbr_chan_op;

/* Called exactly once when a pending operation ends, with FBR_OK,
 * FBR_ECLOSED or FBR_ECANCELED. For a receive that got a value, `value`
 * points at it (elem_size bytes, valid during the call only); otherwise it
 * is NULL. It runs on whichever thread ended the operation (a fiber's
 * worker, a sending thread, the canceller), so it must be quick and must not
 * block: hand the result to your own loop or task. */
typedef void (*fbr_chan_callback)(void *state, int result, const void *value);

/* fbr_chan_send_async / fbr_chan_recv_async return this when the operation
 * had to wait: the callback will report its end. */
#define FBR_PENDING 1

/* Starts a send (the value is copied at once; `elem` may be reused) or a
 * receive. If it can complete immediately it does, returns FBR_OK (the
 * received value in `elem`) or FBR_ECLOSED, sets *op to NULL and does not
 * call the callback. Otherwise it returns FBR_PENDING with a handle in *op,
 * which the caller owns: call fbr_chan_op_release exactly once, at any time
 * (before or after the callback). Pass op == NULL for an operation you will
 * never cancel: no handle is made, nothing needs releasing, and the
 * callback still reports the end. Errors: FBR_EINVAL, FBR_ENOMEM.
 *
 * Started from inside a callback that runs on a worker (an operation ended
 * by a fiber), a call that has to wait may first run the fiber the worker
 * would run next (most often the one the callback just woke, which will
 * answer): if that ends the operation, the call returns its end as above and
 * the callback is not called. That fiber runs as it would have right after
 * the callback returned; the callback just does not wait for its own return
 * to see the answer. Every few rounds the call leaves it to the worker's
 * loop, which must look at its other queues, timers and descriptors. */
FBR_API int fbr_chan_send_async(fbr_chan *ch, const void *elem, fbr_chan_callback callback, void *state,
                                fbr_chan_op **op);
FBR_API int fbr_chan_recv_async(fbr_chan *ch, void *elem, fbr_chan_callback callback, void *state,
                                fbr_chan_op **op);

/* Cancels a pending operation that has not released its handle: if it had
 * not ended yet, its callback runs now, on this thread, with FBR_ECANCELED,
 * and FBR_OK is returned; if it had already ended (or is ending right now),
 * FBR_EAGAIN. */
FBR_API int fbr_chan_op_cancel(fbr_chan_op *op);

/* Gives up the caller's handle; the operation itself goes on (unless
 * cancelled) and its callback still runs. */
FBR_API int fbr_chan_op_release(fbr_chan_op *op);

/* ---- A select that completes later ------------------------------------------ */

/* A pending asynchronous select. */
typedef struct fbr_select_async_op fbr_select_async_op;

/* Called exactly once when a pending select ends. `chosen` is the case that
 * proceeded, with `result` FBR_OK or FBR_ECLOSED as in fbr_select_case; for
 * a receive that got a value, `value` points at it (valid during the call
 * only), otherwise NULL. When cancelled: FBR_ECANCELED, `chosen` SIZE_MAX.
 * It runs on whichever thread ended the select (a fiber's worker, after the
 * fiber switched away; a thread; the canceller): quick, and no blocking. */
typedef void (*fbr_select_callback)(void *state, int result, size_t chosen, const void *value);

/* fbr_select without blocking the caller. If a case can proceed now it does:
 * FBR_OK, *chosen and its result set as with fbr_select (a received value in
 * its elem), *op NULL, no callback. Otherwise FBR_PENDING: the values to send
 * were copied (the cases and their buffers may be reused at once), each
 * channel holds a waiter until the select ends (fbr_chan_destroy refuses
 * such a channel), and the callback reports the end. *op then holds a handle
 * for fbr_select_async_cancel, given up with fbr_select_async_release
 * exactly once (before or after the end); pass op == NULL for a select you
 * will never cancel. Keep every case's channel alive until the callback has
 * run: the end takes the select's waiters out of all of them. Errors: FBR_EINVAL (as fbr_select, or no callback),
 * FBR_EDEADLK (no channel at all: nothing could end it), FBR_ENOMEM.
 *
 * Started from inside a callback on a worker, a select that has to wait may
 * first run the fiber the worker would run next, as fbr_chan_recv_async
 * does: if that ends it, the call returns FBR_OK as for a case ready at once
 * (*chosen, its result and value set) and the callback is not called. */
FBR_API int fbr_select_async(fbr_select_case *cases, size_t count, fbr_select_callback callback, void *state,
                             size_t *chosen, fbr_select_async_op **op);

/* Cancels a pending select whose handle was not released: if it had not
 * ended, its callback runs now, on this thread, with FBR_ECANCELED, and
 * FBR_OK is returned; if it had already ended (or is ending), FBR_EAGAIN. */
FBR_API int fbr_select_async_cancel(fbr_select_async_op *op);

/* Gives up the caller's handle; the select goes on (unless cancelled). */
FBR_API int fbr_select_async_release(fbr_select_async_op *op);

#ifdef __cplusplus
}
#endif

#endif
