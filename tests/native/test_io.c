/* Fiber-aware I/O: a fiber waiting on a descriptor parks and its worker runs
 * others; threads block as with the plain system calls; closing, cancelling
 * and deadlines end waits; descriptors never leak. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fiberrt.h>

#include "harness.h"
#include "support.h"

#ifdef FBR_TEST_UNDER_EMULATOR
#define CONNECTIONS 200
#else
#define CONNECTIONS 2000
#endif

static fbr_sched *start(unsigned workers)
{
    fbr_sched *s;
    fbr_sched_options opts = {.workers = workers};
    CHECK_OK(fbr_sched_create(&s, &opts));
    return s;
}

static void stop(fbr_sched *s)
{
    CHECK_OK(fbr_sched_shutdown(s, FBR_NO_DEADLINE, NULL, 0, NULL));
    CHECK_OK(fbr_sched_destroy(s));
}

static void join(fbr_fiber *f)
{
    CHECK_OK(fbr_join(f, NULL));
}

static long open_descriptors(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    long n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void allow_descriptors(long needed)
{
    struct rlimit rl;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
    if ((long)rl.rlim_cur < needed && (long)rl.rlim_max >= needed) {
        rl.rlim_cur = (rlim_t)needed;
        CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
    }
    if ((long)rl.rlim_cur < needed)
        SKIP("needs %ld descriptors; the hard limit is %ld", needed, (long)rl.rlim_max);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* ---- an echo server, one fiber per connection ------------------------------------ */

struct server {
    fbr_io *listener;
    int port;
    fbr_waitgroup *handlers;
    long accepted;
    uint64_t bytes_echoed; /* atomic */
};

static void *echo_connection(void *arg)
{
    fbr_io *conn = arg;
    char buf[4096];
    ssize_t n;
    uint64_t echoed = 0;
    while ((n = fbr_io_read(conn, buf, sizeof buf, FBR_NO_DEADLINE)) > 0) {
        CHECK_EQ(fbr_io_write(conn, buf, (size_t)n, FBR_NO_DEADLINE), n);
        echoed += (uint64_t)n;
    }
    CHECK(n == 0 || n == FBR_SYSERR(ECONNRESET));
    CHECK_OK(fbr_io_close(conn));
    return (void *)(uintptr_t)echoed;
}

static void *echo_handler_done(void *arg)
{
    void **pair = arg;
    struct server *srv = pair[0];
    void *echoed = echo_connection(pair[1]);
    free(pair);
    __atomic_add_fetch(&srv->bytes_echoed, (uint64_t)(uintptr_t)echoed, __ATOMIC_RELAXED);
    CHECK_OK(fbr_waitgroup_done(srv->handlers));
    return NULL;
}

/* Accepts until the listener is cancelled, then waits for its handlers. */
static void *accept_loop(void *arg)
{
    struct server *srv = arg;
    fbr_io *conn;
    int rc;
    while ((rc = fbr_io_accept(srv->listener, &conn, NULL, NULL, FBR_NO_DEADLINE)) == FBR_OK) {
        srv->accepted++;
        void **pair = malloc(2 * sizeof *pair);
        CHECK(pair != NULL);
        pair[0] = srv;
        pair[1] = conn;
        CHECK_OK(fbr_waitgroup_add(srv->handlers, 1));
        CHECK_OK(fbr_spawn(fbr_sched_current(), NULL, echo_handler_done, pair, NULL));
    }
    CHECK_EQ(rc, FBR_ECANCELED);
    CHECK_OK(fbr_waitgroup_wait(srv->handlers));
    return NULL;
}

static void server_start(struct server *srv, fbr_sched *s, fbr_fiber **accepter)
{
    memset(srv, 0, sizeof *srv);
    CHECK_OK(fbr_io_listen_tcp(&srv->listener, "127.0.0.1", 0, 4096));
    srv->port = fbr_io_local_port(srv->listener);
    CHECK(srv->port > 0);
    CHECK_OK(fbr_waitgroup_create(&srv->handlers));
    CHECK_OK(fbr_spawn(s, accepter, accept_loop, srv, NULL));
}

