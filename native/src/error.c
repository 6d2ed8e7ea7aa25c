#include <stdarg.h>
#include <stdio.h>

#include <string.h>

#include "error_internal.h"
#include "thread.h"
#include "fiberrt/io.h"

/* Details are per thread so that concurrent failures do not mix messages.
 * Not initial-exec TLS: nothing async-signal-safe reads it, and keeping the
 * static TLS block small leaves room for the one variable that needs it. */
static _Thread_local char last_error[256];
static _Thread_local int last_error_code;

const char *fbr_strerror(int code)
{
    if (FBR_IS_SYSERR(code)) {
        const char *text = strerrordesc_np(FBR_SYSERR_ERRNO(code));
        return text ? text : "unknown system error";
    }
    switch (code) {
    case FBR_OK: return "success";
    case FBR_EINVAL: return "invalid argument";
    case FBR_ENOMEM: return "out of memory";
    case FBR_EMAPLIMIT: return "too many memory mappings (vm.max_map_count reached)";
    case FBR_ENOTFIBER: return "not called from a fiber";
    case FBR_EFINISHED: return "the fiber has finished";
    case FBR_ERUNNING: return "the fiber is running";
    case FBR_ESHADOWSTACK: return "hardware shadow stacks are active";
    case FBR_EBUSY: return "the runtime is already in use";
    case FBR_ENOTSUP: return "not supported on this system";
    case FBR_ESYSTEM: return "unexpected system error";
    case FBR_ECLOSED: return "the channel is closed";
    case FBR_ETIMEDOUT: return "the deadline passed";
    case FBR_EAGAIN: return "the operation would block";
    case FBR_EDEADLK: return "the operation would deadlock";
    case FBR_ESHUTDOWN: return "the scheduler is shut down";
    case FBR_ECANCELED: return "the operation was cancelled";
    default: return "unknown error";
    }
}

FBR__TLS_ACCESSOR const char *fbr_err_name(int code)
{
    if (FBR_IS_SYSERR(code)) {
        static _Thread_local char name[40];
        const char *errno_name = strerrorname_np(FBR_SYSERR_ERRNO(code));
        if (errno_name == NULL)
            return "FBR_UNKNOWN";
        snprintf(name, sizeof name, "FBR_SYSERR(%s)", errno_name);
        return name;
    }
    switch (code) {
    case FBR_OK: return "FBR_OK";
    case FBR_EINVAL: return "FBR_EINVAL";
    case FBR_ENOMEM: return "FBR_ENOMEM";
    case FBR_EMAPLIMIT: return "FBR_EMAPLIMIT";
    case FBR_ENOTFIBER: return "FBR_ENOTFIBER";
    case FBR_EFINISHED: return "FBR_EFINISHED";
    case FBR_ERUNNING: return "FBR_ERUNNING";
    case FBR_ESHADOWSTACK: return "FBR_ESHADOWSTACK";
    case FBR_EBUSY: return "FBR_EBUSY";
    case FBR_ENOTSUP: return "FBR_ENOTSUP";
    case FBR_ESYSTEM: return "FBR_ESYSTEM";
    case FBR_ECLOSED: return "FBR_ECLOSED";
    case FBR_ETIMEDOUT: return "FBR_ETIMEDOUT";
    case FBR_EAGAIN: return "FBR_EAGAIN";
    case FBR_EDEADLK: return "FBR_EDEADLK";
    case FBR_ESHUTDOWN: return "FBR_ESHUTDOWN";
    case FBR_ECANCELED: return "FBR_ECANCELED";
    default: return "FBR_UNKNOWN";
    }
}

FBR__TLS_ACCESSOR const char *fbr_last_error(void)
{
    return last_error;
}

FBR__TLS_ACCESSOR int fbr_last_error_code(void)
{
    return last_error_code;
}

FBR__TLS_ACCESSOR int fbr__fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_error_code = code;
    return code;
}
