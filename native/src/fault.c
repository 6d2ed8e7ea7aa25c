/*
 * The SIGSEGV handler that grows fiber stacks and reports overflows.
 *
 * It runs on the thread's alternate signal stack (the faulting stack is full
 * by definition) and does only async-signal-safe things: reads the running
 * fiber from initial-exec TLS, commits memory with one system call, writes
 * a report with write(2). Faults that are not about a fiber stack go to the
 * handler that was installed before ours, so that a host runtime (.NET's
 * NullReferenceException, a sanitizer, a crash reporter) keeps working.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "error_internal.h"
#include "fiber_internal.h"
#include "runtime_internal.h"
#include "thread.h"

static struct sigaction previous;

/* A tiny append-only buffer: no stdio in a signal handler. */
struct report {
    char text[768];
    size_t length;
};

static void put(struct report *r, const char *s)
{
    while (*s && r->length < sizeof r->text)
        r->text[r->length++] = *s++;
}

static void put_unsigned(struct report *r, unsigned long long value)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n && r->length < sizeof r->text)
        r->text[r->length++] = digits[--n];
}

static void put_hex(struct report *r, unsigned long long value)
{
    static const char hex[] = "0123456789abcdef";
    char digits[16];
    int n = 0;
    do {
        digits[n++] = hex[value & 15];
        value >>= 4;
    } while (value);
    put(r, "0x");
    while (n && r->length < sizeof r->text)
        r->text[r->length++] = digits[--n];
}

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

__attribute__((noreturn)) static void report_and_exit(const struct fbr_fiber *f, const char *addr, bool no_memory)
{
    const fbr__stack *st = f->stack;
    struct report r = {.length = 0};
    put(&r, no_memory ? "fiberrt: fatal: cannot grow the stack of fiber " : "fiberrt: fatal: stack overflow in fiber ");
    put_unsigned(&r, f->id);
    if (f->named) {
        put(&r, " \"");
        put(&r, f->name);
        put(&r, "\"");
    }
    put(&r, no_memory ? ": the system refused more memory (out of memory, commit limit or vm.max_map_count)\n"
                      : ": it used up its stack limit\n");
    put(&r, "  stack limit:   ");
    put_unsigned(&r, (unsigned long long)(st->top - st->usable_low));
    put(&r, " bytes (reservation ");
    put_unsigned(&r, (unsigned long long)(st->top - st->low));
    put(&r, " bytes, guard ");
    put_unsigned(&r, (unsigned long long)(st->usable_low - st->low));
    put(&r, " bytes)\n  committed:     ");
    put_unsigned(&r, (unsigned long long)(st->top - st->commit_low));
    put(&r, " bytes\n  fault address: ");
    put_hex(&r, (unsigned long long)(uintptr_t)addr);
    put(&r, " (stack spans ");
    put_hex(&r, (unsigned long long)(uintptr_t)st->usable_low);
    put(&r, "-");
    put_hex(&r, (unsigned long long)(uintptr_t)st->top);
    put(&r, ")\n");
    write_all(r.text, r.length);
    if (fbr__settings.abort_on_overflow) {
        /* abort() would run our handler again if SIGABRT were ours; it is
         * not, but make sure the default action (a core dump) happens. */
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    _exit(FBR_EXIT_STACK_OVERFLOW);
}

/* Hands the fault to whoever handled SIGSEGV before us. */
static void chain(int signo, siginfo_t *info, void *context)
{
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction != NULL) {
            sigset_t saved;
            pthread_sigmask(SIG_BLOCK, &previous.sa_mask, &saved);
            previous.sa_sigaction(signo, info, context);
            pthread_sigmask(SIG_SETMASK, &saved, NULL);
            return;
        }
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        sigset_t saved;
        pthread_sigmask(SIG_BLOCK, &previous.sa_mask, &saved);
        previous.sa_handler(signo);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        return;
    }
    /* Nobody else handles it: restore the default action and let it happen,
     * as if we had never been installed. A real fault repeats when the
     * instruction is retried; a signal sent with kill() must be re-raised. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(signo, &dfl, NULL);
    if (info == NULL || info->si_code <= 0)
        raise(signo);
}

/* The interrupted code's stack pointer. */
static const char *context_sp(void *context)
{
    const ucontext_t *uc = context;
#if defined(__x86_64__)
    return (const char *)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (const char *)uc->uc_mcontext.sp;
#endif
}

static void on_fault(int signo, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    struct fbr__thread *t = fbr__thread_peek_signal_safe();
    struct fbr_fiber *f = t != NULL ? t->current : NULL;
    if (f != NULL && f->stack != NULL && info != NULL && info->si_code > 0) {
        const char *sp = context_sp(context);
        const char *addr = info->si_addr;
        fbr__fault_outcome outcome;
        if (info->si_code == SI_KERNEL) {
            /* Perhaps the kernel found no room for another signal's frame
             * on a fiber's stack (no address given: the stack pointer says
             * where). Passed on, the fault reached .NET's handler, which
             * restores the default action for a fault it does not know and
             * returns, expecting it to recur: it did not, and the next
             * growth fault killed the process (C# fibers under qemu, about
             * one run in fifteen of the smoke app: si_code SI_KERNEL, the
             * stack pointer 3 KiB above the committed part). */
            addr = sp;
            outcome = fbr__stack_signal_frame_fault(f->stack, sp);
        } else {
            outcome = fbr__stack_fault(f->stack, addr, sp);
        }
        switch (outcome) {
        case FBR__FAULT_GROWN:
            errno = saved_errno;
            return;
        case FBR__FAULT_OVERFLOW:
            report_and_exit(f, addr, false);
        case FBR__FAULT_NO_MEMORY:
            report_and_exit(f, addr, true);
        case FBR__FAULT_ELSEWHERE:
        case FBR__FAULT_COMMITTED:
            break;
        }
    }
    chain(signo, info, context);
    errno = saved_errno;
}

int fbr__fault_handler_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &previous) != 0)
        return fbr__fail(FBR_ESYSTEM, "cannot install the SIGSEGV handler: %s", strerror(errno));
    return FBR_OK;
}
