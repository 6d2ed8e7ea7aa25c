/*
 * I/O handles inside the runtime (fiberrt/io.h is the API).
 *
 * Handles live in one process-wide table that only grows: a poller may
 * still hold an event for a handle that another thread has just closed,
 * and it must find memory it can lock, and a generation that tells it the
 * event is stale. epoll carries (generation << 32 | index).
 */
#ifndef FBR_IO_INTERNAL_H
#define FBR_IO_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "fiberrt/io.h"
#include "lock.h"
#include "wait.h"

struct fbr_sched;

enum { FBR__IO_DIR_READ = 0, FBR__IO_DIR_WRITE = 1 };

struct fbr_io {
    fbr__lock lock;
    uint32_t index;
    uint32_t generation; /* under lock; bumped when the slot is freed */
    /* atomic: (operations in progress << 1) | closing. The descriptor is
     * closed by whoever brings it to exactly "closing, nobody inside". */
    uint32_t refs;
    int fd;
    bool is_socket;
    bool cancelled;          /* under lock; read without it as a hint */
    uint8_t ready;           /* FBR_IO_* the poller saw with nobody waiting */
    struct fbr_sched *sched; /* whose poller watches fd, once a fiber waited */
    fbr__wait_queue waiters[2];
    unsigned thread_waiters;
    struct fbr_io *free_next;
};

/* The poller's side: records readiness `ready` (FBR_IO_*) for the handle
 * named by `data` (ignored if stale) and claims the fibers waiting for it,
 * linking them through next_claimed onto *claimed for completion after. */
void fbr__io_ready(struct fbr_sched *s, uint64_t data, int ready, fbr__wait_node **claimed);

/* Before a scheduler is freed: handles still bound to it forget it. */
void fbr__io_forget_sched(struct fbr_sched *s);

#endif
