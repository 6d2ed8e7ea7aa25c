/*
 * Fiber-aware I/O: a fiber that would block on a socket, pipe or eventfd
 * parks, and its worker runs other fibers until the descriptor is ready.
 * A server is then one straight-line fiber per connection:
 *
 *     static void *serve_one(void *arg)
 *     {
 *         fbr_io *conn = arg;
 *         char buf[4096];
 *         ssize_t n;
 *         while ((n = fbr_io_read(conn, buf, sizeof buf, fbr_deadline_in(30 * FBR_SECOND))) > 0)
 *             if (fbr_io_write(conn, buf, (size_t)n, FBR_NO_DEADLINE) < 0)
 *                 break;
 *         fbr_io_close(conn);
 *         return NULL;
 *     }
 *
 *     // in a fiber: accept and spawn one fiber per connection
 *     fbr_io *listener, *conn;
 *     fbr_io_listen_tcp(&listener, "127.0.0.1", 8080, 1024);
 *     while (fbr_io_accept(listener, &conn, NULL, NULL, FBR_NO_DEADLINE) == FBR_OK)
 *         fbr_spawn(fbr_sched_current(), NULL, serve_one, conn, NULL);
 *
 * An fbr_io owns one descriptor, which it puts in non-blocking mode. Called
 * from a fiber of a scheduler, an operation that cannot complete at once
 * parks the fiber on that scheduler's poller (epoll); called from a plain OS
 * thread it blocks the thread, as the system call would. An fbr_io serves the
 * fibers of one scheduler: the first fiber that waits on it binds it.
 *
 * Operations take an absolute deadline (fbr_deadline_in, or FBR_NO_DEADLINE)
 * and return FBR_ETIMEDOUT when it passes. Failures of the system calls are
 * returned as FBR_SYSERR(errno), for example FBR_SYSERR(ECONNRESET); their
 * messages come from fbr_strerror() as usual.
 *
 * Blocking calls that have no descriptor to wait on (regular files, DNS, a
 * library that blocks) go through fbr_blocking_call(), which runs them on a
 * separate thread while the calling fiber parks.
 */
#ifndef FIBERRT_IO_H
#define FIBERRT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fbr_io fbr_io;

/* What fbr_io_wait waits for. */
#define FBR_IO_READABLE 1
#define FBR_IO_WRITABLE 2

/* A system call's errno as a runtime error code (always negative, never one
 * of the FBR_E* codes above), and back. */
#define FBR_ESYS_BASE (-1000)
#define FBR_SYSERR(errno_value) (FBR_ESYS_BASE - (errno_value))
#define FBR_IS_SYSERR(code) ((code) < FBR_ESYS_BASE)
#define FBR_SYSERR_ERRNO(code) (FBR_ESYS_BASE - (code))

/* Adopts fd (closing it is now fbr_io_close's job) and makes it non-blocking.
 * FBR_EINVAL for a negative or closed descriptor; FBR_ENOMEM past the table's
 * 16 Mi handles. */
FBR_API int fbr_io_open(fbr_io **out, int fd);

/* A new non-blocking, close-on-exec socket (the arguments of socket(2)). */
FBR_API int fbr_io_socket(fbr_io **out, int domain, int type, int protocol);

/* A TCP socket listening on host (an IPv4 or IPv6 literal; NULL means every
 * IPv4 address) and port (0 picks a free one: see fbr_io_local_port), with
 * SO_REUSEADDR set. */
FBR_API int fbr_io_listen_tcp(fbr_io **out, const char *host, uint16_t port, int backlog);

/* A TCP connection to host:port (literals as above). TCP_NODELAY is set. */
FBR_API int fbr_io_connect_tcp(fbr_io **out, const char *host, uint16_t port, int64_t deadline);

/* The port a TCP socket is bound to, or a negative code. */
FBR_API int fbr_io_local_port(fbr_io *io);

/* The descriptor (still owned by io). */
FBR_API int fbr_io_fd(fbr_io *io);

