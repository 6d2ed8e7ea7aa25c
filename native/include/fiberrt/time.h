/*
 * Time for deadlines. Every blocking call that can give up takes an absolute
 * deadline on the monotonic clock, in nanoseconds, so that a chain of calls
 * shares one deadline without recomputing timeouts:
 *
 *     int64_t deadline = fbr_deadline_in(50 * FBR_MILLISECOND);
 *     if (fbr_chan_recv_until(requests, &req, deadline) == FBR_ETIMEDOUT) ...
 *     if (fbr_chan_send_until(replies, &rep, deadline) == FBR_ETIMEDOUT) ...
 */
#ifndef FIBERRT_TIME_H
#define FIBERRT_TIME_H

#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FBR_NANOSECOND ((int64_t)1)
#define FBR_MICROSECOND ((int64_t)1000)
#define FBR_MILLISECOND ((int64_t)1000000)
#define FBR_SECOND ((int64_t)1000000000)

/* A deadline that never passes. */
#define FBR_NO_DEADLINE INT64_MAX

/* Now, on CLOCK_MONOTONIC, in nanoseconds. */
FBR_API int64_t fbr_now(void);

/* fbr_now() + ns, saturating at FBR_NO_DEADLINE (negative ns: now). */
FBR_API int64_t fbr_deadline_in(int64_t ns);

#ifdef __cplusplus
}
#endif

#endif
