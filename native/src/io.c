#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error_internal.h"
#include "fiber_internal.h"
#include "io_internal.h"
#include "poller.h"
#include "sched_internal.h"

/* ---- the handle table -------------------------------------------------------- */

#define CHUNK_SHIFT 10
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define MAX_CHUNKS 16384u /* 16 Mi handles: far beyond any descriptor limit */

static fbr__lock table_lock = FBR__LOCK_INIT;
static struct fbr_io *chunks[MAX_CHUNKS]; /* published with release stores */
static uint32_t slots_made;               /* under table_lock */
static struct fbr_io *free_slots;         /* under table_lock */

static struct fbr_io *slot_at(uint32_t index)
{
    struct fbr_io *chunk = __atomic_load_n(&chunks[index >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);
    return chunk ? &chunk[index & (CHUNK_SIZE - 1)] : NULL;
}

static struct fbr_io *slot_take(void)
{
    fbr__lock_acquire(&table_lock);
    struct fbr_io *io = free_slots;
    if (io) {
        free_slots = io->free_next;
    } else if (slots_made < MAX_CHUNKS * CHUNK_SIZE) {
        uint32_t index = slots_made;
        struct fbr_io *chunk = chunks[index >> CHUNK_SHIFT];
        if (chunk == NULL) {
            chunk = calloc(CHUNK_SIZE, sizeof *chunk);
            if (chunk) {
                for (uint32_t i = 0; i < CHUNK_SIZE; i++)
                    chunk[i].index = index + i;
                __atomic_store_n(&chunks[index >> CHUNK_SHIFT], chunk, __ATOMIC_RELEASE);
            }
        }
        if (chunk) {
            io = &chunk[index & (CHUNK_SIZE - 1)];
            slots_made++;
        }
    }
    fbr__lock_release(&table_lock);
    return io;
}

static void slot_give_back(struct fbr_io *io)
{
    fbr__lock_acquire(&table_lock);
    io->free_next = free_slots;
    free_slots = io;
    fbr__lock_release(&table_lock);
}

static uint64_t poll_data(const struct fbr_io *io)
{
    return (uint64_t)io->generation << 32 | io->index;
}

static int sys_fail(int err, const char *what, const struct fbr_io *io)
{
    return fbr__fail(FBR_SYSERR(err), "%s on descriptor %d: %s", what, io->fd, strerror(err));
}

/* ---- handle lifetime ------------------------------------------------------- */

static int adopt(struct fbr_io **out, int fd, const char *what)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fbr__fail(FBR_EINVAL, "%s: %d is not an open descriptor", what, fd);
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0))
        return fbr__fail(FBR_SYSERR(errno), "%s: cannot make descriptor %d non-blocking: %s", what, fd,
                         strerror(errno));
    struct fbr_io *io = slot_take();
    if (io == NULL)
        return fbr__fail(FBR_ENOMEM, "%s: no memory for another I/O handle", what);
    fbr__lock_acquire(&io->lock);
    io->generation++;
    if (io->generation == UINT32_MAX) /* never the poller's wake-up marker */
        io->generation = 1;
    __atomic_store_n(&io->refs, 0, __ATOMIC_RELEASE);
    io->fd = fd;
    io->is_socket = S_ISSOCK(st.st_mode);
    io->cancelled = false;
    io->ready = 0;
    io->sched = NULL;
    io->thread_waiters = 0;
    fbr__lock_release(&io->lock);
    *out = io;
    return FBR_OK;
}

int fbr_io_open(fbr_io **out, int fd)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_io_open: out is NULL");
    *out = NULL;
    if (fd < 0)
        return fbr__fail(FBR_EINVAL, "fbr_io_open: descriptor %d is negative", fd);
    return adopt(out, fd, "fbr_io_open");
}

/* Closes the descriptor once nobody is inside an operation any more. */
static void finalize(struct fbr_io *io)
{
    fbr__lock_acquire(&io->lock);
    if (io->sched)
        fbr__poller_remove(&io->sched->poller, io->fd);
    io->sched = NULL;
    close(io->fd);
    io->fd = -1;
    io->generation++; /* events still in flight are now stale */
    if (io->generation == UINT32_MAX)
        io->generation = 1;
    io->ready = 0;
    fbr__lock_release(&io->lock);
    slot_give_back(io);
}

