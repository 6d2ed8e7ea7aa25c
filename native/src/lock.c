#include "lock.h"

void fbr__lock_slow(fbr__lock *l)
{
    /* Critical sections are a few dozen instructions: a short spin usually
     * wins without a system call. */
    for (int i = 0; i < 100; i++) {
        fbr__cpu_relax();
        uint32_t expected = 0;
        if (__atomic_load_n(&l->state, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&l->state, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
    }
    /* Mark "locked with sleepers" and sleep until the holder hands off. */
    while (__atomic_exchange_n(&l->state, 2, __ATOMIC_ACQUIRE) != 0)
        fbr__futex_wait(&l->state, 2, FBR_NO_DEADLINE);
}
