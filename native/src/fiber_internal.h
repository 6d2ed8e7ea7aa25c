/*
 * The fiber record. Kept apart from the fiber's stack so that a finished
 * fiber gives its stack back at once while its result waits to be collected.
 */
#ifndef FBR_FIBER_INTERNAL_H
#define FBR_FIBER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "fiberrt/fiber.h"
#include "sanitizer_state.h"
#include "stack.h"

#define FBR__FIBER_MAGIC 0x52424946u /* "FIBR" */

struct fbr_fiber {
    void *sp; /* saved stack pointer while not running */
    fbr__stack *stack;
    struct fbr_fiber *resumer; /* where fbr_fiber_yield goes */
    fbr_fiber_fn fn;
    void *arg;
    void *result;
    uint64_t id;
    uint32_t magic;
    int state; /* fbr_fiber_state */
    bool is_root;
    char name[FBR_FIBER_NAME_MAX];
    struct fbr__sanitizer_fiber sanitizer;
};

#endif
