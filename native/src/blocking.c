/*
 * Blocking calls off the workers (fbr_blocking_call): a pool of plain
 * threads runs them while the calling fiber parks. The pool starts empty,
 * adds a thread whenever a call finds none idle (up to MAX_THREADS; beyond
 * that calls queue), and a thread that has been idle for IDLE_EXIT_NS
 * leaves, so a process that made a few blocking calls once does not keep
 * their threads.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "error_internal.h"
#include "fiber_internal.h"
#include "fiberrt/io.h"
#include "fiberrt/time.h"
#include "futex.h"
#include "lock.h"
#include "sched_internal.h"
#include "wait.h"

#define MAX_THREADS 64
#define IDLE_EXIT_NS (5 * FBR_SECOND)

struct blocking_job {
    void *(*fn)(void *);
    void *arg;
    void *result;
    int err;
    fbr__wait wait;
    struct blocking_job *next;
};

/* The runtime's own lock, not a pthread mutex: a parking fiber's worker
 * releases it on the fiber's behalf, possibly from another thread. */
static fbr__lock pool_lock = FBR__LOCK_INIT;
static uint32_t work_posted; /* futex: bumped for each queued job */
static struct blocking_job *queue_head, *queue_tail;
static unsigned threads, idle_threads;

static void *pool_thread(void *unused)
{
    (void)unused;
    pthread_setname_np(pthread_self(), "fbr-blocking");
    fbr__lock_acquire(&pool_lock);
    for (;;) {
        int64_t idle_until = fbr_now() + IDLE_EXIT_NS;
        while (queue_head == NULL) {
            uint32_t seen = __atomic_load_n(&work_posted, __ATOMIC_ACQUIRE);
            idle_threads++;
            fbr__lock_release(&pool_lock);
            int rc = fbr__futex_wait(&work_posted, seen, idle_until);
            fbr__lock_acquire(&pool_lock);
            idle_threads--;
            if (rc == ETIMEDOUT && queue_head == NULL) {
                threads--;
                fbr__lock_release(&pool_lock);
                return NULL;
            }
        }
        struct blocking_job *job = queue_head;
        queue_head = job->next;
        if (queue_head == NULL)
            queue_tail = NULL;
        fbr__lock_release(&pool_lock);

        errno = 0;
        job->result = job->fn(job->arg);
        job->err = errno;
        /* The job lives on the parked fiber's stack: after completing it,
         * it is gone. */
        if (fbr__wait_claim(&job->wait, 1))
            fbr__wait_complete(&job->wait);

        fbr__lock_acquire(&pool_lock);
    }
}


int fbr_blocking_call(void *(*fn)(void *), void *arg, void **result)
{
    if (fn == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_blocking_call: fn is NULL");
    struct fbr_fiber *self = fbr_fiber_self();
    if (self == NULL || self->sched == NULL) {
        /* A thread (or a fiber outside any scheduler) stalls nobody else. */
        void *r = fn(arg);
        if (result)
            *result = r;
        return FBR_OK;
    }
    struct blocking_job job = {.fn = fn, .arg = arg};
    fbr__wait_init(&job.wait);
    fbr__lock_acquire(&pool_lock);
    if (idle_threads == 0 && threads < MAX_THREADS) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t thread;
        int err = pthread_create(&thread, &attr, pool_thread, NULL);
        pthread_attr_destroy(&attr);
        if (err == 0) {
            threads++;
        } else if (threads == 0) {
            fbr__lock_release(&pool_lock);
            return fbr__fail(err == EAGAIN ? FBR_ENOMEM : FBR_ESYSTEM,
                             "fbr_blocking_call: cannot start a blocking-call thread: %s", strerror(err));
        }
        /* Otherwise the call waits for one of the threads already there. */
    }
    if (queue_tail)
        queue_tail->next = &job;
    else
        queue_head = &job;
    queue_tail = &job;
    __atomic_add_fetch(&work_posted, 1, __ATOMIC_RELEASE);
    fbr__futex_wake(&work_posted, 1);
    (void)fbr__wait_block(&job.wait, fbr__wait_release_lock, &pool_lock, FBR_NO_DEADLINE);
    if (result)
        *result = job.result;
    errno = job.err;
    return FBR_OK;
}
