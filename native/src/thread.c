#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error_internal.h"
#include "runtime_internal.h"
#include "sanitizer.h"
#include "thread.h"
#include "vmem.h"

/* initial-exec: the signal handler reads this, and dynamic TLS may allocate
 * on first access. It is the runtime's only such variable: a shared library
 * loaded with dlopen (as .NET loads us) has little static TLS to spare. */
static __thread struct fbr__thread *tls_thread __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;

/* Every thread state, for summing counters; and what exited threads counted. */
static pthread_mutex_t registered_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fbr__thread *registered;
static struct fbr__counters retired;
/* For threads without fiber state (a plain thread creating a fiber before
 * its state exists is the only case). */
static struct fbr__counters shared_counters = {.shared = true};

#define FBR__COUNTER_FIELDS(X)                                                                     \
    X(stacks_in_use) X(stacks_cached) X(bytes_reserved) X(bytes_committed) X(growth_faults)          \
        X(stack_regions) X(fibers_created)

static void add_counters(struct fbr__counters *into, const struct fbr__counters *from)
{
#define FBR__ADD(f) __atomic_fetch_add(&into->f, __atomic_load_n(&from->f, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    FBR__COUNTER_FIELDS(FBR__ADD)
#undef FBR__ADD
}

FBR__TLS_ACCESSOR struct fbr__counters *fbr__counters_here(void)
{
    struct fbr__thread *t = tls_thread;
    return t ? &t->counters : &shared_counters;
}

FBR__TLS_ACCESSOR struct fbr__counters *fbr__handler_counters_here(void)
{
    struct fbr__thread *t = tls_thread;
    return t ? &t->handler_counters : &shared_counters;
}

void fbr__counters_sum(struct fbr__counters *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&registered_lock);
    add_counters(out, &retired);
    add_counters(out, &shared_counters);
    for (struct fbr__thread *t = registered; t; t = t->next_registered) {
        add_counters(out, &t->counters);
        add_counters(out, &t->handler_counters);
    }
    pthread_mutex_unlock(&registered_lock);
}
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

#define ALTSTACK_MIN ((size_t)64 << 10)

static void thread_exit(void *value)
{
    struct fbr__thread *t = value;
    if (t->altstack != NULL) {
        stack_t off;
        memset(&off, 0, sizeof off);
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, NULL);
        size_t page = fbr__page_size();
        munmap((char *)t->altstack - page, t->altstack_size + page);
    }
    fbr__sanitizer_thread_exit(t);
    while (t->spare_chan_op_count)
        free(t->spare_chan_ops[--t->spare_chan_op_count]);
    pthread_mutex_lock(&registered_lock);
    add_counters(&retired, &t->counters);
    add_counters(&retired, &t->handler_counters);
    if (t->prev_registered)
        t->prev_registered->next_registered = t->next_registered;
    else
        registered = t->next_registered;
    if (t->next_registered)
        t->next_registered->prev_registered = t->prev_registered;
    pthread_mutex_unlock(&registered_lock);
    tls_thread = NULL;
    free(t);
}

static void make_exit_key(void)
{
    pthread_key_create(&exit_key, thread_exit);
}

/* Gives the thread a signal stack unless it already has one (CoreCLR
 * threads and sanitizer runtimes bring their own; NativeAOT threads do not). */
static int ensure_altstack(struct fbr__thread *t)
{
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && !(current.ss_flags & SS_DISABLE))
        return FBR_OK;
    size_t page = fbr__page_size();
    long sys_min = sysconf(_SC_SIGSTKSZ);
    size_t size = fbr__round_up(sys_min > (long)ALTSTACK_MIN ? (size_t)sys_min : ALTSTACK_MIN, page);
    /* One guard page under it: a runaway handler faults instead of silently
     * scribbling over whatever lies below. */
    char *mem = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return fbr__fail(FBR_ENOMEM, "cannot allocate a %zu-byte signal stack for this thread", size);
    mprotect(mem, page, PROT_NONE);
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = mem + page;
    ss.ss_size = size;
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, size + page);
        return fbr__fail(FBR_ESYSTEM, "sigaltstack failed for this thread");
    }
    t->altstack = mem + page;
    t->altstack_size = size;
    return FBR_OK;
}

FBR__TLS_ACCESSOR int fbr__thread_get(struct fbr__thread **out)
{
    struct fbr__thread *t = fbr__thread_peek();
    if (t != NULL) {
        *out = t;
        return FBR_OK;
    }
    pthread_once(&exit_key_once, make_exit_key);
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return fbr__fail(FBR_ENOMEM, "out of memory for the thread's fiber state");
    int rc = ensure_altstack(t);
    if (rc != FBR_OK) {
        free(t);
        return rc;
    }
    t->root.magic = FBR__FIBER_MAGIC;
    t->root.state = FBR_FIBER_RUNNING;
    t->root.is_root = true;
    t->current = &t->root;
    fbr__sanitizer_thread_init(t);
    pthread_mutex_lock(&registered_lock);
    t->next_registered = registered;
    if (registered)
        registered->prev_registered = t;
    registered = t;
    pthread_mutex_unlock(&registered_lock);
    pthread_setspecific(exit_key, t);
    tls_thread = t;
    *out = t;
    return FBR_OK;
}

FBR__TLS_ACCESSOR struct fbr__thread *fbr__thread_peek(void)
{
    return tls_thread;
}

FBR__TLS_ACCESSOR struct fbr__thread *fbr__thread_peek_signal_safe(void)
{
    return tls_thread;
}

int fbr_thread_prepare(void)
{
    struct fbr__thread *t;
    return fbr__thread_get(&t);
}