static void server_stop(struct server *srv, fbr_fiber *accepter)
{
    CHECK_OK(fbr_io_cancel(srv->listener));
    join(accepter);
    CHECK_OK(fbr_io_close(srv->listener));
    CHECK_OK(fbr_waitgroup_destroy(srv->handlers));
}

struct client {
    int port;
    unsigned id;
    uint64_t sent_sum, received_sum;
    size_t bytes;
};

/* Sends chunks of varied sizes (some larger than a socket buffer) and
 * reads each one's echo back, summing what went out and what came in. */
static void *echo_client(void *arg)
{
    struct client *c = arg;
    fbr_io *conn;
    CHECK_OK(fbr_io_connect_tcp(&conn, "127.0.0.1", (uint16_t)c->port, fbr_deadline_in(30 * FBR_SECOND)));
    /* Heap, not thread-local: fibers that share a worker thread would
     * share a thread-local buffer across their parks. */
    enum { OUT_SIZE = 96 * 1024 };
    unsigned char *out = malloc(OUT_SIZE);
    CHECK(out != NULL);
    unsigned char in[8192];
    uint64_t seed = mix(c->id + 1);
    for (int round = 0; round < 3; round++) {
        size_t len = 1 + (size_t)(mix(seed + (uint64_t)round) % (c->id % 50 == 0 ? OUT_SIZE : 2048));
        for (size_t i = 0; i < len; i++) {
            out[i] = (unsigned char)mix(seed ^ (round * 1000003ull + i));
            c->sent_sum += out[i] * (i + 1);
        }
        /* A big chunk may not fit the socket buffers both ways at once:
         * write half, read its echo, then the rest. */
        if (len > sizeof in) {
            size_t first = len / 2;
            CHECK_EQ(fbr_io_write(conn, out, first, FBR_NO_DEADLINE), first);
            size_t got = 0;
            while (got < first) {
                ssize_t n = fbr_io_read(conn, in, sizeof in, fbr_deadline_in(30 * FBR_SECOND));
                CHECK(n > 0);
                for (ssize_t i = 0; i < n; i++)
                    c->received_sum += in[i] * (got + (size_t)i + 1);
                got += (size_t)n;
            }
            CHECK_EQ(fbr_io_write(conn, out + first, len - first, FBR_NO_DEADLINE), len - first);
            while (got < len) {
                ssize_t n = fbr_io_read(conn, in, sizeof in, fbr_deadline_in(30 * FBR_SECOND));
                CHECK(n > 0);
                for (ssize_t i = 0; i < n; i++)
                    c->received_sum += in[i] * (got + (size_t)i + 1);
                got += (size_t)n;
            }
        } else {
            CHECK_EQ(fbr_io_send(conn, out, len, 0, FBR_NO_DEADLINE), len);
            size_t got = 0;
            while (got < len) {
                ssize_t n = fbr_io_recv(conn, in, sizeof in, 0, fbr_deadline_in(30 * FBR_SECOND));
                CHECK(n > 0);
                for (ssize_t i = 0; i < n; i++)
                    c->received_sum += in[i] * (got + (size_t)i + 1);
                got += (size_t)n;
            }
        }
        c->bytes += len;
    }
    CHECK_OK(fbr_io_close(conn));
    free(out);
    return NULL;
}

FBR_TEST(thousands_of_connections_echo_checksummed_data_and_leak_no_descriptor)
{
    allow_descriptors(2 * CONNECTIONS + 100);
    long fds_before = open_descriptors();
    fbr_sched *s = start(2);
    struct server srv;
    fbr_fiber *accepter;
    server_start(&srv, s, &accepter);

    struct client *clients = calloc(CONNECTIONS, sizeof *clients);
    fbr_fiber **fibers = calloc(CONNECTIONS, sizeof *fibers);
    CHECK(clients && fibers);
    /* All connections are open at once: every client connects before any
     * finishes its first round trip. */
    for (unsigned i = 0; i < CONNECTIONS; i++) {
        clients[i].port = srv.port;
        clients[i].id = i;
        CHECK_OK(fbr_spawn(s, &fibers[i], echo_client, &clients[i], NULL));
    }
    uint64_t bytes = 0;
    for (unsigned i = 0; i < CONNECTIONS; i++) {
        join(fibers[i]);
        CHECK_EQ(clients[i].received_sum, clients[i].sent_sum);
        bytes += clients[i].bytes;
    }
    server_stop(&srv, accepter);
    CHECK_EQ(srv.accepted, CONNECTIONS);
    CHECK_EQ(__atomic_load_n(&srv.bytes_echoed, __ATOMIC_RELAXED), bytes);
    stop(s);
    free(clients);
    free(fibers);
    CHECK_EQ(open_descriptors(), fds_before);
}

