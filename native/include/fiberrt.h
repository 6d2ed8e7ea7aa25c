/*
 * FiberRuntime: goroutine-style fibers for C (and, through bindings, C#).
 *
 * Include this one header. Every public name starts with `fbr_` (types and
 * functions) or `FBR_` (constants); functions that can fail return an `int`
 * that is 0 (FBR_OK) or a negative FBR_E* code, and fbr_strerror() turns a
 * code into a message. Handles are opaque pointers.
 *
 *     #include <fiberrt.h>
 *     #include <stdio.h>
 *
 *     static void *count(void *arg)
 *     {
 *         for (long i = 0; i < (long)arg; i++)
 *             fbr_fiber_yield((void *)i, NULL);
 *         return "done";
 *     }
 *
 *     int main(void)
 *     {
 *         fbr_fiber *f;
 *         void *v;
 *         int rc = fbr_fiber_create(&f, count, (void *)3, NULL);
 *         if (rc < 0) { fprintf(stderr, "%s\n", fbr_last_error()); return 1; }
 *         while ((rc = fbr_fiber_resume(f, NULL, &v)) == FBR_YIELDED)
 *             printf("yielded %ld\n", (long)v);
 *         printf("%s\n", (const char *)v);        // "done"
 *         return fbr_fiber_destroy(f);
 *     }
 */
#ifndef FIBERRT_H
#define FIBERRT_H

#include "fiberrt/version.h"
#include "fiberrt/error.h"
#include "fiberrt/runtime.h"
#include "fiberrt/fiber.h"
#include "fiberrt/time.h"
#include "fiberrt/sched.h"
#include "fiberrt/chan.h"
#include "fiberrt/sync.h"
#include "fiberrt/io.h"

#endif
