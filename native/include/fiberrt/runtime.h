/*
 * Process-wide set-up of the runtime: how fiber stacks are made, the fault
 * handler that grows them, and the figures that describe them.
 *
 * Nothing here has to be called: the first fiber initialises the runtime with
 * defaults (environment variables below can override them). Call
 * fbr_runtime_configure() before creating any fiber to choose otherwise.
 *
 *     fbr_runtime_config cfg = {0};
 *     cfg.stack_mode = FBR_STACK_MODE_MPROTECT;    // 0 fields keep defaults
 *     if (fbr_runtime_configure(&cfg) < 0) ...
 *     printf("stacks use %s\n", fbr_stack_mode_name(fbr_stack_mode_active()));
 *
 * Environment (read once, at initialisation; explicit configuration wins):
 *   FBR_STACK_MODE=guard|mprotect   force a stack mode instead of probing
 *   FBR_ON_STACK_OVERFLOW=abort     abort() (core dump) instead of exiting
 *                                   with FBR_EXIT_STACK_OVERFLOW
 */
#ifndef FIBERRT_RUNTIME_H
#define FIBERRT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exit status of a process whose fiber overflowed its stack (or whose stack
 * could not grow for lack of memory), after the report on stderr. */
#define FBR_EXIT_STACK_OVERFLOW 86

/* How a fiber stack's uncommitted part is kept inaccessible until it grows.
 *
 * GUARD_MARKERS: each stack lies in a read-write reservation shared with other
 *   stacks; guard markers (madvise MADV_GUARD_INSTALL, Linux 6.13+) cover the
 *   part not yet committed, and growth removes them. No memory mapping per
 *   stack, so a million fibers fit under vm.max_map_count.
 * MPROTECT: each stack's uncommitted part is PROT_NONE and growth makes it
 *   read-write. Works on any kernel and charges only committed memory under
 *   strict overcommit (vm.overcommit_memory=2), but costs about two memory
 *   mappings per stack, so vm.max_map_count caps live fibers near 30,000.
 *
 * AUTO picks GUARD_MARKERS when the kernel has guard markers and overcommit is
 * not strict, MPROTECT otherwise. */
typedef enum fbr_stack_mode {
    FBR_STACK_MODE_AUTO = 0,
    FBR_STACK_MODE_GUARD_MARKERS = 1,
    FBR_STACK_MODE_MPROTECT = 2
} fbr_stack_mode;

/* Runtime-wide settings. A zero field means "the default". */
typedef struct fbr_runtime_config {
    fbr_stack_mode stack_mode;
    /* Size of the permanently inaccessible region under every stack; a frame
     * larger than this, compiled without stack probes, could jump it.
     * Default 64 KiB; rounded up to whole pages. */
    size_t stack_guard_size;
    /* A stack returned to the pool keeps at most this much of its committed
     * memory (from the top) for the next fiber; the rest goes back to the
     * system. Default 64 KiB. */
    size_t pool_keep_committed;
    /* How many freed stacks the pool keeps ready, per stack size; further
     * freed stacks give back all their memory. Default 65536. Past the
     * first 4096, a cached stack keeps at most 16 KiB (what a fiber that
     * never grew committed), so a burst of deep fibers does not stay
     * resident. */
    size_t pool_max_cached;
} fbr_runtime_config;

/* Replaces the settings. Only possible before the runtime is initialised
 * (before the first fiber is created or fbr_runtime_init() is called):
 * FBR_EBUSY afterwards. FBR_EINVAL for an unknown mode or absurd sizes;
 * FBR_ENOTSUP if GUARD_MARKERS is asked for on a kernel without them. */
FBR_API int fbr_runtime_configure(const fbr_runtime_config *config);

/* Initialises the runtime if it is not yet: picks the stack mode, installs
 * the SIGSEGV handler that grows stacks (chaining to whatever handler was
 * installed before it), checks the CPU state. Idempotent and thread-safe;
 * fiber creation calls it. Install any handler of your own that must run
 * *before* ours after this call; one installed earlier is chained to.
 * FBR_ESHADOWSTACK if the process runs with hardware shadow stacks (Intel CET
 * or Arm GCS), which a stack-switching runtime cannot work with. */
FBR_API int fbr_runtime_init(void);

/* The stack mode in use, or FBR_STACK_MODE_AUTO before initialisation. */
FBR_API fbr_stack_mode fbr_stack_mode_active(void);

/* "auto", "guard-markers" or "mprotect". */
FBR_API const char *fbr_stack_mode_name(fbr_stack_mode mode);

/* Prepares the calling OS thread for running fibers: gives it an alternate
 * signal stack if it has none (the growth handler runs there, because the
 * faulting stack is by definition full). Called automatically on a thread's
 * first switch; call it yourself to fail early. FBR_ENOMEM if the signal
 * stack cannot be allocated. */
FBR_API int fbr_thread_prepare(void);

/* Figures for the whole process. */
typedef struct fbr_runtime_stats {
    fbr_stack_mode stack_mode;
    uint64_t stacks_in_use;      /* stacks held by fibers */
    uint64_t stacks_cached;      /* freed stacks kept ready in the pool */
    uint64_t bytes_reserved;     /* address space of all stack reservations */
    uint64_t bytes_committed;    /* stack memory made accessible (resident or not) */
    uint64_t growth_faults;      /* faults that grew a stack, since start */
    uint64_t stack_regions;      /* memory mappings the stack allocator made */
    uint64_t fibers_created;     /* since start */
} fbr_runtime_stats;

FBR_API int fbr_runtime_stats_get(fbr_runtime_stats *out);

#ifdef __cplusplus
}
#endif

#endif