/* ---- parking, not blocking ----------------------------------------------------- */

struct pipe_pair {
    fbr_io *reader, *writer;
    char got[16];
    ssize_t read_result;
    long ticks_while_waiting;
    bool done_waiting;
};

static void *read_pipe(void *arg)
{
    struct pipe_pair *p = arg;
    p->read_result = fbr_io_read(p->reader, p->got, sizeof p->got, fbr_deadline_in(20 * FBR_SECOND));
    __atomic_store_n(&p->done_waiting, true, __ATOMIC_RELEASE);
    return NULL;
}

/* Runs on the same single worker as the reader: if the read blocked the
 * worker, this fiber would never run and the read would time out. */
static void *tick_then_write(void *arg)
{
    struct pipe_pair *p = arg;
    for (int i = 0; i < 100; i++) {
        p->ticks_while_waiting++;
        CHECK_OK(fbr_yield());
    }
    CHECK(!__atomic_load_n(&p->done_waiting, __ATOMIC_ACQUIRE));
    CHECK_EQ(fbr_io_write(p->writer, "hello", 5, FBR_NO_DEADLINE), 5);
    return NULL;
}

static void make_pipe(struct pipe_pair *p)
{
    memset(p, 0, sizeof *p);
    int fds[2];
    CHECK_OK(pipe(fds));
    CHECK_OK(fbr_io_open(&p->reader, fds[0]));
    CHECK_OK(fbr_io_open(&p->writer, fds[1]));
}

static void close_pipe(struct pipe_pair *p)
{
    CHECK_OK(fbr_io_close(p->reader));
    CHECK_OK(fbr_io_close(p->writer));
}

FBR_TEST(a_read_parks_its_fiber_and_the_worker_runs_others)
{
    fbr_sched *s = start(1);
    struct pipe_pair p;
    make_pipe(&p);
    fbr_fiber *reader, *writer;
    CHECK_OK(fbr_spawn(s, &reader, read_pipe, &p, NULL));
    CHECK_OK(fbr_spawn(s, &writer, tick_then_write, &p, NULL));
    join(reader);
    join(writer);
    CHECK_EQ(p.read_result, 5);
    CHECK(memcmp(p.got, "hello", 5) == 0);
    CHECK_EQ(p.ticks_while_waiting, 100);
    close_pipe(&p);
    stop(s);
}

struct timed {
    fbr_io *io;
    int64_t deadline_ns;
    int64_t started, ended;
    ssize_t result;
};

static void *read_with_deadline(void *arg)
{
    struct timed *t = arg;
    char c;
    t->started = fbr_now();
    t->result = fbr_io_read(t->io, &c, 1, t->started + t->deadline_ns);
    t->ended = fbr_now();
    return NULL;
}

static void *accept_with_deadline(void *arg)
{
    struct timed *t = arg;
    fbr_io *conn;
    t->started = fbr_now();
    t->result = fbr_io_accept(t->io, &conn, NULL, NULL, t->started + t->deadline_ns);
    t->ended = fbr_now();
    return NULL;
}

