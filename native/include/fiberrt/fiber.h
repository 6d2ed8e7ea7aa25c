/*
 * Fibers: functions that run on their own stack and can suspend themselves
 * in the middle, to be resumed later exactly where they stopped.
 *
 * This is the low-level, single-threaded layer: whoever calls
 * fbr_fiber_resume() runs the fiber until it yields or returns, like a
 * generator. Values cross every switch in both directions.
 *
 *     static void *squares(void *arg)
 *     {
 *         void *in = NULL;
 *         for (;;) {
 *             long n = (long)in;
 *             fbr_fiber_yield((void *)(n * n), &in);   // hand back n*n, wait for the next n
 *         }
 *     }
 *
 *     fbr_fiber *f;
 *     void *out;
 *     fbr_fiber_create(&f, squares, NULL, NULL);
 *     fbr_fiber_resume(f, NULL, &out);                 // runs to the first yield: out == 0
 *     fbr_fiber_resume(f, (void *)7, &out);            // out == (void *)49
 *     fbr_fiber_destroy(f);                            // a suspended fiber may be destroyed
 *
 * Each fiber's stack reserves `stack_max` bytes of address space (default
 * 1 MiB) but commits only `stack_initial` (default 16 KiB); touching deeper
 * pages commits more, doubling each time, through a fault handler. A fiber
 * that overflows stack_max gets a report on stderr (fiber, limit, committed
 * size, fault address) and the process exits with FBR_EXIT_STACK_OVERFLOW.
 * Stacks are pooled and reused.
 */
#ifndef FIBERRT_FIBER_H
#define FIBERRT_FIBER_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A fiber. Opaque; created by fbr_fiber_create, freed by fbr_fiber_destroy. */
typedef struct fbr_fiber fbr_fiber;

/* What a fiber runs. Its return value is the fiber's result. */
typedef void *(*fbr_fiber_fn)(void *arg);

#define FBR_STACK_DEFAULT_MAX ((size_t)1 << 20)       /* 1 MiB */
#define FBR_STACK_DEFAULT_INITIAL ((size_t)16 << 10)  /* 16 KiB */
#define FBR_STACK_MIN ((size_t)16 << 10)              /* smallest stack_max accepted */
#define FBR_STACK_LIMIT ((size_t)16 << 30)            /* largest stack_max accepted: 16 GiB */
#define FBR_FIBER_NAME_MAX 32                         /* bytes kept of a name, with the NUL */

typedef struct fbr_fiber_options {
    size_t stack_max;     /* bytes the stack may grow to (0: FBR_STACK_DEFAULT_MAX),
                             between FBR_STACK_MIN and FBR_STACK_LIMIT; rounded up to pages */
    size_t stack_initial; /* bytes committed up front (0: FBR_STACK_DEFAULT_INITIAL);
                             capped at stack_max */
    const char *name;     /* copied (truncated to FBR_FIBER_NAME_MAX - 1 bytes); NULL: none */
} fbr_fiber_options;

/* fbr_fiber_resume's non-error results. */
#define FBR_YIELDED 0  /* the fiber called fbr_fiber_yield */
#define FBR_FINISHED 1 /* the fiber's function returned */

/* What a fiber is doing, from fbr_fiber_status. */
typedef enum fbr_fiber_state {
    FBR_FIBER_CREATED = 0,   /* not yet started */
    FBR_FIBER_SUSPENDED = 1, /* yielded, waiting to be resumed */
    FBR_FIBER_RUNNING = 2,   /* running, or resuming another fiber */
    FBR_FIBER_FINISHED = 3   /* returned; its stack is already back in the pool */
} fbr_fiber_state;

/* Creates a suspended fiber that will run fn(arg) when first resumed.
 * opts may be NULL for defaults. Errors: FBR_EINVAL (NULL out or fn, sizes out
 * of range), FBR_ENOMEM, FBR_EMAPLIMIT (vm.max_map_count reached),
 * FBR_ESHADOWSTACK (see fbr_runtime_init). */
FBR_API int fbr_fiber_create(fbr_fiber **out, fbr_fiber_fn fn, void *arg, const fbr_fiber_options *opts);

/* Runs `fiber` on the calling thread until it yields or finishes. `in`
 * becomes the value its pending fbr_fiber_yield receives (ignored on the
 * first resume: pass start-up data through `arg`). On return *out (if not
 * NULL) holds the value the fiber yielded, or its result.
 * Returns FBR_YIELDED or FBR_FINISHED; errors: FBR_EINVAL (NULL or destroyed
 * fiber), FBR_EFINISHED (already finished), FBR_ERUNNING (the fiber is the
 * caller or is waiting in a resume further up), FBR_ENOMEM (the thread's
 * signal stack could not be made). A suspended fiber may be resumed from a
 * different OS thread than the one it last ran on. */
FBR_API int fbr_fiber_resume(fbr_fiber *fiber, void *in, void **out);

/* Suspends the calling fiber, handing `out` to the fbr_fiber_resume that
 * ran it; when the fiber is resumed again, *in (if not NULL) receives that
 * resume's `in`. FBR_ENOTFIBER when called outside a fiber. */
FBR_API int fbr_fiber_yield(void *out, void **in);

/* Frees a fiber that is not running. A suspended fiber's stack is released
 * without running the rest of its function (nothing on it is unwound).
 * FBR_EINVAL for NULL, FBR_ERUNNING for a running fiber. Destroying the same
 * fiber twice is undefined, as with free(). */
FBR_API int fbr_fiber_destroy(fbr_fiber *fiber);

/* The fiber running on the calling thread, or NULL outside any fiber. */
FBR_API fbr_fiber *fbr_fiber_self(void);

/* A process-unique number (never 0), the name given at creation ("" if
 * none), and the state. NULL fibers give 0, "" and FBR_EINVAL. */
FBR_API uint64_t fbr_fiber_id(const fbr_fiber *fiber);
FBR_API const char *fbr_fiber_name(const fbr_fiber *fiber);
FBR_API int fbr_fiber_status(const fbr_fiber *fiber);

/* The stack of one fiber, from fbr_fiber_stack_stats. */
typedef struct fbr_stack_stats {
    size_t limit;         /* usable bytes the stack may grow to (stack_max, page-rounded) */
    size_t reserved;      /* address space held, guard included */
    size_t committed;     /* bytes accessible now */
    size_t high_water;    /* bytes from the top down to the deepest resident page */
    uint64_t growth_faults; /* faults that grew this stack during this fiber's life */
} fbr_stack_stats;

/* Fills *out for a fiber that still has its stack (not finished).
 * FBR_EINVAL for NULL arguments, FBR_EFINISHED once the stack is released. */
FBR_API int fbr_fiber_stack_stats(const fbr_fiber *fiber, fbr_stack_stats *out);

#ifdef __cplusplus
}
#endif

#endif
