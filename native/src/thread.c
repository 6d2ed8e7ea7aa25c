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

int fbr__thread_get(struct fbr__thread **out)
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
    pthread_setspecific(exit_key, t);
    tls_thread = t;
    *out = t;
    return FBR_OK;
}

__attribute__((noinline, noipa)) struct fbr__thread *fbr__thread_peek(void)
{
    return tls_thread;
}

struct fbr__thread *fbr__thread_peek_signal_safe(void)
{
    return tls_thread;
}

int fbr_thread_prepare(void)
{
    struct fbr__thread *t;
    return fbr__thread_get(&t);
}