FBR_TEST(deadlines_expire_on_fibers_and_threads)
{
    fbr_sched *s = start(2);
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    fbr_io *a, *b, *listener;
    CHECK_OK(fbr_io_open(&a, sv[0]));
    CHECK_OK(fbr_io_open(&b, sv[1]));
    CHECK_OK(fbr_io_listen_tcp(&listener, "127.0.0.1", 0, 16));

    struct timed on_fiber = {.io = a, .deadline_ns = 30 * FBR_MILLISECOND};
    struct timed accepting = {.io = listener, .deadline_ns = 30 * FBR_MILLISECOND};
    fbr_fiber *f1, *f2;
    CHECK_OK(fbr_spawn(s, &f1, read_with_deadline, &on_fiber, NULL));
    CHECK_OK(fbr_spawn(s, &f2, accept_with_deadline, &accepting, NULL));
    join(f1);
    join(f2);
    CHECK_EQ(on_fiber.result, FBR_ETIMEDOUT);
    CHECK(on_fiber.ended - on_fiber.started >= on_fiber.deadline_ns);
    CHECK_EQ(accepting.result, FBR_ETIMEDOUT);
    CHECK(accepting.ended - accepting.started >= accepting.deadline_ns);

    /* The same from a plain thread: a blocking call with a timeout. */
    struct timed on_thread = {.io = b, .deadline_ns = 30 * FBR_MILLISECOND};
    read_with_deadline(&on_thread);
    CHECK_EQ(on_thread.result, FBR_ETIMEDOUT);
    CHECK(on_thread.ended - on_thread.started >= on_thread.deadline_ns);

    /* However far in the past a deadline lies, a thread's wait ends at once
     * (the time left used to overflow into a wait of centuries). */
    char nothing;
    CHECK_EQ(fbr_io_read(b, &nothing, 1, INT64_MIN), FBR_ETIMEDOUT);
    CHECK_EQ(fbr_io_wait(b, FBR_IO_READABLE, INT64_MIN + fbr_now() - 1), FBR_ETIMEDOUT);

    /* A deadline already past still reads what is there. */
    CHECK_EQ(fbr_io_write(b, "x", 1, FBR_NO_DEADLINE), 1);
    char c;
    CHECK_EQ(fbr_io_read(a, &c, 1, 0), 1);
    CHECK_EQ(c, 'x');

    CHECK_OK(fbr_io_close(a));
    CHECK_OK(fbr_io_close(b));
    CHECK_OK(fbr_io_close(listener));
    stop(s);
}

/* ---- ending waits from outside ---------------------------------------------------- */

struct waiter {
    fbr_io *io;
    ssize_t result;
    ssize_t later;
    int started; /* atomic */
};

static void *wait_for_data(void *arg)
{
    struct waiter *w = arg;
    char c;
    __atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
    w->result = fbr_io_read(w->io, &c, 1, FBR_NO_DEADLINE);
    w->later = fbr_io_read(w->io, &c, 1, FBR_NO_DEADLINE);
    return NULL;
}

/* Until the waiter is parked on its read: yield until its state says so. */
static void wait_until_parked(fbr_fiber *f)
{
    for (;;) {
        if (fbr_fiber_status(f) == FBR_FIBER_SUSPENDED)
            return;
        CHECK_OK(fbr_yield());
    }
}

struct closing {
    struct waiter *waiters;
    fbr_fiber **fibers;
    int count;
    bool cancel;
};

static void *end_waits(void *arg)
{
    struct closing *c = arg;
    for (int i = 0; i < c->count; i++)
        wait_until_parked(c->fibers[i]);
    if (c->cancel)
        CHECK_OK(fbr_io_cancel(c->waiters[0].io));
    else
        CHECK_OK(fbr_io_close(c->waiters[0].io));
    return NULL;
}

static void end_waits_with(bool cancel)
{
    long fds_before = open_descriptors();
    fbr_sched *s = start(2);
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    fbr_io *io, *peer;
    CHECK_OK(fbr_io_open(&io, sv[0]));
    CHECK_OK(fbr_io_open(&peer, sv[1]));
    struct waiter waiters[3];
    fbr_fiber *fibers[3];
    for (int i = 0; i < 3; i++) {
        waiters[i] = (struct waiter){.io = io};
        CHECK_OK(fbr_spawn(s, &fibers[i], wait_for_data, &waiters[i], NULL));
    }
    struct closing c = {.waiters = waiters, .fibers = fibers, .count = 3, .cancel = cancel};
    fbr_fiber *closer;
    CHECK_OK(fbr_spawn(s, &closer, end_waits, &c, NULL));
    join(closer);
    for (int i = 0; i < 3; i++) {
        join(fibers[i]);
        CHECK_EQ(waiters[i].result, cancel ? FBR_ECANCELED : FBR_ECLOSED);
        CHECK_EQ(waiters[i].later, cancel ? FBR_ECANCELED : FBR_ECLOSED);
    }
    if (cancel) {
        /* Cancelled, not closed: the descriptor is still there to close. */
        CHECK(fbr_io_fd(io) >= 0);
        CHECK_OK(fbr_io_close(io));
    }
    CHECK_EQ(fbr_io_close(io), FBR_ECLOSED);
    CHECK_OK(fbr_io_close(peer));
    stop(s);
    CHECK_EQ(open_descriptors(), fds_before);
}

