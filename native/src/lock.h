/*
 * A small mutex for the runtime's own short critical sections (channel
 * state, queues): spins briefly, then sleeps on a futex. Unlike a pthread
 * mutex it may be unlocked by a different OS thread than locked it, which
 * happens when a fiber parks and its worker releases the lock on its behalf.
 */
#ifndef FBR_LOCK_H
#define FBR_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "futex.h"

typedef struct fbr__lock {
    uint32_t state; /* 0 free, 1 locked, 2 locked with sleepers */
} fbr__lock;

#define FBR__LOCK_INIT {0}

static inline void fbr__cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

void fbr__lock_slow(fbr__lock *l);

static inline void fbr__lock_acquire(fbr__lock *l)
{
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&l->state, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        fbr__lock_slow(l);
}

static inline int fbr__lock_try(fbr__lock *l)
{
    uint32_t expected = 0;
    return __atomic_compare_exchange_n(&l->state, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void fbr__lock_release(fbr__lock *l)
{
    if (__atomic_exchange_n(&l->state, 0, __ATOMIC_RELEASE) == 2)
        fbr__futex_wake(&l->state, 1);
}

#endif
