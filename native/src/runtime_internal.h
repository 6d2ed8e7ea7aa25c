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
 * counts in blocks of its own (no cache line shared between workers on
 * the spawn path); a read sums every live thread's blocks and what exited
 * threads left behind. Values are sums modulo 2^64, so a stack taken on
 * one thread and given back on another nets out.
 *
 * A thread's own block is written only by that thread, so an update is a
 * plain load and store (readers on other threads still see whole values):
 * a locked add per update cost a few percent of a spawn. The fault handler
 * may interrupt such an update halfway, so it counts in a block of its own
 * (FBR__COUNT_IN_HANDLER) instead of racing with it. Threads without fiber
 * state share one block, updated with atomic adds. */
struct fbr__counters {
    uint64_t stacks_in_use;
    uint64_t stacks_cached;
    uint64_t bytes_reserved;
    uint64_t bytes_committed;
    uint64_t growth_faults;
    uint64_t stack_regions;
    uint64_t fibers_created;
    bool shared; /* updated by many threads: atomic adds */
};

/* The calling thread's block, or the shared one for threads that have no
 * fiber state. Not for signal handlers. */
struct fbr__counters *fbr__counters_here(void);

/* The calling thread's block for updates made in the fault handler (or the
 * shared one). Async-signal-safe. */
struct fbr__counters *fbr__handler_counters_here(void);

/* Sums all blocks into *out. */
void fbr__counters_sum(struct fbr__counters *out);

static inline void fbr__count_add(struct fbr__counters *c, uint64_t *field, uint64_t n)
{
    if (c->shared)
        __atomic_fetch_add(field, n, __ATOMIC_RELAXED);
    else
        __atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

#define FBR__COUNT_ADD(field, n)                                                                   \
    do {                                                                                           \
        struct fbr__counters *fbr__c = fbr__counters_here();                                       \
        fbr__count_add(fbr__c, &fbr__c->field, (uint64_t)(n));                                     \
    } while (0)
#define FBR__COUNT_SUB(field, n) FBR__COUNT_ADD(field, -(uint64_t)(n))
#define FBR__COUNT_IN_HANDLER(field, n)                                                            \
    __atomic_fetch_add(&fbr__handler_counters_here()->field, (uint64_t)(n), __ATOMIC_RELAXED)

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