FBR_TEST(close_ends_every_wait_with_closed_and_frees_the_descriptor)
{
    end_waits_with(false);
}

FBR_TEST(cancel_ends_waits_and_later_operations)
{
    end_waits_with(true);
}

static void *thread_reads(void *arg)
{
    struct waiter *w = arg;
    char c;
    __atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
    w->result = fbr_io_read(w->io, &c, 1, fbr_deadline_in(60 * FBR_SECOND));
    return NULL;
}

FBR_TEST(threads_block_like_the_system_calls_and_cancel_wakes_them)
{
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    fbr_io *a, *b;
    CHECK_OK(fbr_io_open(&a, sv[0]));
    CHECK_OK(fbr_io_open(&b, sv[1]));
    /* Data written by one thread reaches another thread's blocking read. */
    CHECK_EQ(fbr_io_write(a, "ping", 4, FBR_NO_DEADLINE), 4);
    char buf[8];
    CHECK_EQ(fbr_io_read(b, buf, sizeof buf, FBR_NO_DEADLINE), 4);
    CHECK(memcmp(buf, "ping", 4) == 0);

    struct waiter w = {.io = b};
    pthread_t t;
    CHECK_OK(pthread_create(&t, NULL, thread_reads, &w));
    while (!__atomic_load_n(&w.started, __ATOMIC_ACQUIRE))
        sched_yield();
    /* Whether the thread is already in poll or about to be, it sees the
     * cancellation: before the wait by the flag, inside by the shutdown. */
    CHECK_OK(fbr_io_cancel(b));
    CHECK_OK(pthread_join(t, NULL));
    CHECK_EQ(w.result, FBR_ECANCELED);
    CHECK_OK(fbr_io_close(a));
    CHECK_OK(fbr_io_close(b));
}

/* ---- peers that go away ---------------------------------------------------------- */

struct half_request {
    int port;
    ssize_t server_read, server_write;
};

static void *serve_one_badly_treated(void *arg)
{
    struct half_request *h = arg;
    fbr_io *listener, *conn;
    CHECK_OK(fbr_io_listen_tcp(&listener, "127.0.0.1", 0, 4));
    __atomic_store_n(&h->port, fbr_io_local_port(listener), __ATOMIC_RELEASE);
    CHECK_OK(fbr_io_accept(listener, &conn, NULL, NULL, fbr_deadline_in(30 * FBR_SECOND)));
    char buf[64];
    /* The first half of a request arrives, then the peer is gone. */
    ssize_t n = fbr_io_read(conn, buf, 5, fbr_deadline_in(30 * FBR_SECOND));
    CHECK_EQ(n, 5);
    h->server_read = fbr_io_read(conn, buf, sizeof buf, fbr_deadline_in(30 * FBR_SECOND));
    /* Writing to it fails with the system's error, not SIGPIPE; the first
     * write may still be accepted by the kernel before the reset comes. */
    static char reply[256 * 1024];
    for (int i = 0; i < 20; i++) {
        h->server_write = fbr_io_write(conn, reply, sizeof reply, fbr_deadline_in(30 * FBR_SECOND));
        if (h->server_write < 0)
            break;
    }
    CHECK_OK(fbr_io_close(conn));
    CHECK_OK(fbr_io_close(listener));
    return NULL;
}

static void *client_leaves_halfway(void *arg)
{
    struct half_request *h = arg;
    int port;
    while ((port = __atomic_load_n(&h->port, __ATOMIC_ACQUIRE)) == 0)
        CHECK_OK(fbr_yield());
    fbr_io *conn;
    CHECK_OK(fbr_io_connect_tcp(&conn, "127.0.0.1", (uint16_t)port, fbr_deadline_in(30 * FBR_SECOND)));
    CHECK_EQ(fbr_io_write(conn, "GET /", 5, FBR_NO_DEADLINE), 5);
    /* Unread data at close makes the kernel send a reset, as a crashed
     * client would. */
    CHECK_OK(fbr_io_close(conn));
    return NULL;
}

FBR_TEST(a_peer_that_closes_mid_request_gives_end_of_file_then_the_systems_error)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
    long fds_before = open_descriptors();
    fbr_sched *s = start(2);
    struct half_request h = {0};
    fbr_fiber *server, *client;
    CHECK_OK(fbr_spawn(s, &server, serve_one_badly_treated, &h, NULL));
    CHECK_OK(fbr_spawn(s, &client, client_leaves_halfway, &h, NULL));
    join(client);
    join(server);
    CHECK_EQ(h.server_read, 0);
    CHECK(h.server_write == FBR_SYSERR(EPIPE) || h.server_write == FBR_SYSERR(ECONNRESET));
    CHECK(strstr(fbr_strerror((int)h.server_write), "pipe") || strstr(fbr_strerror((int)h.server_write), "reset"));
    stop(s);
    CHECK_EQ(open_descriptors(), fds_before);
}

/* ---- blocking calls ----------------------------------------------------------------- */

struct blocking_read {
    int fd;
    char got;
    int rc;
    void *result;
};

/* Blocks its thread on a plain descriptor: the kind of call a library makes. */
static void *read_blocking(void *arg)
{
    struct blocking_read *b = arg;
    struct pollfd pfd = {.fd = b->fd, .events = POLLIN};
    if (poll(&pfd, 1, 20000) != 1)
        return NULL;
    if (read(b->fd, &b->got, 1) != 1)
        return NULL;
    errno = 4242;
    return b;
}

static void *call_blocking(void *arg)
{
    struct blocking_read *b = arg;
    errno = 0;
    b->rc = fbr_blocking_call(read_blocking, b, &b->result);
    CHECK_EQ(errno, 4242);
    return NULL;
}

static void *release_blocking(void *arg)
{
    int fd = *(int *)arg;
    CHECK_OK(fbr_yield());
    CHECK_EQ(write(fd, "!", 1), 1);
    return NULL;
}

FBR_TEST(a_blocking_call_runs_off_the_worker_which_keeps_running_fibers)
{
    fbr_sched *s = start(1);
    int fds[2];
    CHECK_OK(pipe(fds));
    struct blocking_read b = {.fd = fds[0]};
    fbr_fiber *caller, *releaser;
    CHECK_OK(fbr_spawn(s, &caller, call_blocking, &b, NULL));
    /* Only if the one worker is free can this fiber write what the call
     * waits for. */
    CHECK_OK(fbr_spawn(s, &releaser, release_blocking, &fds[1], NULL));
    join(caller);
    join(releaser);
    CHECK_OK(b.rc);
    CHECK(b.result == &b);
    CHECK_EQ(b.got, '!');
    close(fds[0]);
    close(fds[1]);
    stop(s);

    /* From a thread it is a plain call. */
    CHECK_OK(pipe(fds));
    CHECK_EQ(write(fds[1], "?", 1), 1);
    b = (struct blocking_read){.fd = fds[0]};
    CHECK_OK(fbr_blocking_call(read_blocking, &b, &b.result));
    CHECK_EQ(b.got, '?');
    close(fds[0]);
    close(fds[1]);
}

/* ---- misuse ------------------------------------------------------------------------ */

static void *wait_on_a_file(void *arg)
{
    fbr_io *file = arg;
    return (void *)(intptr_t)fbr_io_wait(file, FBR_IO_READABLE, FBR_NO_DEADLINE);
}

