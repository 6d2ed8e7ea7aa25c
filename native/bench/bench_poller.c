/*
 * Readiness notification, epoll against io_uring: the one job of the
 * runtime's poller (native/src/poller.c). A thousand socket pairs; each
 * round makes a batch of them readable (one byte written to the peer), waits
 * until the poller reports each one, and reads the byte, as a worker does
 * for connections that have a request in. epoll is registered edge-triggered,
 * io_uring with multishot POLL_ADD (one submission per descriptor, kept for
 * the whole run), both reaped 128 events per call. Prints ns per event for
 * each, medians of several runs, and the ratio. Figures, not a test.
 *
 *   fbr_bench_poller [--pairs N] [--batch B] [--events E] [--runs R]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int pairs = 1000, batch = 64, runs = 5;
static long events_per_run = 400000;
static int (*sv)[2];

static void make_readable(int round)
{
    for (int i = 0; i < batch; i++) {
        int k = (int)(((unsigned)round * 7919u + (unsigned)i * 104729u) % (unsigned)pairs);
        if (write(sv[k][1], "x", 1) != 1) {
            perror("write");
            exit(1);
        }
    }
}

static void drain(int fd)
{
    char c[16];
    while (read(fd, c, sizeof c) > 0) {
    }
}

/* ---- epoll ------------------------------------------------------------------------------------ */

static double run_epoll(void)
{
    int ep = epoll_create1(0);
    for (int i = 0; i < pairs; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, sv[i][0], &ev);
    }
    struct epoll_event events[128];
    long seen = 0;
    int64_t start = now_ns();
    for (int round = 0; seen < events_per_run; round++) {
        make_readable(round);
        int pending = 0;
        /* A batch may name a pair twice: count distinct readable ends. */
        for (;;) {
            int n = epoll_wait(ep, events, 128, pending ? 0 : -1);
            if (n <= 0)
                break;
            for (int i = 0; i < n; i++)
                drain(sv[events[i].data.u32][0]);
            seen += n;
            pending = 1;
        }
    }
    double ns = (double)(now_ns() - start) / (double)seen;
    close(ep);
    return ns;
}

/* ---- io_uring ---------------------------------------------------------------------------------- */

struct ring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

static int ring_setup(struct ring *r, unsigned entries)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = (unsigned)pairs * 4;
    r->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (r->fd < 0)
        return -errno;
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (cq_size > sq_size)
        sq_size = cq_size;
    char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    char *cq = sq; /* IORING_FEAT_SINGLE_MMAP: one mapping holds both rings */
    if (!(p.features & IORING_FEAT_SINGLE_MMAP))
        cq = mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
    r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
        return -ENOMEM;
    r->sq_head = (unsigned *)(sq + p.sq_off.head);
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
}

static void ring_poll_add(struct ring *r, int fd, uint64_t data)
{
    unsigned tail = *r->sq_tail;
    unsigned index = tail & *r->sq_mask;
    struct io_uring_sqe *sqe = &r->sqes[index];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = fd;
    sqe->poll32_events = POLLIN;
    sqe->len = IORING_POLL_ADD_MULTI;
    sqe->user_data = data;
    r->sq_array[index] = index;
    __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, r->fd, 1, 0, 0, NULL, 0) != 1) {
        perror("io_uring_enter (submit)");
        exit(1);
    }
}

static double run_io_uring(void)
{
    struct ring r;
    int rc = ring_setup(&r, 256);
    if (rc < 0) {
        fprintf(stderr, "io_uring unavailable: %s\n", strerror(-rc));
        return -1;
    }
    for (int i = 0; i < pairs; i++)
        ring_poll_add(&r, sv[i][0], (uint64_t)i);
    long seen = 0;
    int64_t start = now_ns();
    for (int round = 0; seen < events_per_run; round++) {
        make_readable(round);
        int pending = 0;
        for (;;) {
            unsigned head = *r.cq_head, tail = __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE);
            if (head == tail) {
                if (pending)
                    break;
                /* Block for at least one completion, as an idle worker would. */
                syscall(__NR_io_uring_enter, r.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);
                continue;
            }
            int n = 0;
            for (; head != tail && n < 128; head++, n++) {
                struct io_uring_cqe *cqe = &r.cqes[head & *r.cq_mask];
                drain(sv[cqe->user_data][0]);
                if (!(cqe->flags & IORING_CQE_F_MORE)) { /* the multishot poll ended: renew it */
                    __atomic_store_n(r.cq_head, head + 1, __ATOMIC_RELEASE);
                    ring_poll_add(&r, sv[cqe->user_data][0], cqe->user_data);
                }
            }
            __atomic_store_n(r.cq_head, head, __ATOMIC_RELEASE);
            seen += n;
            pending = 1;
        }
    }
    double ns = (double)(now_ns() - start) / (double)seen;
    close(r.fd);
    return ns;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pairs"))
            pairs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--events"))
            events_per_run = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [--pairs N] [--batch B] [--events E] [--runs R]\n", argv[0]);
            return 2;
        }
    }
    if (pairs < 1 || batch < 1 || runs < 1 || events_per_run < 1) {
        fprintf(stderr, "sizes must be positive\n");
        return 2;
    }
    sv = calloc((size_t)pairs, sizeof *sv);
    for (int i = 0; i < pairs; i++)
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]) != 0) {
            perror("socketpair (raise ulimit -n?)");
            return 1;
        }
    double *e = calloc((size_t)runs, sizeof *e), *u = calloc((size_t)runs, sizeof *u);
    for (int r = 0; r < runs; r++) { /* interleaved, so drift hits both alike */
        e[r] = run_epoll();
        u[r] = run_io_uring();
    }
    double me = median(e, runs), mu = median(u, runs);
    printf("readiness notification, %d socket pairs, batches of %d, medians of %d runs:\n", pairs, batch, runs);
    printf("  epoll (edge-triggered)        %7.1f ns per event\n", me);
    if (mu < 0)
        printf("  io_uring (multishot poll)     unavailable here\n");
    else
        printf("  io_uring (multishot poll)     %7.1f ns per event  (%.2fx epoll's time)\n", mu, mu / me);
    return 0;
}
