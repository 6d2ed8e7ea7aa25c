/*
 * Context switch for AArch64, AAPCS64, ELF, GNU assembler.
 *
 *   void *fbr__context_switch(void **save_sp, void *load_sp, void *value);
 *
 * Saves x19-x30 and d8-d15 on the current stack, stores sp in *save_sp,
 * adopts load_sp, restores the state found there and returns `value` to the
 * other side through x30 (the saved link register). Offsets come from
 * context_layout.h.
 */
#include "context_layout.h"

    .text
    .p2align 4
    .globl  fbr__context_switch
    .hidden fbr__context_switch
    .type   fbr__context_switch, %function
fbr__context_switch:
    .cfi_startproc
    hint    #34                       /* bti c: a landing pad where BTI is on */
    sub     sp, sp, #FBR_CTX_SAVE_SIZE
    .cfi_def_cfa_offset FBR_CTX_SAVE_SIZE
    stp     x19, x20, [sp, #FBR_CTX_X19]
    .cfi_rel_offset x19, FBR_CTX_X19
    .cfi_rel_offset x20, FBR_CTX_X19 + 8
    stp     x21, x22, [sp, #FBR_CTX_X21]
    .cfi_rel_offset x21, FBR_CTX_X21
    .cfi_rel_offset x22, FBR_CTX_X21 + 8
    stp     x23, x24, [sp, #FBR_CTX_X23]
    .cfi_rel_offset x23, FBR_CTX_X23
    .cfi_rel_offset x24, FBR_CTX_X23 + 8
    stp     x25, x26, [sp, #FBR_CTX_X25]
    .cfi_rel_offset x25, FBR_CTX_X25
    .cfi_rel_offset x26, FBR_CTX_X25 + 8
    stp     x27, x28, [sp, #FBR_CTX_X27]
    .cfi_rel_offset x27, FBR_CTX_X27
    .cfi_rel_offset x28, FBR_CTX_X27 + 8
    stp     x29, x30, [sp, #FBR_CTX_X29]
    .cfi_rel_offset x29, FBR_CTX_X29
    .cfi_rel_offset x30, FBR_CTX_X29 + 8
    stp     d8, d9, [sp, #FBR_CTX_D8]
    stp     d10, d11, [sp, #FBR_CTX_D10]
    stp     d12, d13, [sp, #FBR_CTX_D12]
    stp     d14, d15, [sp, #FBR_CTX_D14]

    mov     x9, sp
    str     x9, [x0]
    /* The target's frame has the same layout, so the CFI above describes it. */
    mov     sp, x1

    ldp     x19, x20, [sp, #FBR_CTX_X19]
    ldp     x21, x22, [sp, #FBR_CTX_X21]
    ldp     x23, x24, [sp, #FBR_CTX_X23]
    ldp     x25, x26, [sp, #FBR_CTX_X25]
    ldp     x27, x28, [sp, #FBR_CTX_X27]
    ldp     x29, x30, [sp, #FBR_CTX_X29]
    ldp     d8, d9, [sp, #FBR_CTX_D8]
    ldp     d10, d11, [sp, #FBR_CTX_D10]
    ldp     d12, d13, [sp, #FBR_CTX_D12]
    ldp     d14, d15, [sp, #FBR_CTX_D14]
    add     sp, sp, #FBR_CTX_SAVE_SIZE
    .cfi_def_cfa_offset 0
    mov     x0, x2
    ret
    .cfi_endproc
    .size   fbr__context_switch, .-fbr__context_switch

/*
 * First code a new fiber runs: the initial frame built by
 * fbr__context_prepare restores x30 = this address, x19 = the entry function
 * and x20 = its argument; the value passed by the first switch arrives in x0.
 * x30 is marked undefined so unwinders stop cleanly at the fiber's bottom.
 */
    .p2align 4
    .globl  fbr__context_trampoline
    .hidden fbr__context_trampoline
    .type   fbr__context_trampoline, %function
fbr__context_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x1, x0
    mov     x0, x20
    blr     x19
    /* The entry function switches away for good and never returns. */
    brk     #0
    .cfi_endproc
    .size   fbr__context_trampoline, .-fbr__context_trampoline

    .section .note.GNU-stack, "", %progbits
