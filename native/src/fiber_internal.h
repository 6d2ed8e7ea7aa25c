/*
 * The fiber record. Kept apart from the fiber's stack so that a finished
 * fiber gives its stack back at once while its result waits to be collected.
 * One record type serves both low-level fibers (resumed by hand) and fibers
 * of a scheduler (`sched` set).
 */
#ifndef FBR_FIBER_INTERNAL_H
#define FBR_FIBER_INTERNAL_H

#include <stdbool.h>
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

struct fbr_fiber {
    void *sp; /* saved stack pointer while not running */
    fbr__stack *stack;
    struct fbr_fiber *resumer; /* low-level fibers: where fbr_fiber_yield goes */
    fbr_fiber_fn fn;
    void *arg;
    void *result;
    uint64_t id;
    uint32_t magic;
    int state; /* fbr_fiber_state; atomic for scheduled fibers */
    bool is_root;
    char name[FBR_FIBER_NAME_MAX];
    struct fbr__sanitizer_fiber sanitizer;

    /* Scheduled fibers only. */
    struct fbr_sched *sched;
    size_t stack_limit;   /* their stack is taken when they first run */
    size_t stack_initial;
    int start_error;      /* why the fiber could not start (no stack), or 0 */
    bool pinned;
    bool hosted;                   /* resumed only through fbr_worker_resume */
    struct fbr__worker *home;      /* a pinned fiber's worker, fixed at its first run */
    uint32_t sched_state;          /* enum fbr__sched_state, atomic */
    struct fbr_fiber *queue_next;  /* in a global or pinned run queue */
    struct fbr__registry *registry;
    struct fbr_fiber *registry_prev, *registry_next;
    fbr__lock join_lock;
    int join_mode;                 /* enum fbr__join_mode, under join_lock */
    bool spawned_detached;         /* no handle was ever given out */
    struct fbr__wait *joiner;      /* under join_lock */
};

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
