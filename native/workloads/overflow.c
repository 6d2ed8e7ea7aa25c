/*
 * A recursion without a bottom, for the guard-hit check: run in a child
 * process, it must end in the runtime's overflow report and exit status
 * FBR_EXIT_STACK_OVERFLOW, never in silent corruption.
 */
#include "fbr_workloads.h"

static int64_t bottomless(int64_t n)
{
    volatile char frame[512];
    frame[0] = (char)n;
    /* n only grows, so this test is never true; it stops the compiler
     * from proving the recursion infinite and dropping it. */
    return n < 0 ? 0 : bottomless(n + 1) + frame[0];
}

void *fbrw__overflow(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)bottomless(0);
}