/* Closes the descriptor. Operations waiting on io in other fibers fail with
 * FBR_ECLOSED; the descriptor itself is closed once the last operation in
 * progress has left, so no operation ever touches a reused number. io is
 * invalid afterwards. FBR_ECLOSED for a second close. */
FBR_API int fbr_io_close(fbr_io *io);

/* Cancels io for good: operations waiting on it now, and every later one,
 * fail with FBR_ECANCELED (the descriptor stays open until fbr_io_close).
 * This is how a server stops its accept loop or a watchdog aborts a
 * connection. A thread blocked on a socket is woken by shutting the socket
 * down; a thread blocked on another kind of descriptor only notices at its
 * deadline. Any thread may call it. */
FBR_API int fbr_io_cancel(fbr_io *io);

/* Waits until io is readable and/or writable (FBR_IO_READABLE |
 * FBR_IO_WRITABLE), as the poller last reported it. Returns the events seen
 * (>0) or a negative code. Readiness is a hint: the next operation may
 * still find nothing to do, and then waits again. */
FBR_API int fbr_io_wait(fbr_io *io, int events, int64_t deadline);

/* read(2): up to len bytes; 0 at end of file. */
FBR_API ssize_t fbr_io_read(fbr_io *io, void *buf, size_t len, int64_t deadline);
FBR_API ssize_t fbr_io_readv(fbr_io *io, const struct iovec *iov, int iovcnt, int64_t deadline);
/* recv(2) with flags (MSG_PEEK, ...). */
FBR_API ssize_t fbr_io_recv(fbr_io *io, void *buf, size_t len, int flags, int64_t deadline);

/* One read(2) or write(2)/send(2) that never waits: bytes moved, 0 at end of
 * file (reads), or FBR_EAGAIN (without a message) when it would have had to
 * wait. For callers that wait on their own, with fbr_io_wait (the C# binding:
 * its buffers may move while a fiber waits, so it waits first and touches
 * the buffer only in this call). Writes may be partial. */
FBR_API ssize_t fbr_io_try_read(fbr_io *io, void *buf, size_t len);
FBR_API ssize_t fbr_io_try_write(fbr_io *io, const void *buf, size_t len);

/* Writes all len bytes, waiting for room as often as needed. Returns len, or
 * a negative code if nothing was written; if the failure (or the deadline)
 * comes after some bytes went out, returns that partial count, and the next
 * call reports the failure. */
FBR_API ssize_t fbr_io_write(fbr_io *io, const void *buf, size_t len, int64_t deadline);
/* writev(2) that waits for room once; it may write only part (like writev). */
FBR_API ssize_t fbr_io_writev(fbr_io *io, const struct iovec *iov, int iovcnt, int64_t deadline);
/* send(2) with flags (MSG_NOSIGNAL is always added), all bytes as fbr_io_write. */
FBR_API ssize_t fbr_io_send(fbr_io *io, const void *buf, size_t len, int flags, int64_t deadline);

/* accept4(2) on a listening io; the connection comes back as a new fbr_io.
 * addr and addrlen may be NULL. */
FBR_API int fbr_io_accept(fbr_io *listener, fbr_io **out, struct sockaddr *addr, socklen_t *addrlen,
                          int64_t deadline);

/* connect(2) on a socket io, waiting for the handshake. */
FBR_API int fbr_io_connect(fbr_io *io, const struct sockaddr *addr, socklen_t addrlen, int64_t deadline);

/* shutdown(2) (SHUT_RD, SHUT_WR, SHUT_RDWR). */
FBR_API int fbr_io_shutdown(fbr_io *io, int how);

/* Runs fn(arg) without stalling the caller's worker: from a fiber of a
 * scheduler, on one of the runtime's blocking-call threads while the fiber
 * parks (the pool grows to 64 threads, and idle ones leave after a few
 * seconds); from anywhere else, directly. *result (if not NULL) receives
 * fn's return value and errno is fn's errno. fn runs on another thread: its
 * thread-local state is not the fiber's. */
FBR_API int fbr_blocking_call(void *(*fn)(void *), void *arg, void **result);

#ifdef __cplusplus
}
#endif

#endif
