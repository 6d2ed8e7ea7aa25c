/*
 * Fiber stacks: guard-paged reservations that commit memory as they grow,
 * carved out of large shared regions and kept in a pool for reuse.
 *
 * One stack, lowest address first:
 *
 *   low          usable_low            marked_low   commit_low           top
 *    | permanent guard | reserve           | window    | committed (in use) |
 *
 * Touching the window faults; the fault handler commits down to the fault
 * (at least doubling the committed size) and the access retries. Touching
 * the permanent guard is a stack overflow.
 *
 * In mprotect mode the reserve is empty: everything under commit_low is
 * PROT_NONE. In guard-marker mode markers cost one page-table write per
 * page, so only a window as large as the committed part (at least 32 KiB)
 * carries them, not the whole reservation: a new stack costs ~20 marker
 * writes instead of ~260. The reserve is plain read-write memory. Code
 * compiled with stack probes touches pages in order and always meets the
 * window first; a larger frame without probes that lands in the reserve
 * just works, and is counted as committed at the next fault. New markers
 * are only ever placed below the faulting fiber's stack pointer (or on
 * stacks no fiber runs on), where nothing is alive.
 */
#ifndef FBR_STACK_H
#define FBR_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fiberrt/fiber.h"

struct fbr__slab;

typedef struct fbr__stack {
    char *low;
    char *usable_low;
    char *marked_low; /* guard-marker mode: bottom of the marked window */
    char *commit_low; /* moved by the fault handler: read with atomics elsewhere */
    char *top;
    uint64_t growth_faults;
    bool reserve_touched; /* a frame was seen below the window since the last full release */
    struct fbr__stack *next; /* in the pool's cached list or its slab's free list */
    struct fbr__slab *slab;
    unsigned valgrind_id;
} fbr__stack;

/* Hands out a stack with `limit` usable bytes (page-rounded, already
 * validated) and at least `initial` bytes committed from the top. */
int fbr__stack_acquire(size_t limit, size_t initial, fbr__stack **out);

/* Returns a stack to the pool. It must not be in use by any context. */
void fbr__stack_release(fbr__stack *stack);

/* For per-thread caches in front of the pool (a worker keeps a few stacks
 * of its own, so that its fibers start without taking the pool's lock).
 * Trim gives back what lies beyond the pool's watermark, as a release to
 * the pool would; reuse commits at least `initial` bytes and starts the
 * figures afresh. Neither takes a lock. */
void fbr__stack_trim(fbr__stack *stack);
int fbr__stack_reuse(fbr__stack *stack, size_t initial);

static inline size_t fbr__stack_limit(const fbr__stack *stack)
{
    return (size_t)(stack->top - stack->usable_low);
}

/* Outcome of a fault at `addr`, decided (and acted on) by fbr__stack_fault. */
typedef enum fbr__fault_outcome {
    FBR__FAULT_ELSEWHERE, /* not within this stack's reservation */
    FBR__FAULT_GROWN,     /* committed more: retry the access */
    FBR__FAULT_OVERFLOW,  /* hit the permanent guard */
    FBR__FAULT_NO_MEMORY, /* in the growth area, but the commit failed */
    FBR__FAULT_COMMITTED  /* inside committed memory: not a growth fault */
} fbr__fault_outcome;

/* Async-signal-safe: called by the SIGSEGV handler for the running stack.
 * `sp` is the faulting context's stack pointer. */
fbr__fault_outcome fbr__stack_fault(fbr__stack *stack, const char *addr, const char *sp);

/* Room below the stack pointer that a signal's frame may need: arm64 with
 * SVE and x86-64 with AMX tiles need well over 10 KiB. */
#define FBR__SIGNAL_FRAME_ROOM ((size_t)64 << 10)

/* Async-signal-safe: for a SIGSEGV the kernel sent because it could not
 * write another signal's frame below `sp` (si_code SI_KERNEL). A handler
 * that runs on the interrupted stack (a host runtime's thread-suspension
 * signal, say) needs room under the stack pointer, and the kernel cannot
 * grow a fiber's stack on its own: when `sp` lies on this stack with less
 * than FBR__SIGNAL_FRAME_ROOM committed below it, commits that much (GROWN:
 * the signal is lost, later ones fit). COMMITTED when there was room or no
 * more can be given, ELSEWHERE when `sp` is not on this stack: the fault
 * had another cause. */
fbr__fault_outcome fbr__stack_signal_frame_fault(fbr__stack *stack, const char *sp);

void fbr__stack_stats(const fbr__stack *stack, fbr_stack_stats *out);

static inline size_t fbr__stack_committed(const fbr__stack *stack)
{
    return (size_t)(stack->top - __atomic_load_n(&stack->commit_low, __ATOMIC_RELAXED));
}

#endif
