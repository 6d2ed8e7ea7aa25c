/* A program for the debugger test: stops inside a fiber, two calls deep,
 * so that gdb's backtrace must walk fiber frames down to the entry
 * trampoline and stop there cleanly. */
#include <fiberrt.h>

__attribute__((noinline)) void fiber_breakpoint_here(volatile int *counter)
{
    ++*counter;
}

__attribute__((noinline)) static void middle_of_fiber(volatile int *counter)
{
    fiber_breakpoint_here(counter);
    ++*counter;
}

static void *fiber_body(void *arg)
{
    middle_of_fiber(arg);
    return NULL;
}

int main(void)
{
    volatile int counter = 0;
    fbr_fiber *f;
    if (fbr_fiber_create(&f, fiber_body, (void *)&counter, NULL) < 0)
        return 1;
    fbr_fiber_resume(f, NULL, NULL);
    fbr_fiber_destroy(f);
    return counter == 2 ? 0 : 1;
}
