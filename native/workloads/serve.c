#define _GNU_SOURCE
/*
 * `fibers serve`: an echo server and a minimal HTTP/1.1 server, each one
 * straight-line fiber per connection (fbrw_serve is the accept loop).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "fbr_workloads.h"

/* The fixed response; the same bytes the Go and ASP.NET Core peers send
 * apart from their Date and Server headers. */
static const char HTTP_RESPONSE[] = "HTTP/1.1 200 OK\r\n"
                                    "Content-Type: text/plain\r\n"
                                    "Content-Length: 13\r\n"
                                    "\r\n"
                                    "Hello, World!";

#define READ_BUFFER 8192
/* Pipelined requests answered with one write (wrk does not pipeline, but a
 * client may). */
#define MAX_BATCH 32

/* A connection, listed so that stopping the server can cancel it. */
struct live_conn {
    fbr_io *io;
    fbrw_server *server;
    struct live_conn *prev, *next;
};

static void count(int64_t *field, int64_t n)
{
    __atomic_add_fetch(field, n, __ATOMIC_RELAXED);
}

static void unlist(struct live_conn *c)
{
    fbrw_server *srv = c->server;
    fbr_mutex_lock(srv->conns_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    fbr_mutex_unlock(srv->conns_lock);
}

/* Ends of a connection that are the peer's doing, not the server's fault. */
static int64_t failure(ssize_t rc)
{
    return rc == FBR_ECANCELED || rc == FBR_SYSERR(ECONNRESET) || rc == FBR_SYSERR(EPIPE) ? 0 : 1;
}

static void serve_echo(struct live_conn *c)
{
    fbrw_server *srv = c->server;
    char buf[READ_BUFFER];
    ssize_t n;
    while ((n = fbr_io_read(c->io, buf, sizeof buf, srv->idle_timeout_ns ? fbr_deadline_in(srv->idle_timeout_ns)
                                                                          : FBR_NO_DEADLINE)) > 0) {
        count(&srv->bytes_in, n);
        count(&srv->requests, 1);
        ssize_t w = fbr_io_write(c->io, buf, (size_t)n, FBR_NO_DEADLINE);
        if (w != n) {
            count(&srv->errors, failure(w));
            return;
        }
        count(&srv->bytes_out, n);
    }
    if (n < 0 && n != FBR_ETIMEDOUT)
        count(&srv->errors, failure(n));
}

/* Length of the request head at the start of p (through its blank line), 0
 * if it is not all there yet. */
static size_t head_length(const char *p, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
            return i + 1;
    return 0;
}

/* Case-insensitive search for a header line's value within a request head. */
static const char *header_value(const char *head, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    for (size_t i = 0; i + name_len + 1 < len; i++) {
        if (head[i] != '\n')
            continue;
        if (strncasecmp(head + i + 1, name, name_len) == 0 && head[i + 1 + name_len] == ':') {
            const char *v = head + i + 2 + name_len;
            while (*v == ' ')
                v++;
            return v;
        }
    }
    return NULL;
}

static void serve_http(struct live_conn *c)
{
    fbrw_server *srv = c->server;
    char buf[READ_BUFFER];
    char out[MAX_BATCH * sizeof HTTP_RESPONSE];
    size_t have = 0;
    for (;;) {
        ssize_t n = fbr_io_read(c->io, buf + have, sizeof buf - have,
                                srv->idle_timeout_ns ? fbr_deadline_in(srv->idle_timeout_ns) : FBR_NO_DEADLINE);
        if (n <= 0) {
            if (n < 0 && n != FBR_ETIMEDOUT)
                count(&srv->errors, failure(n));
            return;
        }
        count(&srv->bytes_in, n);
        have += (size_t)n;
        size_t used = 0, batch = 0;
        bool close_after = false;
        size_t head;
        while (batch < MAX_BATCH && !close_after && (head = head_length(buf + used, have - used))) {
            const char *req = buf + used;
            const char *length = header_value(req, head, "Content-Length");
            size_t body = length ? (size_t)strtoul(length, NULL, 10) : 0;
            if (body > sizeof buf - head) {
                count(&srv->errors, 1); /* a body this server does not take */
                return;
            }
            if (head + body > have - used)
                break; /* the body is still on its way */
            const char *connection = header_value(req, head, "Connection");
            close_after = connection && strncasecmp(connection, "close", 5) == 0;
            if (memmem(req, head, "HTTP/1.0", 8) && !(connection && strncasecmp(connection, "keep-alive", 10) == 0))
                close_after = true;
            memcpy(out + batch * (sizeof HTTP_RESPONSE - 1), HTTP_RESPONSE, sizeof HTTP_RESPONSE - 1);
            batch++;
            used += head + body;
        }
        if (batch) {
            size_t len = batch * (sizeof HTTP_RESPONSE - 1);
            ssize_t w = fbr_io_write(c->io, out, len, FBR_NO_DEADLINE);
            if (w != (ssize_t)len) {
                count(&srv->errors, failure(w));
                return;
            }
            count(&srv->requests, (int64_t)batch);
            count(&srv->bytes_out, (int64_t)len);
            if (close_after)
                return;
        }
        memmove(buf, buf + used, have - used);
        have -= used;
        if (have == sizeof buf) {
            count(&srv->errors, 1); /* a request head larger than the buffer */
            return;
        }
    }
}

static void *serve_connection(void *arg)
{
    struct live_conn *c = arg;
    fbrw_server *srv = c->server;
    if (srv->http)
        serve_http(c);
    else
        serve_echo(c);
    unlist(c);
    fbr_io_close(c->io);
    free(c);
    fbr_waitgroup_done(srv->handlers);
    return NULL;
}

void *fbrw__serve(void *arg)
{
    fbrw_server *srv = arg;
    if (fbr_mutex_create(&srv->conns_lock) != FBR_OK || fbr_waitgroup_create(&srv->handlers) != FBR_OK) {
        count(&srv->errors, 1);
        return NULL;
    }
    fbr_io *conn;
    int rc;
    while ((rc = fbr_io_accept(srv->listener, &conn, NULL, NULL, FBR_NO_DEADLINE)) == FBR_OK ||
           rc == FBR_SYSERR(EMFILE) || rc == FBR_SYSERR(ENFILE)) {
        if (rc != FBR_OK) {
            /* Out of descriptors: wait for connections to end, keep going. */
            count(&srv->errors, 1);
            fbr_sleep_for(10 * FBR_MILLISECOND);
            continue;
        }
        struct live_conn *c = calloc(1, sizeof *c);
        if (c == NULL) {
            fbr_io_close(conn);
            count(&srv->errors, 1);
            continue;
        }
        c->io = conn;
        c->server = srv;
        fbr_mutex_lock(srv->conns_lock);
        c->next = srv->conns;
        if (c->next)
            c->next->prev = c;
        srv->conns = c;
        fbr_mutex_unlock(srv->conns_lock);
        fbr_waitgroup_add(srv->handlers, 1);
        if (fbr_spawn(fbr_sched_current(), NULL, serve_connection, c, NULL) != FBR_OK) {
            unlist(c);
            fbr_io_close(conn);
            free(c);
            fbr_waitgroup_done(srv->handlers);
            count(&srv->errors, 1);
            continue;
        }
        count(&srv->connections, 1);
    }
    /* Stopped (the listener was cancelled): end every connection still open
     * and wait for their fibers. */
    fbr_mutex_lock(srv->conns_lock);
    for (struct live_conn *c = srv->conns; c; c = c->next)
        fbr_io_cancel(c->io);
    fbr_mutex_unlock(srv->conns_lock);
    fbr_waitgroup_wait(srv->handlers);
    fbr_waitgroup_destroy(srv->handlers);
    fbr_mutex_destroy(srv->conns_lock);
    srv->handlers = NULL;
    srv->conns_lock = NULL;
    return NULL;
}
