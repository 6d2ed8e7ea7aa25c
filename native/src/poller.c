#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "error_internal.h"
#include "fiberrt/time.h"
#include "io_internal.h"
#include "poller.h"
#include "sched_internal.h"

/* epoll data of the wake-up eventfd; descriptors carry a slot index and a
 * generation, never all ones. */
#define WAKE_DATA UINT64_MAX

/* Events handled per epoll_wait: enough that a loaded server drains its
 * ready connections in a few calls. */
#define EVENTS_PER_POLL 128

int fbr__poller_init(struct fbr__poller *p)
{
    p->registered = 0;
    p->blocker_taken = 0;
    p->last_poll = 0;
    p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epoll_fd < 0)
        return fbr__fail(errno == EMFILE || errno == ENFILE ? FBR_SYSERR(errno) : FBR_ESYSTEM,
                         "cannot create the scheduler's epoll instance: %s", strerror(errno));
    p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->wake_fd < 0) {
        int err = errno;
        close(p->epoll_fd);
        return fbr__fail(FBR_SYSERR(err), "cannot create the scheduler's wake-up eventfd: %s", strerror(err));
    }
    /* Level-triggered: a wake-up stays visible until a poller drains it. */
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_DATA};
    if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, p->wake_fd, &ev) != 0) {
        int err = errno;
        close(p->wake_fd);
        close(p->epoll_fd);
        return fbr__fail(FBR_ESYSTEM, "cannot watch the wake-up eventfd: %s", strerror(err));
    }
    return FBR_OK;
}

void fbr__poller_free(struct fbr__poller *p)
{
    close(p->wake_fd);
    close(p->epoll_fd);
}

int fbr__poller_add(struct fbr__poller *p, int fd, uint64_t data)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = data};
    if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int err = errno;
        /* Regular files cannot be polled: they never block in the sense
         * epoll means, so waiting on them is refused, not faked. */
        return fbr__fail(err == EPERM ? FBR_ENOTSUP : FBR_SYSERR(err), "cannot poll descriptor %d: %s%s", fd,
                         strerror(err), err == EPERM ? " (regular files: use fbr_blocking_call)" : "");
    }
    __atomic_add_fetch(&p->registered, 1, __ATOMIC_ACQ_REL);
    return FBR_OK;
}

void fbr__poller_remove(struct fbr__poller *p, int fd)
{
    struct epoll_event ev = {0};
    (void)epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, fd, &ev);
    __atomic_sub_fetch(&p->registered, 1, __ATOMIC_ACQ_REL);
}

void fbr__poller_wake(struct fbr__poller *p)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: a wake-up is pending. */
    ssize_t n = write(p->wake_fd, &one, sizeof one);
    (void)n;
}

static int wait_events(struct fbr__poller *p, struct epoll_event *events, int64_t deadline)
{
    if (deadline == 0)
        return epoll_wait(p->epoll_fd, events, EVENTS_PER_POLL, 0);
    if (deadline == FBR_NO_DEADLINE)
        return epoll_wait(p->epoll_fd, events, EVENTS_PER_POLL, -1);
    /* epoll_wait counts in milliseconds; timers need better, and
     * epoll_pwait2 (Linux 5.11) takes a timespec. */
    int64_t left = fbr__time_left(deadline);
    struct timespec ts = {.tv_sec = (time_t)(left / FBR_SECOND), .tv_nsec = (long)(left % FBR_SECOND)};
    int n = epoll_pwait2(p->epoll_fd, events, EVENTS_PER_POLL, &ts, NULL);
    if (n < 0 && errno == ENOSYS) {
        int64_t ms = (left + FBR_MILLISECOND - 1) / FBR_MILLISECOND;
        n = epoll_wait(p->epoll_fd, events, EVENTS_PER_POLL, ms > 1000000 ? 1000000 : (int)ms);
    }
    return n;
}

int fbr__poller_poll(struct fbr_sched *s, int64_t deadline)
{
    struct fbr__poller *p = &s->poller;
    struct epoll_event events[EVENTS_PER_POLL];
    int n = wait_events(p, events, deadline);
    __atomic_store_n(&p->last_poll, fbr_now(), __ATOMIC_RELAXED);
    if (n <= 0)
        return 0; /* EINTR and timeouts alike: the caller looks again */
    fbr__wait_node *claimed = NULL;
    for (int i = 0; i < n; i++) {
        if (events[i].data.u64 == WAKE_DATA) {
            /* Only the worker blocked here (or about to block) may take
             * the wake-up: a busy worker's quick look that drained it would
             * leave the sleeper in epoll_wait with its pinned fibers queued
             * and nobody to run them (seen: C# connection fibers that never
             * woke). Left in place, the level-triggered eventfd reaches the
             * sleeper. */
            if (deadline != 0) {
                uint64_t count;
                ssize_t r = read(p->wake_fd, &count, sizeof count);
                (void)r;
            }
            continue;
        }
        int ready = 0;
        if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            ready |= FBR_IO_READABLE;
        if (events[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            ready |= FBR_IO_WRITABLE;
        fbr__io_ready(s, events[i].data.u64, ready, &claimed);
    }
    int completed = 0;
    while (claimed) {
        fbr__wait_node *node = claimed;
        claimed = node->next_claimed;
        fbr__wait_complete(node->wait);
        completed++;
    }
    return completed;
}
