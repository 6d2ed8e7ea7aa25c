/*
 * Telling AddressSanitizer and ThreadSanitizer about stack switches. Without
 * these calls ASan reports false stack-buffer errors on every switch and
 * TSan mixes up the fibers' histories. Everything here compiles to nothing in
 * a build without sanitizers.
 */
#ifndef FBR_SANITIZER_H
#define FBR_SANITIZER_H

#include <stdbool.h>

#include "fiber_internal.h"
#include "thread.h"

#if defined(FBR__ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(FBR__TSAN)
#include <sanitizer/tsan_interface.h>
#endif

void fbr__sanitizer_thread_init(struct fbr__thread *thread);
void fbr__sanitizer_thread_exit(struct fbr__thread *thread);

static inline void fbr__sanitizer_fiber_created(struct fbr_fiber *f)
{
#if defined(FBR__ASAN)
    f->sanitizer.asan_fake_stack = NULL;
    f->sanitizer.stack_bottom = f->stack->usable_low;
    f->sanitizer.stack_size = (size_t)(f->stack->top - f->stack->usable_low);
#endif
#if defined(FBR__TSAN)
    f->sanitizer.tsan_fiber = __tsan_create_fiber(0);
#endif
    (void)f;
}

static inline void fbr__sanitizer_fiber_destroyed(struct fbr_fiber *f)
{
#if defined(FBR__TSAN)
    if (f->sanitizer.tsan_fiber != NULL)
        __tsan_destroy_fiber(f->sanitizer.tsan_fiber);
    f->sanitizer.tsan_fiber = NULL;
#endif
    (void)f;
}

/* Just before leaving `from` for `to`. A finishing context passes
 * `leaving_for_good` so ASan can free its fake stack. */
static inline void fbr__sanitizer_before_switch(struct fbr_fiber *from, struct fbr_fiber *to, bool leaving_for_good)
{
#if defined(FBR__ASAN)
    __sanitizer_start_switch_fiber(leaving_for_good ? NULL : &from->sanitizer.asan_fake_stack,
                                   to->sanitizer.stack_bottom, to->sanitizer.stack_size);
#endif
#if defined(FBR__TSAN)
    __tsan_switch_to_fiber(to->sanitizer.tsan_fiber, 0);
#endif
    (void)from;
    (void)to;
    (void)leaving_for_good;
}

/* First thing after `self` is switched back in. */
static inline void fbr__sanitizer_after_switch(struct fbr_fiber *self)
{
#if defined(FBR__ASAN)
    __sanitizer_finish_switch_fiber(self->sanitizer.asan_fake_stack, NULL, NULL);
#endif
    (void)self;
}

/* First thing a brand-new context runs. */
static inline void fbr__sanitizer_first_entry(void)
{
#if defined(FBR__ASAN)
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

#endif
