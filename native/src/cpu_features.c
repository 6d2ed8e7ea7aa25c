/*
 * Hardware shadow stacks keep a second, CPU-protected copy of return
 * addresses. A context switch that moves the stack pointer without telling
 * the CPU makes the next `ret` fault, so fibers cannot run while they are on.
 * Linux enables them per thread (x86-64: arch_prctl ARCH_SHSTK_*, since 6.6;
 * arm64: prctl PR_*_SHADOW_STACK_*, since 6.13); ask the kernel.
 */
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime_internal.h"

static bool pretend_active;

void fbr__testing_pretend_shadow_stack(bool active)
{
    pretend_active = active;
}

bool fbr__shadow_stack_active(void)
{
    if (pretend_active)
        return true;
#if defined(__x86_64__)
    unsigned long features = 0;
    /* ARCH_SHSTK_STATUS = 0x5005; ARCH_SHSTK_SHSTK = bit 0. */
    if (syscall(SYS_arch_prctl, 0x5005, &features) == 0)
        return (features & 1UL) != 0;
#elif defined(__aarch64__)
    unsigned long status = 0;
    /* PR_GET_SHADOW_STACK_STATUS = 74; PR_SHADOW_STACK_ENABLE = bit 0. */
    if (prctl(74, &status, 0, 0, 0) == 0)
        return (status & 1UL) != 0;
#endif
    return false;
}
