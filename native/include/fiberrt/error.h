/*
 * Error codes. Every fallible function returns 0 (FBR_OK), a non-negative
 * status it documents, or one of these negative codes. The code says what
 * kind of failure it was; fbr_last_error() adds the particulars of the most
 * recent failure on the calling thread (which argument, which limit).
 *
 *     int rc = fbr_fiber_create(&f, fn, NULL, &opts);
 *     if (rc < 0)
 *         fprintf(stderr, "%s: %s\n", fbr_err_name(rc), fbr_last_error());
 */
#ifndef FIBERRT_ERROR_H
#define FIBERRT_ERROR_H

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fbr_error {
    FBR_OK = 0,
    FBR_EINVAL = -1,       /* an argument is NULL, out of range or not a live handle */
    FBR_ENOMEM = -2,       /* memory (or commit charge) ran out */
    FBR_EMAPLIMIT = -3,    /* the process hit vm.max_map_count */
    FBR_ENOTFIBER = -4,    /* the call needs a fiber and the caller is not one */
    FBR_EFINISHED = -5,    /* the fiber has already finished */
    FBR_ERUNNING = -6,     /* the fiber is running (or waiting in a resume of another) */
    FBR_ESHADOWSTACK = -7, /* hardware shadow stacks are active; fibers would crash */
    FBR_EBUSY = -8,        /* the runtime is already in use, too late to reconfigure */
    FBR_ENOTSUP = -9,      /* this system lacks what the request needs */
    FBR_ESYSTEM = -10,     /* an unexpected system call failure; see fbr_last_error() */
    FBR_ECLOSED = -11,     /* the channel is closed (send, second close, receive once drained) */
    FBR_ETIMEDOUT = -12,   /* the deadline passed before the operation could complete */
    FBR_EAGAIN = -13,      /* a non-blocking operation would have had to wait */
    FBR_EDEADLK = -14,     /* the operation would wait forever (a fiber joining itself) */
    FBR_ESHUTDOWN = -15,   /* the scheduler is shutting down or shut down */
    FBR_ECANCELED = -16    /* the operation was cancelled before it completed */
} fbr_error;

/* A fixed, human-readable description of `code` ("invalid argument"; for a
 * system error FBR_SYSERR(e) of fiberrt/io.h, the system's text for e). Never
 * NULL; unknown codes get "unknown error". */
FBR_API const char *fbr_strerror(int code);

/* The constant's name for `code` ("FBR_EINVAL", "FBR_SYSERR(ECONNRESET)"), or
 * "FBR_UNKNOWN". A system error's name is valid until the thread's next call. */
FBR_API const char *fbr_err_name(int code);

/* A description of the most recent failure on the calling thread, with its
 * particulars ("stack_max of 1 TiB exceeds the 16 GiB limit"). Valid until
 * the thread's next failing call. "" if nothing failed yet. */
FBR_API const char *fbr_last_error(void);

/* The code that the message of fbr_last_error() belongs to (0 if nothing
 * failed yet). Not every failure leaves a message (a plain FBR_EAGAIN from a
 * try operation does not): compare this with the code you got before trusting
 * the message to describe it. */
FBR_API int fbr_last_error_code(void);

#ifdef __cplusplus
}
#endif

#endif
