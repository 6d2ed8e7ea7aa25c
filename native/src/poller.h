/*
 * The poller: one epoll instance per scheduler, through which fibers wait
 * for descriptors (see fiberrt/io.h).
 *
 * Nobody runs a poller thread. Workers look at it themselves: without
 * blocking whenever they run out of queued work (and every so often while
 * busy, so a loaded scheduler still notices I/O), and one idle worker at a
 * time blocks in epoll_wait instead of on its futex, until a descriptor is
 * ready, its next timer is due, or new work arrives (waking it writes to an
 * eventfd in the same epoll set). An idle scheduler still uses no CPU.
 */
#ifndef FBR_POLLER_H
#define FBR_POLLER_H

#include <stdbool.h>
#include <stdint.h>

struct fbr_sched;

struct fbr__poller {
    int epoll_fd;
    int wake_fd;            /* eventfd: wakes the worker blocked in epoll_wait */
    uint32_t registered;    /* atomic: descriptors bound to this poller */
    uint32_t blocker_taken; /* atomic: a worker is (about to be) blocked in it */
    int64_t last_poll;      /* atomic: fbr_now() of the latest look */
};

/* FBR_ESYSTEM (or FBR_EMAPLIMIT-like descriptor exhaustion) on failure. */
int fbr__poller_init(struct fbr__poller *p);
void fbr__poller_free(struct fbr__poller *p);

static inline bool fbr__poller_in_use(struct fbr__poller *p)
{
    return __atomic_load_n(&p->registered, __ATOMIC_ACQUIRE) != 0;
}

/* Looks at the poller and makes ready every fiber whose descriptor is; waits
 * for something to happen until `deadline` (0: not at all). Returns how many
 * waits it completed. Any worker may call it, several at once. */
int fbr__poller_poll(struct fbr_sched *s, int64_t deadline);

/* Makes a blocked fbr__poller_poll return (idle worker wake-up). */
void fbr__poller_wake(struct fbr__poller *p);

/* Edge-triggered registration of fd for both directions; `data` comes back
 * with its events (fbr__io_ready). */
int fbr__poller_add(struct fbr__poller *p, int fd, uint64_t data);
void fbr__poller_remove(struct fbr__poller *p, int fd);

#endif