/* refs once the descriptor is closed: the closing bit stays set, so late
 * callers still see a closed handle, and no count can reach "closing,
 * nobody inside" again until the slot is reused. */
#define REFS_FINALIZED (0x80000000u | 1u)

/* Closes the descriptor if io is closing and nobody is inside; exactly one
 * caller wins. */
static void finalize_if_last(struct fbr_io *io)
{
    uint32_t expected = 1;
    if (__atomic_compare_exchange_n(&io->refs, &expected, REFS_FINALIZED, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        finalize(io);
}

/* Enters an operation; fails if io is closed or cancelled. */
static int enter(struct fbr_io *io, const char *what)
{
    if (io == NULL)
        return fbr__fail(FBR_EINVAL, "%s: the handle is NULL", what);
    uint32_t refs = __atomic_add_fetch(&io->refs, 2, __ATOMIC_ACQ_REL);
    int rc = FBR_OK;
    if (refs & 1)
        rc = fbr__fail(FBR_ECLOSED, "%s: the handle is closed", what);
    else if (__atomic_load_n(&io->cancelled, __ATOMIC_ACQUIRE))
        rc = fbr__fail(FBR_ECANCELED, "%s: I/O on descriptor %d was cancelled", what, io->fd);
    if (rc != FBR_OK && __atomic_sub_fetch(&io->refs, 2, __ATOMIC_ACQ_REL) == 1)
        finalize_if_last(io);
    return rc;
}

static void leave(struct fbr_io *io)
{
    if (__atomic_sub_fetch(&io->refs, 2, __ATOMIC_ACQ_REL) == 1)
        finalize_if_last(io);
}

/* With io->lock held: claims every fiber waiting on io with `result`. */
static void claim_all_waiters(struct fbr_io *io, int result, fbr__wait_node **claimed)
{
    for (int dir = 0; dir < 2; dir++) {
        fbr__wait_node *n;
        while ((n = fbr__wait_queue_claim_first(&io->waiters[dir]))) {
            n->wait->result = result;
            n->next_claimed = *claimed;
            *claimed = n;
        }
    }
}

static void complete_claimed(fbr__wait_node *claimed)
{
    while (claimed) {
        fbr__wait_node *n = claimed;
        claimed = n->next_claimed;
        fbr__wait_complete(n->wait);
    }
}

/* Ends every wait on io with `result`; wakes threads blocked on a socket by
 * shutting it down (nothing else interrupts their poll). */
static void wake_everyone(struct fbr_io *io, int result)
{
    fbr__wait_node *claimed = NULL;
    fbr__lock_acquire(&io->lock);
    claim_all_waiters(io, result, &claimed);
    if (io->thread_waiters && io->is_socket)
        shutdown(io->fd, SHUT_RDWR);
    fbr__lock_release(&io->lock);
    complete_claimed(claimed);
}

int fbr_io_close(fbr_io *io)
{
    if (io == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_io_close: the handle is NULL");
    uint32_t refs = __atomic_fetch_or(&io->refs, 1, __ATOMIC_ACQ_REL);
    if (refs & 1)
        return fbr__fail(FBR_ECLOSED, "fbr_io_close: the handle is already closed");
    if (refs != 0)
        wake_everyone(io, FBR_ECLOSED);
    /* Whoever leaves last (maybe us, now) closes the descriptor. */
    finalize_if_last(io);
    return FBR_OK;
}

int fbr_io_cancel(fbr_io *io)
{
    int rc = enter(io, "fbr_io_cancel");
    if (rc == FBR_ECANCELED)
        return FBR_OK; /* cancelled already: nothing more to do */
    if (rc != FBR_OK)
        return rc;
    fbr__lock_acquire(&io->lock);
    __atomic_store_n(&io->cancelled, true, __ATOMIC_RELEASE);
    fbr__lock_release(&io->lock);
    wake_everyone(io, FBR_ECANCELED);
    leave(io);
    return FBR_OK;
}

int fbr_io_fd(fbr_io *io)
{
    if (io == NULL || (__atomic_load_n(&io->refs, __ATOMIC_ACQUIRE) & 1))
        return fbr__fail(FBR_EINVAL, "fbr_io_fd: not an open handle");
    return io->fd;
}

/* ---- the poller's side ------------------------------------------------------- */

void fbr__io_ready(struct fbr_sched *s, uint64_t data, int ready, fbr__wait_node **claimed)
{
    struct fbr_io *io = slot_at((uint32_t)data);
    if (io == NULL)
        return;
    fbr__lock_acquire(&io->lock);
    if (io->generation == (uint32_t)(data >> 32) && io->sched == s) {
        for (int dir = 0; dir < 2; dir++) {
            int bit = dir == FBR__IO_DIR_READ ? FBR_IO_READABLE : FBR_IO_WRITABLE;
            if (!(ready & bit))
                continue;
            bool woke = false;
            fbr__wait_node *n;
            while ((n = fbr__wait_queue_claim_first(&io->waiters[dir]))) {
                n->wait->result = bit;
                n->next_claimed = *claimed;
                *claimed = n;
                woke = true;
            }
            /* Edge-triggered: this is the only report until the state
             * changes again, so keep it for the next waiter. */
            if (!woke)
                io->ready |= (uint8_t)bit;
        }
    }
    fbr__lock_release(&io->lock);
}

void fbr__io_forget_sched(struct fbr_sched *s)
{
    fbr__lock_acquire(&table_lock);
    uint32_t made = slots_made;
    fbr__lock_release(&table_lock);
    for (uint32_t i = 0; i < made; i++) {
        struct fbr_io *io = slot_at(i);
        if (io == NULL)
            continue;
        fbr__lock_acquire(&io->lock);
        if (io->sched == s)
            io->sched = NULL; /* the epoll instance goes with the scheduler */
        fbr__lock_release(&io->lock);
    }
}

/* ---- waiting ------------------------------------------------------------------ */

/* With io->lock held. */
static int check_usable(struct fbr_io *io, const char *what)
{
    if (__atomic_load_n(&io->refs, __ATOMIC_ACQUIRE) & 1)
        return fbr__fail(FBR_ECLOSED, "%s: the handle was closed while waiting", what);
    if (io->cancelled)
        return fbr__fail(FBR_ECANCELED, "%s: I/O on descriptor %d was cancelled", what, io->fd);
    return FBR_OK;
}

static int wait_on_fiber(struct fbr_io *io, struct fbr_sched *s, int events, int64_t deadline, const char *what)
{
    fbr__lock_acquire(&io->lock);
    int rc = check_usable(io, what);
    if (rc != FBR_OK) {
        fbr__lock_release(&io->lock);
        return rc;
    }
    int seen = io->ready & events;
    if (seen) {
        io->ready &= (uint8_t)~seen;
        fbr__lock_release(&io->lock);
        return seen;
    }
    if (io->sched == NULL) {
        rc = fbr__poller_add(&s->poller, io->fd, poll_data(io));
        if (rc != FBR_OK) {
            fbr__lock_release(&io->lock);
            return rc;
        }
        io->sched = s;
    } else if (io->sched != s) {
        fbr__lock_release(&io->lock);
        return fbr__fail(FBR_EINVAL, "%s: descriptor %d is watched by another scheduler's poller", what, io->fd);
    }
    fbr__wait w;
    fbr__wait_init(&w);
    fbr__wait_node nodes[2] = {{.wait = &w}, {.wait = &w}};
    for (int dir = 0; dir < 2; dir++) {
        int bit = dir == FBR__IO_DIR_READ ? FBR_IO_READABLE : FBR_IO_WRITABLE;
        if (events & bit) {
            nodes[dir].token = (uint32_t)bit;
            fbr__wait_queue_push(&io->waiters[dir], &nodes[dir]);
        }
    }
    uint32_t token = fbr__wait_block(&w, fbr__wait_release_lock, &io->lock, deadline);
    /* A wait on both directions leaves the other node queued; a timeout
     * leaves both. */
    if (token == FBR__CLAIM_TIMEOUT || events == (FBR_IO_READABLE | FBR_IO_WRITABLE)) {
        fbr__lock_acquire(&io->lock);
        fbr__wait_queue_remove(&io->waiters[FBR__IO_DIR_READ], &nodes[FBR__IO_DIR_READ]);
        fbr__wait_queue_remove(&io->waiters[FBR__IO_DIR_WRITE], &nodes[FBR__IO_DIR_WRITE]);
        fbr__lock_release(&io->lock);
    }
    if (token == FBR__CLAIM_TIMEOUT)
        return fbr__fail(FBR_ETIMEDOUT, "%s: the deadline passed waiting for descriptor %d", what, io->fd);
    if (w.result == FBR_ECLOSED)
        return fbr__fail(FBR_ECLOSED, "%s: the handle was closed while waiting", what);
    if (w.result == FBR_ECANCELED)
        return fbr__fail(FBR_ECANCELED, "%s: I/O on descriptor %d was cancelled", what, io->fd);
    return w.result;
}

static int wait_on_thread(struct fbr_io *io, int events, int64_t deadline, const char *what)
{
    fbr__lock_acquire(&io->lock);
    int rc = check_usable(io, what);
    if (rc == FBR_OK)
        io->thread_waiters++;
    fbr__lock_release(&io->lock);
    if (rc != FBR_OK)
        return rc;
    struct pollfd pfd = {.fd = io->fd,
                         .events = (short)((events & FBR_IO_READABLE ? POLLIN | POLLRDHUP : 0) |
                                           (events & FBR_IO_WRITABLE ? POLLOUT : 0))};
    struct timespec ts, *tsp = NULL;
    if (deadline != FBR_NO_DEADLINE) {
        int64_t left = fbr__time_left(deadline);
        ts.tv_sec = (time_t)(left / FBR_SECOND);
        ts.tv_nsec = (long)(left % FBR_SECOND);
        tsp = &ts;
    }
    int n = ppoll(&pfd, 1, tsp, NULL);
    int err = errno;
    fbr__lock_acquire(&io->lock);
    io->thread_waiters--;
    rc = check_usable(io, what);
    fbr__lock_release(&io->lock);
    if (rc != FBR_OK)
        return rc;
    if (n < 0)
        return err == EINTR ? events : sys_fail(err, what, io); /* EINTR: the caller retries */
    if (n == 0)
        return fbr__fail(FBR_ETIMEDOUT, "%s: the deadline passed waiting for descriptor %d", what, io->fd);
    int seen = 0;
    if (pfd.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))
        seen |= FBR_IO_READABLE;
    if (pfd.revents & (POLLOUT | POLLHUP | POLLERR))
        seen |= FBR_IO_WRITABLE;
    if (pfd.revents & POLLNVAL)
        return fbr__fail(FBR_ECLOSED, "%s: descriptor %d is no longer open", what, io->fd);
    return seen & events ? seen & events : events;
}

/* Waits for `events` on behalf of an operation that found nothing to do. */
static int wait_for(struct fbr_io *io, int events, int64_t deadline, const char *what)
{
    struct fbr_fiber *self = fbr_fiber_self();
    if (self && self->sched)
        return wait_on_fiber(io, self->sched, events, deadline, what);
    return wait_on_thread(io, events, deadline, what);
}

int fbr_io_wait(fbr_io *io, int events, int64_t deadline)
{
    if (events <= 0 || (events & ~(FBR_IO_READABLE | FBR_IO_WRITABLE)))
        return fbr__fail(FBR_EINVAL, "fbr_io_wait: events %d is not a mix of FBR_IO_READABLE and FBR_IO_WRITABLE",
                         events);
    int rc = enter(io, "fbr_io_wait");
    if (rc != FBR_OK)
        return rc;
    rc = wait_for(io, events, deadline, "fbr_io_wait");
    leave(io);
    return rc;
}

static bool would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* After a system call on io failed with err: 0 to try it again (interrupted,
 * or the wait for `events` ended), else the code to return. */
static int retry_after(struct fbr_io *io, int err, int events, int64_t deadline, const char *what)
{
    if (err == EINTR)
        return 0;
    if (!would_block(err))
        return sys_fail(err, what, io);
    int w = wait_for(io, events, deadline, what);
    return w < 0 ? w : 0;
}

/* ---- reading ------------------------------------------------------------------ */

enum read_kind { READ_PLAIN, READ_VECTOR, READ_RECV };

struct read_args {
    enum read_kind kind;
    void *buf;
    size_t len;
    const struct iovec *iov;
    int iovcnt;
    int flags;
};

static ssize_t read_once(struct fbr_io *io, const struct read_args *a)
{
    switch (a->kind) {
    case READ_VECTOR: return readv(io->fd, a->iov, a->iovcnt);
    case READ_RECV: return recv(io->fd, a->buf, a->len, a->flags);
    default: return read(io->fd, a->buf, a->len);
    }
}

static ssize_t do_read(struct fbr_io *io, const struct read_args *a, int64_t deadline, const char *what)
{
    int rc = enter(io, what);
    if (rc != FBR_OK)
        return rc;
    ssize_t n;
    while ((n = read_once(io, a)) < 0 && (n = retry_after(io, errno, FBR_IO_READABLE, deadline, what)) == 0) {
    }
    leave(io);
    return n;
}

ssize_t fbr_io_read(fbr_io *io, void *buf, size_t len, int64_t deadline)
{
    if (buf == NULL && len)
        return fbr__fail(FBR_EINVAL, "fbr_io_read: buf is NULL");
    struct read_args a = {.kind = READ_PLAIN, .buf = buf, .len = len};
    return do_read(io, &a, deadline, "fbr_io_read");
}

ssize_t fbr_io_readv(fbr_io *io, const struct iovec *iov, int iovcnt, int64_t deadline)
{
    if (iovcnt < 0 || (iov == NULL && iovcnt))
        return fbr__fail(FBR_EINVAL, "fbr_io_readv: bad vector (%d entries)", iovcnt);
    struct read_args a = {.kind = READ_VECTOR, .iov = iov, .iovcnt = iovcnt};
    return do_read(io, &a, deadline, "fbr_io_readv");
}

ssize_t fbr_io_recv(fbr_io *io, void *buf, size_t len, int flags, int64_t deadline)
{
    if (buf == NULL && len)
        return fbr__fail(FBR_EINVAL, "fbr_io_recv: buf is NULL");
    struct read_args a = {.kind = READ_RECV, .buf = buf, .len = len, .flags = flags};
    return do_read(io, &a, deadline, "fbr_io_recv");
}

ssize_t fbr_io_try_read(fbr_io *io, void *buf, size_t len)
{
    if (buf == NULL && len)
        return fbr__fail(FBR_EINVAL, "fbr_io_try_read: buf is NULL");
    int rc = enter(io, "fbr_io_try_read");
    if (rc != FBR_OK)
        return rc;
    ssize_t n;
    do
        n = read(io->fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        n = would_block(errno) ? FBR_EAGAIN : sys_fail(errno, "fbr_io_try_read", io);
    leave(io);
    return n;
}

/* ---- writing ------------------------------------------------------------------ */

static ssize_t write_all(struct fbr_io *io, const char *buf, size_t len, int flags, bool use_send, int64_t deadline,
                         const char *what)
{
    if (buf == NULL && len)
        return fbr__fail(FBR_EINVAL, "%s: buf is NULL", what);
    int rc = enter(io, what);
    if (rc != FBR_OK)
        return rc;
    size_t done = 0;
    ssize_t failure = 0;
    while (done < len) {
        ssize_t n = use_send ? send(io->fd, buf + done, len - done, flags | MSG_NOSIGNAL)
                             : write(io->fd, buf + done, len - done);
        if (n >= 0)
            done += (size_t)n;
        else if ((failure = retry_after(io, errno, FBR_IO_WRITABLE, deadline, what)) < 0)
            break;
    }
    leave(io);
    return done > 0 || failure == 0 ? (ssize_t)done : failure;
}

ssize_t fbr_io_write(fbr_io *io, const void *buf, size_t len, int64_t deadline)
{
    /* A socket written with write(2) raises SIGPIPE when the peer is gone;
     * send with MSG_NOSIGNAL reports EPIPE instead. */
    bool is_socket = io != NULL && io->is_socket;
    return write_all(io, buf, len, 0, is_socket, deadline, "fbr_io_write");
}

ssize_t fbr_io_try_write(fbr_io *io, const void *buf, size_t len)
{
    if (buf == NULL && len)
        return fbr__fail(FBR_EINVAL, "fbr_io_try_write: buf is NULL");
    int rc = enter(io, "fbr_io_try_write");
    if (rc != FBR_OK)
        return rc;
    ssize_t n;
    do
        n = io->is_socket ? send(io->fd, buf, len, MSG_NOSIGNAL) : write(io->fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        n = would_block(errno) ? FBR_EAGAIN : sys_fail(errno, "fbr_io_try_write", io);
    leave(io);
    return n;
}

ssize_t fbr_io_send(fbr_io *io, const void *buf, size_t len, int flags, int64_t deadline)
{
    return write_all(io, buf, len, flags, true, deadline, "fbr_io_send");
}

ssize_t fbr_io_writev(fbr_io *io, const struct iovec *iov, int iovcnt, int64_t deadline)
{
    if (iovcnt < 0 || (iov == NULL && iovcnt))
        return fbr__fail(FBR_EINVAL, "fbr_io_writev: bad vector (%d entries)", iovcnt);
    int rc = enter(io, "fbr_io_writev");
    if (rc != FBR_OK)
        return rc;
    ssize_t n;
    for (;;) {
        if (io->is_socket) {
            struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
            n = sendmsg(io->fd, &msg, MSG_NOSIGNAL);
        } else {
            n = writev(io->fd, iov, iovcnt);
        }
        if (n >= 0 || (n = retry_after(io, errno, FBR_IO_WRITABLE, deadline, "fbr_io_writev")) < 0)
            break;
    }
    leave(io);
    return n;
}

/* ---- sockets ------------------------------------------------------------------ */

int fbr_io_accept(fbr_io *listener, fbr_io **out, struct sockaddr *addr, socklen_t *addrlen, int64_t deadline)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_io_accept: out is NULL");
    *out = NULL;
    if (addr != NULL && addrlen == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_io_accept: addr without addrlen");
    int rc = enter(listener, "fbr_io_accept");
    if (rc != FBR_OK)
        return rc;
    for (;;) {
        int fd = accept4(listener->fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            rc = adopt(out, fd, "fbr_io_accept");
            if (rc != FBR_OK)
                close(fd);
            break;
        }
        int err = errno;
        /* A connection that died in the queue is not the listener's error. */
        if (err == EINTR || err == ECONNABORTED)
            continue;
        if (!would_block(err)) {
            rc = sys_fail(err, "fbr_io_accept", listener);
            break;
        }
        int w = wait_for(listener, FBR_IO_READABLE, deadline, "fbr_io_accept");
        if (w < 0) {
            rc = w;
            break;
        }
    }
    leave(listener);
    return rc;
}

int fbr_io_connect(fbr_io *io, const struct sockaddr *addr, socklen_t addrlen, int64_t deadline)
{
    if (addr == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_io_connect: addr is NULL");
    int rc = enter(io, "fbr_io_connect");
    if (rc != FBR_OK)
        return rc;
    if (connect(io->fd, addr, addrlen) == 0) {
        leave(io);
        return FBR_OK;
    }
    int err = errno;
    if (err == EINPROGRESS || err == EINTR) {
        /* The handshake goes on in the kernel; writable means it ended. */
        for (;;) {
            rc = wait_for(io, FBR_IO_WRITABLE, deadline, "fbr_io_connect");
            if (rc < 0)
                break;
            socklen_t len = sizeof err;
            if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
            if (err == 0) {
                rc = FBR_OK;
                break;
            }
            if (err != EINPROGRESS && err != EALREADY) {
                rc = sys_fail(err, "fbr_io_connect", io);
                break;
            }
        }
    } else {
        rc = sys_fail(err, "fbr_io_connect", io);
    }
    leave(io);
    return rc;
}

int fbr_io_shutdown(fbr_io *io, int how)
{
    int rc = enter(io, "fbr_io_shutdown");
    if (rc != FBR_OK)
        return rc;
    if (shutdown(io->fd, how) != 0)
        rc = sys_fail(errno, "fbr_io_shutdown", io);
    leave(io);
    return rc;
}

int fbr_io_socket(fbr_io **out, int domain, int type, int protocol)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_io_socket: out is NULL");
    *out = NULL;
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return fbr__fail(FBR_SYSERR(errno), "fbr_io_socket: %s", strerror(errno));
    int rc = adopt(out, fd, "fbr_io_socket");
    if (rc != FBR_OK)
        close(fd);
    return rc;
}

/* host (NULL: IPv4 any) and port as a socket address. */
static int parse_address(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len,
                         const char *what)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (host == NULL) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_port = htons(port);
        *len = sizeof *v4;
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof *v6;
    } else {
        return fbr__fail(FBR_EINVAL, "%s: \"%s\" is not an IPv4 or IPv6 address (resolve names first)", what, host);
    }
    return FBR_OK;
}

/* The address `host`:`port` and an unbound TCP socket of its family. */
static int tcp_socket_for(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len, fbr_io **io,
                          const char *what)
{
    int rc = parse_address(host, port, ss, len, what);
    return rc != FBR_OK ? rc : fbr_io_socket(io, ss->ss_family, SOCK_STREAM, 0);
}

int fbr_io_listen_tcp(fbr_io **out, const char *host, uint16_t port, int backlog)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_io_listen_tcp: out is NULL");
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    fbr_io *io;
    int rc = tcp_socket_for(host, port, &ss, &len, &io, "fbr_io_listen_tcp");
    if (rc != FBR_OK)
        return rc;
    int one = 1;
    (void)setsockopt(io->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(io->fd, (struct sockaddr *)&ss, len) != 0)
        rc = fbr__fail(FBR_SYSERR(errno), "fbr_io_listen_tcp: cannot bind %s:%u: %s", host ? host : "0.0.0.0", port,
                       strerror(errno));
    else if (listen(io->fd, backlog > 0 ? backlog : SOMAXCONN) != 0)
        rc = fbr__fail(FBR_SYSERR(errno), "fbr_io_listen_tcp: listen: %s", strerror(errno));
    if (rc != FBR_OK) {
        fbr_io_close(io);
        return rc;
    }
    *out = io;
    return FBR_OK;
}

int fbr_io_connect_tcp(fbr_io **out, const char *host, uint16_t port, int64_t deadline)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_io_connect_tcp: out is NULL");
    *out = NULL;
    if (host == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_io_connect_tcp: host is NULL");
    struct sockaddr_storage ss;
    socklen_t len = 0;
    fbr_io *io;
    int rc = tcp_socket_for(host, port, &ss, &len, &io, "fbr_io_connect_tcp");
    if (rc != FBR_OK)
        return rc;
    int one = 1;
    (void)setsockopt(io->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rc = fbr_io_connect(io, (struct sockaddr *)&ss, len, deadline);
    if (rc != FBR_OK) {
        int saved = fbr_last_error_code();
        char message[256];
        snprintf(message, sizeof message, "%s", fbr_last_error());
        fbr_io_close(io);
        if (saved == rc)
            fbr__fail(rc, "%s", message);
        return rc;
    }
    *out = io;
    return FBR_OK;
}

int fbr_io_local_port(fbr_io *io)
{
    int rc = enter(io, "fbr_io_local_port");
    if (rc != FBR_OK)
        return rc;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(io->fd, (struct sockaddr *)&ss, &len) != 0)
        rc = sys_fail(errno, "fbr_io_local_port", io);
    else if (ss.ss_family == AF_INET)
        rc = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        rc = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        rc = fbr__fail(FBR_EINVAL, "fbr_io_local_port: descriptor %d is not an IP socket", io->fd);
    leave(io);
    return rc;
}
