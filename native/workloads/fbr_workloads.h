/*
 * Fiber bodies for the `fibers` command-line tool.
 *
 * The tool is C#, and C# cannot run on a fiber stack yet, so it spawns these
 * C functions through FiberScheduler.Spawn and reads what they leave in the
 * structs below. fbrw_entries() hands over every body's address in one call,
 * which works the same whether this library is a .so (JIT) or linked into a
 * NativeAOT binary. Every struct is plain data shared with C#: keep the field
 * order and types in step with src/FiberRuntime.Cli/Native/Workloads.cs.
 */
#ifndef FBR_WORKLOADS_H
#define FBR_WORKLOADS_H

#include <stdint.h>

#include <fiberrt.h>

#if defined(__GNUC__)
#define FBRW_API __attribute__((visibility("default")))
#else
#define FBRW_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of one recursion frame in fbrw_dive: a depth of N frames needs about
 * N KiB of stack. */
#define FBRW_FRAME_BYTES 1024

/* A fiber that parks until released: fbrw_park marks `started` done once it
 * runs, then waits on `release` until that channel is closed. */
typedef struct fbrw_park_group {
    fbr_waitgroup *started;
    fbr_chan *release; /* element size 0; closed to let every parked fiber end */
} fbrw_park_group;

/* One recursion to `depth` frames that writes a pattern derived from `seed`
 * into every frame, yields every `yield_every` frames (0: never) so that many
 * dives are mid-recursion at once, and checks every frame on the way back.
 * `done` (if not NULL) is marked done at the end. */
typedef struct fbrw_dive {
    int64_t depth;
    uint64_t seed;
    int64_t yield_every;
    fbr_waitgroup *done;
    /* results */
    int64_t verified_frames;   /* frames whose pattern was intact: depth + 1 when all is well */
    int64_t corrupted_frames;  /* frames whose pattern had changed */
    uint64_t committed_bytes;  /* the stack's committed size at the deepest point */
    uint64_t growth_faults;    /* faults that grew this fiber's stack */
    int32_t last_worker;       /* worker that finished the dive */
    int32_t workers_seen;      /* distinct workers it ran on (counted up to 64) */
} fbrw_dive;

/* Unbuffered channel ping-pong between the driver fiber and a partner it
 * spawns: `rounds` round trips, each value checked. */
typedef struct fbrw_ping_pong {
    int64_t rounds;
    int64_t elapsed_ns;  /* result */
    int64_t errors;      /* result: wrong values or failed operations */
} fbrw_ping_pong;

/* Spawns `count` fibers that end at once and waits for all of them (a wait
 * group), from inside the scheduler. */
typedef struct fbrw_spawn_join {
    int64_t count;
    int64_t elapsed_ns; /* result */
    int64_t errors;     /* result: failed spawns */
} fbrw_spawn_join;

/* Yields `yields` times doing a little work in between, so that a crowd of
 * them keeps every worker busy and shows runs and steals; `done` is marked
 * done at the end. */
typedef struct fbrw_churn {
    int64_t yields;
    fbr_waitgroup *done;
    uint64_t checksum; /* result: keeps the work from being optimised away */
} fbrw_churn;

/* A server: fbrw_serve accepts on `listener` and runs one fiber per
 * connection (echo, or HTTP/1.1 with keep-alive answering every request with
 * a fixed "Hello, World!"), until the listener is cancelled with
 * fbr_io_cancel; then it cancels the connections still open, waits for their
 * fibers and returns. Counters are updated as it goes (atomic). */
struct live_conn;
typedef struct fbrw_server {
    fbr_io *listener;
    int32_t http;             /* 1: HTTP/1.1, 0: echo */
    int32_t reserved;
    int64_t idle_timeout_ns;  /* a connection silent this long is closed; 0: never */
    /* results */
    int64_t connections;
    int64_t requests;         /* HTTP requests answered, or echo reads */
    int64_t bytes_in, bytes_out;
    int64_t errors;           /* connections that failed for other reasons than the peer leaving */
    /* the server's own */
    fbr_mutex *conns_lock;
    struct live_conn *conns;
    fbr_waitgroup *handlers;
} fbrw_server;

typedef void *(*fbrw_body)(void *);

typedef struct fbrw_entry_table {
    fbrw_body park;        /* fbrw_park_group * */
    fbrw_body dive;        /* fbrw_dive * */
    fbrw_body ping_pong;   /* fbrw_ping_pong * (must run in a scheduler) */
    fbrw_body spawn_join;  /* fbrw_spawn_join * (must run in a scheduler) */
    fbrw_body churn;       /* fbrw_churn * */
    fbrw_body overflow;    /* ignored; recurses until it overflows its stack */
    fbrw_body serve;       /* fbrw_server * (must run in a scheduler) */
} fbrw_entry_table;

FBRW_API void fbrw_entries(fbrw_entry_table *out);

/* The same recursion as fbrw_dive, on the calling thread's own stack (for
 * comparison with OS threads). Returns verified frames, negative on
 * corruption. */
FBRW_API int64_t fbrw_dive_on_thread(int64_t depth, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif
