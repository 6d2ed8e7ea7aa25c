/*
 * The futex calls the runtime blocks OS threads with (idle workers, threads
 * waiting on channels and joins). Deadlines are absolute CLOCK_MONOTONIC
 * nanoseconds, as everywhere in the API.
 */
#ifndef FBR_FUTEX_H
#define FBR_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fiberrt/time.h"

/* Sleeps while *word == expected, until woken or `deadline` passes.
 * Returns 0 when woken (or the word had changed), ETIMEDOUT at the deadline;
 * EINTR and spurious returns look like wake-ups: callers re-check. */
static inline int fbr__futex_wait(uint32_t *word, uint32_t expected, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;
    if (deadline != FBR_NO_DEADLINE) {
        if (deadline < 0)
            deadline = 0;
        ts.tv_sec = (time_t)(deadline / FBR_SECOND);
        ts.tv_nsec = (long)(deadline % FBR_SECOND);
        tsp = &ts;
    }
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    return rc == -1 && errno == ETIMEDOUT ? ETIMEDOUT : 0;
}

static inline void fbr__futex_wake(uint32_t *word, int count)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

#endif
