/*
 * What the sanitizers need to know about each execution context. Kept in a
 * header of its own so that fiber records can embed it without pulling in
 * the sanitizer interfaces.
 */
#ifndef FBR_SANITIZER_STATE_H
#define FBR_SANITIZER_STATE_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define FBR__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define FBR__TSAN 1
#endif

struct fbr__sanitizer_fiber {
#if defined(FBR__ASAN)
    void *asan_fake_stack;
    const void *stack_bottom;
    size_t stack_size;
#endif
#if defined(FBR__TSAN)
    void *tsan_fiber;
#endif
    char unused; /* keeps the struct non-empty without sanitizers */
};

#endif
