/*
 * Switching between two execution contexts of the same thread, with the
 * bookkeeping every switch needs: sanitizer annotations on both sides, and
 * the thread's record of which fiber is running (what the fault handler
 * looks at).
 */
#ifndef FBR_SWITCH_H
#define FBR_SWITCH_H

#include "context.h"
#include "fiber_internal.h"
#include "sanitizer.h"
#include "thread.h"

/* Leaves `from` for `to`, handing over `value`; returns, once something
 * switches back to `from`, the value that switch brought. `from` may wake up
 * on another OS thread than it left. */
static inline void *fbr__switch(struct fbr_fiber *from, struct fbr_fiber *to, void *value)
{
    fbr__sanitizer_before_switch(from, to, false);
    void *received = fbr__context_switch(&from->sp, to->sp, value);
    fbr__sanitizer_after_switch(from);
    /* Only now: until the switch had saved `from`'s registers on its own
     * stack, a fault there still had to be attributed to `from`. */
    fbr__thread_peek()->current = from;
    return received;
}

/* Leaves a finished fiber for good. */
__attribute__((noreturn)) static inline void fbr__switch_final(struct fbr_fiber *from, struct fbr_fiber *to)
{
    fbr__sanitizer_before_switch(from, to, true);
    fbr__context_switch(&from->sp, to->sp, NULL);
    __builtin_trap(); /* nothing ever switches back to a finished fiber */
}

/* First thing a new fiber runs on its own stack. */
static inline void fbr__switch_arrived(struct fbr_fiber *self)
{
    fbr__sanitizer_first_entry();
    fbr__thread_peek()->current = self;
}

#endif
