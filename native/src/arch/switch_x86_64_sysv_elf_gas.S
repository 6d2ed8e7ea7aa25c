/*
 * Context switch for x86-64, System V ABI, ELF, GNU assembler.
 *
 *   void *fbr__context_switch(void **save_sp, void *load_sp, void *value);
 *
 * Saves the callee-saved state on the current stack, stores the stack pointer
 * in *save_sp, adopts load_sp and restores the state found there, then returns
 * `value` on the other side: the switch passes one pointer across, in the
 * spirit of Boost.Context's jump_fcontext. Offsets come from context_layout.h.
 *
 * Only the control parts of MXCSR and the x87 control word are program state
 * the ABI asks us to keep; the status flags ride along harmlessly.
 */
#include "context_layout.h"

    .text
    .p2align 4
    .globl  fbr__context_switch
    .hidden fbr__context_switch
    .type   fbr__context_switch, @function
fbr__context_switch:
    .cfi_startproc
    leaq    -FBR_CTX_SAVE_SIZE(%rsp), %rsp
    .cfi_adjust_cfa_offset FBR_CTX_SAVE_SIZE
    stmxcsr FBR_CTX_MXCSR(%rsp)
    fnstcw  FBR_CTX_X87CW(%rsp)
    movq    %r12, FBR_CTX_R12(%rsp)
    .cfi_rel_offset %r12, FBR_CTX_R12
    movq    %r13, FBR_CTX_R13(%rsp)
    .cfi_rel_offset %r13, FBR_CTX_R13
    movq    %r14, FBR_CTX_R14(%rsp)
    .cfi_rel_offset %r14, FBR_CTX_R14
    movq    %r15, FBR_CTX_R15(%rsp)
    .cfi_rel_offset %r15, FBR_CTX_R15
    movq    %rbx, FBR_CTX_RBX(%rsp)
    .cfi_rel_offset %rbx, FBR_CTX_RBX
    movq    %rbp, FBR_CTX_RBP(%rsp)
    .cfi_rel_offset %rbp, FBR_CTX_RBP

    movq    %rsp, (%rdi)
    /* From here on the frame being described is the target's: it has the
     * same layout, so the CFI above stays true and a debugger stopped here
     * sees the fiber we are switching to. */
    movq    %rsi, %rsp

    ldmxcsr FBR_CTX_MXCSR(%rsp)
    fldcw   FBR_CTX_X87CW(%rsp)
    movq    FBR_CTX_R12(%rsp), %r12
    movq    FBR_CTX_R13(%rsp), %r13
    movq    FBR_CTX_R14(%rsp), %r14
    movq    FBR_CTX_R15(%rsp), %r15
    movq    FBR_CTX_RBX(%rsp), %rbx
    movq    FBR_CTX_RBP(%rsp), %rbp
    movq    FBR_CTX_RETURN(%rsp), %rcx
    leaq    FBR_CTX_FRAME_SIZE(%rsp), %rsp
    .cfi_adjust_cfa_offset -FBR_CTX_FRAME_SIZE
    .cfi_register %rip, %rcx
    movq    %rdx, %rax
    /* An indirect jump, not `ret`: the return-stack predictor would guess
     * the caller on the old stack and miss on every switch, while the
     * indirect-branch predictor learns the ping-pong. */
    jmp     *%rcx
    .cfi_endproc
    .size   fbr__context_switch, .-fbr__context_switch

/*
 * First code a new fiber runs: the initial frame built by
 * fbr__context_prepare "returns" here with the entry function in r12 and its
 * argument in r13; the value passed by the first switch arrives in rax.
 * The return address is marked undefined so that debuggers and unwinders stop
 * cleanly at the bottom of a fiber instead of walking into garbage.
 */
    .p2align 4
    .globl  fbr__context_trampoline
    .hidden fbr__context_trampoline
    .type   fbr__context_trampoline, @function
fbr__context_trampoline:
    .cfi_startproc
    .cfi_undefined %rip
    movq    %r13, %rdi
    movq    %rax, %rsi
    call    *%r12
    /* The entry function switches away for good and never returns. */
    ud2
    .cfi_endproc
    .size   fbr__context_trampoline, .-fbr__context_trampoline

    .section .note.GNU-stack, "", %progbits
