/*
 * How library functions fail: record the particulars for fbr_last_error()
 * and return the code, in one expression:
 *
 *     if (size > FBR_STACK_LIMIT)
 *         return fbr__fail(FBR_EINVAL, "stack_max of %zu bytes exceeds ...", size);
 */
#ifndef FBR_ERROR_INTERNAL_H
#define FBR_ERROR_INTERNAL_H

#include "fiberrt/error.h"

#if defined(__GNUC__)
#define FBR__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FBR__PRINTF(f, a)
#endif

int fbr__fail(int code, const char *fmt, ...) FBR__PRINTF(2, 3);

#endif
