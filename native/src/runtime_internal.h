/*
 * Process-wide state shared by the runtime's parts: the settings fixed at
 * initialisation and the counters behind fbr_runtime_stats_get().
 */
#ifndef FBR_RUNTIME_INTERNAL_H
#define FBR_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fiberrt/runtime.h"

struct fbr__settings {
    fbr_stack_mode stack_mode; /* never AUTO once initialised */
    size_t page_size;
    size_t guard_size;
    size_t keep_committed;
    size_t max_cached;
    bool abort_on_overflow;
    /* Commit whole stacks up front instead of growing them on fault: set
     * under Valgrind, which does not reliably re-execute a store after a
     * SIGSEGV handler returns (the store is lost). */
    bool commit_full_stacks;
};

/* Valid once fbr__runtime_ready() has returned FBR_OK; read-only afterwards. */
extern struct fbr__settings fbr__settings;

/* Counters behind fbr_runtime_stats_get. Each thread that runs fibers
 * counts in a block of its own (no cache line shared between workers on
 * the spawn path); a read sums every live thread's block and what exited
 * threads left behind. Updates are relaxed atomic adds: the fault handler
 * may interrupt an update on the same thread. Values are sums modulo 2^64,
 * so a stack taken on one thread and given back on another nets out. */
struct fbr__counters {
    uint64_t stacks_in_use;
    uint64_t stacks_cached;
    uint64_t bytes_reserved;
    uint64_t bytes_committed;
    uint64_t growth_faults;
    uint64_t stack_regions;
    uint64_t fibers_created;
};

/* The calling thread's block, or the shared one for threads that have no
 * fiber state. Async-signal-safe. */
struct fbr__counters *fbr__counters_here(void);

/* Sums all blocks into *out. */
void fbr__counters_sum(struct fbr__counters *out);

#define FBR__COUNT_ADD(field, n) __atomic_fetch_add(&fbr__counters_here()->field, (uint64_t)(n), __ATOMIC_RELAXED)
#define FBR__COUNT_SUB(field, n) __atomic_fetch_sub(&fbr__counters_here()->field, (uint64_t)(n), __ATOMIC_RELAXED)

/* Initialises the runtime on first use; cheap afterwards. */
int fbr__runtime_ready(void);

/* Installs the growth/overflow SIGSEGV handler, chaining to the current one. */
int fbr__fault_handler_install(void);

/* True when Intel CET or Arm GCS shadow stacks are enabled for this thread. */
bool fbr__shadow_stack_active(void);

/* Test hook (not exported from the shared library): pretend shadow stacks are
 * active so that the refusal path can be tested on CPUs without them. */
void fbr__testing_pretend_shadow_stack(bool active);

static inline size_t fbr__round_up(size_t value, size_t align)
{
    return (value + align - 1) & ~(align - 1);
}

#endif
