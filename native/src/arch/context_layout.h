/*
 * The frame that fbr__context_switch leaves on a suspended fiber's stack.
 *
 * Both the assembly switch files and the C code that builds a new fiber's
 * first frame include this header, so the layout exists in exactly one place;
 * context.h checks it against a C struct with static assertions. Keep this
 * file free of C syntax outside the __ASSEMBLER__ guard: the assembler
 * includes it too.
 *
 * A suspended context is just a stack pointer: the callee-saved state sits on
 * that stack at the offsets below, lowest address first.
 */
#ifndef FBR_ARCH_CONTEXT_LAYOUT_H
#define FBR_ARCH_CONTEXT_LAYOUT_H

#if defined(__x86_64__)

/* x86-64 System V: rbx, rbp, r12-r15 plus the MXCSR control bits and the x87
 * control word. The return address pushed by the caller's `call` sits right
 * above the saved registers, so resuming is a plain `ret`. */
#define FBR_CTX_MXCSR 0
#define FBR_CTX_X87CW 4
#define FBR_CTX_R12 8
#define FBR_CTX_R13 16
#define FBR_CTX_R14 24
#define FBR_CTX_R15 32
#define FBR_CTX_RBX 40
#define FBR_CTX_RBP 48
#define FBR_CTX_SAVE_SIZE 56 /* bytes the switch itself reserves */
#define FBR_CTX_RETURN 56    /* the caller's return address */
#define FBR_CTX_FRAME_SIZE 64

#elif defined(__aarch64__)

/* AArch64 AAPCS64: x19-x28, the frame pointer x29, the link register x30 and
 * the low halves d8-d15 of v8-v15. sp itself is the saved context. */
#define FBR_CTX_X19 0
#define FBR_CTX_X21 16
#define FBR_CTX_X23 32
#define FBR_CTX_X25 48
#define FBR_CTX_X27 64
#define FBR_CTX_X29 80 /* x29 then x30 (the resume address) */
#define FBR_CTX_D8 96
#define FBR_CTX_D10 112
#define FBR_CTX_D12 128
#define FBR_CTX_D14 144
#define FBR_CTX_SAVE_SIZE 160
#define FBR_CTX_FRAME_SIZE 160

#else
#error "FiberRuntime has no context switch for this architecture"
#endif

#endif
