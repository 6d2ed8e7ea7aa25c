/*
 * The machine-level switch: the only place C meets the assembly files.
 *
 * A suspended execution context is nothing but a stack pointer; the registers
 * live on that stack in the layout from arch/context_layout.h, which the
 * struct below mirrors so the compiler can check both agree.
 */
#ifndef FBR_CONTEXT_H
#define FBR_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "arch/context_layout.h"

/* Saves the running context on its own stack, writes its stack pointer to
 * *save_sp, resumes the context saved at load_sp and returns `value` there.
 * Returns, on the original side, whatever value the next switch back brings. */
void *fbr__context_switch(void **save_sp, void *load_sp, void *value);

/* The first return target of a new context; see the assembly files. */
void fbr__context_trampoline(void);

/* What a fresh context runs: `arg` is fixed at creation, `value` comes from
 * the first switch into it. Must never return. */
typedef void (*fbr__context_entry)(void *arg, void *value);

#if defined(__x86_64__)
struct fbr__saved_frame {
    uint32_t mxcsr;
    uint16_t x87cw;
    uint16_t unused;
    uint64_t r12, r13, r14, r15, rbx, rbp;
    uint64_t return_address;
};
_Static_assert(offsetof(struct fbr__saved_frame, mxcsr) == FBR_CTX_MXCSR, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, x87cw) == FBR_CTX_X87CW, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, r12) == FBR_CTX_R12, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, r13) == FBR_CTX_R13, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, r14) == FBR_CTX_R14, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, r15) == FBR_CTX_R15, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, rbx) == FBR_CTX_RBX, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, rbp) == FBR_CTX_RBP, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, return_address) == FBR_CTX_RETURN, "layout");
_Static_assert(sizeof(struct fbr__saved_frame) == FBR_CTX_FRAME_SIZE, "layout");
#elif defined(__aarch64__)
struct fbr__saved_frame {
    uint64_t x19, x20, x21, x22, x23, x24, x25, x26, x27, x28;
    uint64_t x29, x30;
    uint64_t d8, d9, d10, d11, d12, d13, d14, d15;
};
_Static_assert(offsetof(struct fbr__saved_frame, x19) == FBR_CTX_X19, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, x21) == FBR_CTX_X21, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, x23) == FBR_CTX_X23, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, x25) == FBR_CTX_X25, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, x27) == FBR_CTX_X27, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, x29) == FBR_CTX_X29, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, d8) == FBR_CTX_D8, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, d10) == FBR_CTX_D10, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, d12) == FBR_CTX_D12, "layout");
_Static_assert(offsetof(struct fbr__saved_frame, d14) == FBR_CTX_D14, "layout");
_Static_assert(sizeof(struct fbr__saved_frame) == FBR_CTX_FRAME_SIZE, "layout");
_Static_assert(FBR_CTX_FRAME_SIZE % 16 == 0, "sp must stay 16-byte aligned");
#endif

/* Builds the first frame of a context whose stack ends (exclusive) at
 * `stack_top`, and returns the stack pointer to pass to the first switch. */
static inline void *fbr__context_prepare(void *stack_top, fbr__context_entry entry, void *arg)
{
    uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15;
    /* Written in place: a local copy copied over made gcc store it in
     * mixed sizes and load it back in 16-byte pieces (store-forwarding
     * stalls on every spawn). */
#if defined(__x86_64__)
    /* The trampoline's `call` needs rsp 16-byte aligned, and it sees rsp just
     * above this frame: so the frame starts on a 16-byte boundary. */
    uintptr_t sp = top - 16 - sizeof(struct fbr__saved_frame);
    *(struct fbr__saved_frame *)sp = (struct fbr__saved_frame){
        .mxcsr = 0x1F80, /* all exceptions masked, round to nearest: the ABI's initial state */
        .x87cw = 0x037F,
        .r12 = (uint64_t)(uintptr_t)entry,
        .r13 = (uint64_t)(uintptr_t)arg,
        .return_address = (uint64_t)(uintptr_t)fbr__context_trampoline,
    };
#else
    uintptr_t sp = top - sizeof(struct fbr__saved_frame);
    *(struct fbr__saved_frame *)sp = (struct fbr__saved_frame){
        .x19 = (uint64_t)(uintptr_t)entry,
        .x20 = (uint64_t)(uintptr_t)arg,
        .x30 = (uint64_t)(uintptr_t)fbr__context_trampoline,
    };
#endif
    return (void *)sp;
}

#endif