FBR_TEST(misuse_and_system_errors_are_reported)
{
    fbr_io *io;
    CHECK_EQ(fbr_io_open(NULL, 0), FBR_EINVAL);
    CHECK_EQ(fbr_io_open(&io, -1), FBR_EINVAL);
    CHECK_EQ(fbr_io_open(&io, 987654), FBR_EINVAL);
    CHECK(strstr(fbr_last_error(), "987654") != NULL);
    CHECK_EQ(fbr_io_read(NULL, NULL, 0, 0), FBR_EINVAL);
    CHECK_EQ(fbr_io_close(NULL), FBR_EINVAL);
    CHECK_EQ(fbr_io_listen_tcp(&io, "localhost", 0, 1), FBR_EINVAL); /* names are not resolved here */
    CHECK_EQ(fbr_blocking_call(NULL, NULL, NULL), FBR_EINVAL);

    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    CHECK_OK(fbr_io_open(&io, sv[0]));
    CHECK(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    /* The try forms never wait, and "would wait" leaves no message. */
    char byte;
    CHECK_EQ(fbr_io_try_read(io, &byte, 1), FBR_EAGAIN);
    CHECK_EQ(fbr_io_try_write(io, "z", 1), 1);
    CHECK_EQ(read(sv[1], &byte, 1), 1);
    CHECK_EQ(byte, 'z');
    CHECK_EQ(fbr_io_wait(io, 0, 0), FBR_EINVAL);
    CHECK_EQ(fbr_io_wait(io, 8, 0), FBR_EINVAL);
    CHECK_EQ(fbr_io_local_port(io), FBR_EINVAL); /* not an IP socket */
    CHECK_OK(fbr_io_close(io));
    CHECK_EQ(fbr_io_close(io), FBR_ECLOSED);
    CHECK_EQ(fbr_io_read(io, sv, 1, 0), FBR_ECLOSED);
    CHECK_EQ(fcntl(sv[0], F_GETFD), -1); /* closed by fbr_io_close */
    close(sv[1]);

    /* A refused connection is the system's error, with its name and text. */
    /* The port stays bound, not listening, so that nobody can take it meanwhile. */
    int bound = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(bound >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof addr;
    CHECK_EQ(bind(bound, (struct sockaddr *)&addr, sizeof addr), 0);
    CHECK_EQ(getsockname(bound, (struct sockaddr *)&addr, &addr_len), 0);
    int rc = fbr_io_connect_tcp(&io, "127.0.0.1", ntohs(addr.sin_port), fbr_deadline_in(10 * FBR_SECOND));
    close(bound);
    CHECK_EQ(rc, FBR_SYSERR(ECONNREFUSED));
    CHECK(FBR_IS_SYSERR(rc));
    CHECK_EQ(FBR_SYSERR_ERRNO(rc), ECONNREFUSED);
    CHECK(strcmp(fbr_err_name(rc), "FBR_SYSERR(ECONNREFUSED)") == 0);
    CHECK(strcmp(fbr_strerror(rc), "Connection refused") == 0);
    CHECK(strstr(fbr_last_error(), "refused") != NULL);

    /* A regular file cannot be polled: waiting on one from a fiber is
     * refused with a pointer to fbr_blocking_call. */
    char path[] = "/tmp/fbr_io_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    fbr_io *file;
    CHECK_OK(fbr_io_open(&file, fd));
    fbr_sched *s = start(1);
    fbr_fiber *f;
    void *result;
    CHECK_OK(fbr_spawn(s, &f, wait_on_a_file, file, NULL));
    CHECK_OK(fbr_join(f, &result));
    CHECK_EQ((intptr_t)result, FBR_ENOTSUP);
    stop(s);
    CHECK_OK(fbr_io_close(file));
}

/* ---- an idle scheduler with descriptors registered uses no CPU ------------------------ */

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

FBR_TEST(workers_waiting_on_descriptors_sleep)
{
    fbr_sched *s = start(2);
    struct pipe_pair p;
    make_pipe(&p);
    fbr_fiber *reader;
    CHECK_OK(fbr_spawn(s, &reader, read_pipe, &p, NULL));
    for (;;) {
        if (fbr_fiber_status(reader) == FBR_FIBER_SUSPENDED)
            break;
        sched_yield();
    }
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 300 * 1000 * 1000};
    double before = cpu_seconds();
    nanosleep(&pause, NULL);
    double used = cpu_seconds() - before;
    /* Spinning workers would burn 0.6 s of CPU in 0.3 s on two cores. */
    CHECK(used < 0.05);
    CHECK_EQ(fbr_io_write(p.writer, "hello", 5, FBR_NO_DEADLINE), 5);
    join(reader);
    CHECK_EQ(p.read_result, 5);
    close_pipe(&p);
    stop(s);
}

FBR_TEST_MAIN()
