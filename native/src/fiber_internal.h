/*
 * The fiber record. Kept apart from the fiber's stack so that a finished
 * fiber gives its stack back at once while its result waits to be collected.
 * One record type serves both low-level fibers (resumed by hand) and fibers
 * of a scheduler (`sched` set).
 */
#ifndef FBR_FIBER_INTERNAL_H
#define FBR_FIBER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "fiberrt/fiber.h"
#include "lock.h"
#include "sanitizer_state.h"
#include "stack.h"

#define FBR__FIBER_MAGIC 0x52424946u /* "FIBR" */

struct fbr_sched;
struct fbr__worker;
struct fbr__registry;
struct fbr__wait;

/* Where a scheduled fiber is (sched_state). */
enum fbr__sched_state {
    FBR__RUNNABLE,
    FBR__RUNNING,
    FBR__PARKING, /* switching away to wait: not yet safe to resume */
    FBR__WAITING,
    FBR__DONE
};

/* Who collects a scheduled fiber (join_mode). */
enum fbr__join_mode {
    FBR__JOINABLE,
    FBR__DETACHED,
    FBR__JOINED
};

/* Laid out by cache line, on records aligned to one (record_pool.h): a
 * spawn clears and writes the first two lines, and the worker that runs the
 * fiber, often on another core, reads them (both prefetch the two); the third
 * holds what few fibers use and is neither cleared nor moved. The record used
 * to span four lines, all cleared: spawn+join took 0.71-0.75x the time on 1
 * worker and 0.80x on 2 with this layout (medians of 24-36 runs). */
struct fbr_fiber {
    /* Every switch, spawn and finish. */
    void *sp; /* saved stack pointer while not running */
    fbr__stack *stack;
    fbr_fiber_fn fn;
    void *arg;
    void *result;
    struct fbr_sched *sched; /* scheduled fibers only */
    uint32_t magic;
    uint32_t sched_state; /* enum fbr__sched_state, atomic */
    fbr__lock join_lock;
    uint8_t state;     /* fbr_fiber_state; atomic for scheduled fibers */
    uint8_t join_mode; /* enum fbr__join_mode, under join_lock */
    bool is_root;
    bool pinned;

    /* Scheduled fibers: starting, joining and the worker's registry. */
    struct fbr_fiber *queue_next; /* in a global or pinned run queue */
    struct fbr__wait *joiner;     /* under join_lock */
    struct fbr__registry *registry;
    struct fbr_fiber *registry_prev, *registry_next;
    uint64_t id;
    uint32_t stack_limit_pages; /* the stack is taken when they first run */
    uint32_t stack_initial_pages;
    int start_error; /* why the fiber could not start (no stack), or 0 */
    bool hosted;           /* resumed only through fbr_worker_resume */
    bool spawned_detached; /* no handle was ever given out */
    bool named;            /* name holds one; not cleared when records are reused */
    struct fbr__sanitizer_fiber sanitizer; /* one unused byte without sanitizers */

    /* Seldom used: not cleared by a spawn, set when used. */
    struct fbr__worker *home;  /* pinned fibers: their worker, fixed at the first run */
    struct fbr_fiber *resumer; /* low-level fibers: where fbr_fiber_yield goes */
    char name[FBR_FIBER_NAME_MAX];
};

#if !defined(FBR__ASAN) && !defined(FBR__TSAN)
_Static_assert(offsetof(struct fbr_fiber, home) <= 2 * 64, "a spawn's part of the record fits two cache lines");
#endif

/* What a spawn clears: everything before the seldom-used fields. */
#define FBR__FIBER_CLEARED_SIZE offsetof(struct fbr_fiber, home)
/* Records start on a cache line (record_pool.h). */
#define FBR__FIBER_ALIGN 64

/* Starts fetching the two lines of a record that spawns and runs touch
 * (rw: 0 to read, 1 to write). */
#define FBR__FIBER_PREFETCH(f, rw)                                              \
    do {                                                                        \
        __builtin_prefetch((const char *)(f), (rw));                            \
        __builtin_prefetch((const char *)(f) + FBR__FIBER_ALIGN, (rw));         \
    } while (0)

/* A scheduled fiber's stack sizes in bytes, kept in pages in the record. */
size_t fbr__fiber_stack_limit(const struct fbr_fiber *f);
size_t fbr__fiber_stack_initial(const struct fbr_fiber *f);

/* The fiber's name, "" when it has none. */
const char *fbr__fiber_name(const struct fbr_fiber *f);

/* Allocates a fiber that will start in `entry` (which receives the record
 * as its argument), validating the stack sizes. With `lazy_stack` the stack
 * is left for fbr__fiber_attach_stack, so that a fiber waiting to start
 * costs only its record. */
int fbr__fiber_new(struct fbr_fiber **out, fbr_fiber_fn fn, void *arg, size_t stack_max, size_t stack_initial,
                   const char *name, fbr__context_entry entry, bool lazy_stack);

/* The same with a record from a cache (or NULL to allocate one). Frees the
 * record on failure. */
int fbr__fiber_init(struct fbr_fiber *record, struct fbr_fiber **out, fbr_fiber_fn fn, void *arg, size_t stack_max,
                    size_t stack_initial, const char *name, fbr__context_entry entry, bool lazy_stack);

/* Gives a lazily created fiber the stack `st` (committed to at least
 * f->stack_initial) and builds its first frame. */
void fbr__fiber_attach_stack(struct fbr_fiber *f, fbr__stack *st, fbr__context_entry entry);

/* Returns the stack to the pool (the fiber must not be running on it). */
void fbr__fiber_release_stack(struct fbr_fiber *f);

/* Frees the record (and the stack, if it still has one). */
void fbr__fiber_free(struct fbr_fiber *f);

bool fbr__is_fiber(const struct fbr_fiber *f);

#endif
