/*
 * Fiber bodies that the .NET tests spawn through FiberScheduler.Spawn. C#
 * gets their addresses from fbrtest_entries(), one P/Invoke that works the
 * same whether this library is loaded as a .so (JIT) or linked statically
 * into a NativeAOT binary.
 */
#include <stdint.h>
#include <string.h>

#include <fiberrt.h>

#if defined(__GNUC__)
#define FBRTEST_API __attribute__((visibility("default")))
#else
#define FBRTEST_API
#endif

/* Channels of int64_t shared with C#. */
typedef struct fbrtest_pipe {
    fbr_chan *in;
    fbr_chan *out;
    int64_t count;
    int64_t first;
} fbrtest_pipe;

/* Returns its argument plus one. */
static void *add_one(void *arg)
{
    return (void *)((intptr_t)arg + 1);
}

/* Receives from in and sends v + 1 to out until in is closed; returns how
 * many values it echoed (negative: a send failed). */
static void *echo_plus_one(void *arg)
{
    fbrtest_pipe *p = arg;
    int64_t v, n = 0;
    while (fbr_chan_recv(p->in, &v) == FBR_OK) {
        v += 1;
        if (fbr_chan_send(p->out, &v) != FBR_OK)
            return (void *)(intptr_t)-1;
        n++;
    }
    return (void *)(intptr_t)n;
}

/* Sends first, first+1, ... (count values) to out; returns their sum. Does
 * not close: several producers may share a channel. */
static void *produce(void *arg)
{
    fbrtest_pipe *p = arg;
    int64_t sum = 0;
    for (int64_t i = 0; i < p->count; i++) {
        int64_t v = p->first + i;
        if (fbr_chan_send(p->out, &v) != FBR_OK)
            return (void *)(intptr_t)-1;
        sum += v;
        if (i % 64 == 0)
            fbr_yield();
    }
    return (void *)(intptr_t)sum;
}

/* Sends 0, 1, ... (count values) to out, each followed by receiving the
 * answer from in (an echo fiber's reply); returns the sum of the answers,
 * or -1 if the channels closed early. */
static void *ping_pong(void *arg)
{
    fbrtest_pipe *p = arg;
    int64_t sum = 0;
    for (int64_t i = 0; i < p->count; i++) {
        int64_t v = i;
        if (fbr_chan_send(p->out, &v) != FBR_OK || fbr_chan_recv(p->in, &v) != FBR_OK)
            return (void *)(intptr_t)-1;
        sum += v;
    }
    return (void *)(intptr_t)sum;
}

/* Receives from in until it is closed; returns the sum of what came. */
static void *consume(void *arg)
{
    fbrtest_pipe *p = arg;
    int64_t v, sum = 0;
    while (fbr_chan_recv(p->in, &v) == FBR_OK)
        sum += v;
    return (void *)(intptr_t)sum;
}

/* Sleeps for arg milliseconds; returns arg. */
static void *sleep_ms(void *arg)
{
    fbr_sleep_for((int64_t)(intptr_t)arg * FBR_MILLISECOND);
    return arg;
}

/* Waits on the channel in arg until it is closed (a fiber that only ends
 * when told); returns 7. */
static void *wait_for_close(void *arg)
{
    while (fbr_chan_recv(arg, NULL) == FBR_OK) {
    }
    return (void *)7;
}

/* Pipe: sends one value (1) on out to say it is running, then waits until
 * in is closed; returns 7. */
static void *announce_then_wait_for_close(void *arg)
{
    fbrtest_pipe *p = arg;
    int64_t one = 1;
    if (fbr_chan_send(p->out, &one) != FBR_OK)
        return (void *)(intptr_t)-1;
    return wait_for_close(p->in);
}

/* Yields arg times; returns arg (for measuring a native yield). */
static void *yield_n(void *arg)
{
    for (intptr_t i = 0; i < (intptr_t)arg; i++)
        fbr_yield();
    return arg;
}

/* Marks a wait group done. */
static void *waitgroup_done(void *arg)
{
    fbr_waitgroup_done(arg);
    return NULL;
}

static uint64_t recurse(uint64_t depth)
{
    volatile char frame[256];
    for (unsigned i = 0; i < sizeof frame; i++)
        frame[i] = (char)(depth + i);
    uint64_t below = depth ? recurse(depth - 1) : 0;
    uint64_t sum = below;
    for (unsigned i = 0; i < sizeof frame; i++)
        sum += (unsigned char)frame[i];
    return sum;
}

/* Recurses arg frames of ~300 bytes (growing the stack on fault) and checks
 * every frame on the way back; returns the checksum. */
static void *deep_recursion(void *arg)
{
    return (void *)(uintptr_t)recurse((uint64_t)(uintptr_t)arg);
}

/* fbr_io* (owned): echoes until the peer closes, then closes; returns the
 * bytes echoed, or a negative error code. */
static void *echo_socket(void *arg)
{
    fbr_io *conn = arg;
    char buf[4096];
    ssize_t n;
    intptr_t total = 0;
    while ((n = fbr_io_read(conn, buf, sizeof buf, FBR_NO_DEADLINE)) > 0) {
        ssize_t w = fbr_io_write(conn, buf, (size_t)n, FBR_NO_DEADLINE);
        if (w != n) {
            n = w < 0 ? w : FBR_ESYSTEM;
            break;
        }
        total += n;
    }
    fbr_io_close(conn);
    return (void *)(n < 0 ? (intptr_t)n : total);
}

typedef struct fbrtest_entry_table {
    void *(*add_one)(void *);
    void *(*echo_plus_one)(void *);
    void *(*produce)(void *);
    void *(*consume)(void *);
    void *(*sleep_ms)(void *);
    void *(*wait_for_close)(void *);
    void *(*waitgroup_done)(void *);
    void *(*deep_recursion)(void *);
    void *(*announce_then_wait_for_close)(void *);
    void *(*yield_n)(void *);
    void *(*echo_socket)(void *);
    void *(*ping_pong)(void *);
} fbrtest_entry_table;

FBRTEST_API void fbrtest_entries(fbrtest_entry_table *out)
{
    out->add_one = add_one;
    out->echo_plus_one = echo_plus_one;
    out->produce = produce;
    out->consume = consume;
    out->sleep_ms = sleep_ms;
    out->wait_for_close = wait_for_close;
    out->waitgroup_done = waitgroup_done;
    out->deep_recursion = deep_recursion;
    out->announce_then_wait_for_close = announce_then_wait_for_close;
    out->yield_n = yield_n;
    out->echo_socket = echo_socket;
    out->ping_pong = ping_pong;
}

/* The same ping-pong as C# async code with synchronous continuations, as C
 * callbacks (the floor of that benchmark without .NET): send the last
 * answer to ping, receive the next from pong (an echo_plus_one fiber serves
 * them); each answer's callback, on a worker, starts the next round. */
typedef struct callback_relay {
    fbr_chan *ping, *pong;
    int64_t rounds, answered, last;
    int error;
    fbr_waitgroup *done;
} callback_relay;

static void relay_answer(callback_relay *r, int64_t answer);

static void relay_received(void *state, int result, const void *value)
{
    callback_relay *r = state;
    if (result != FBR_OK) {
        r->error = result;
        fbr_waitgroup_done(r->done);
        return;
    }
    int64_t answer;
    memcpy(&answer, value, sizeof answer);
    r->answered++;
    relay_answer(r, answer);
}

static void relay_sent(void *state, int result, const void *value)
{
    (void)value;
    if (result != FBR_OK)
        ((callback_relay *)state)->error = result;
}

static void relay_answer(callback_relay *r, int64_t answer)
{
    for (;;) {
        if (r->answered == r->rounds || r->error) {
            r->last = answer;
            fbr_waitgroup_done(r->done);
            return;
        }
        int64_t ping = answer, pong;
        int rc = fbr_chan_send_async(r->ping, &ping, relay_sent, r, NULL);
        if (rc < 0) {
            r->error = rc;
            continue;
        }
        rc = fbr_chan_recv_async(r->pong, &pong, relay_received, r, NULL);
        if (rc == FBR_PENDING)
            return;
        if (rc != FBR_OK) {
            r->error = rc;
            continue;
        }
        r->answered++;
        answer = pong;
    }
}

/* Runs `rounds` round trips from this thread; the last answer (== rounds),
 * or a negative error code. */
FBRTEST_API int64_t fbrtest_callback_ping_pong(fbr_chan *ping, fbr_chan *pong, int64_t rounds)
{
    callback_relay r = {.ping = ping, .pong = pong, .rounds = rounds};
    int rc = fbr_waitgroup_create(&r.done);
    if (rc != FBR_OK)
        return rc;
    fbr_waitgroup_add(r.done, 1);
    relay_answer(&r, 0);
    fbr_waitgroup_wait(r.done);
    fbr_waitgroup_destroy(r.done);
    return r.error ? r.error : r.last;
}

/* The checksum deep_recursion(depth) returns, computed here without fibers. */
FBRTEST_API uint64_t fbrtest_recursion_checksum(uint64_t depth)
{
    return recurse(depth);
}
