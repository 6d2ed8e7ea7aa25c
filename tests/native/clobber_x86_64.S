/*
 * void fbr_test_clobber_call(const uint64_t in[6], uint64_t out[6],
 *                            void (*fn)(void *), void *arg);
 *
 * Loads rbx, rbp, r12-r15 from in[], calls fn(arg) and stores the same
 * registers to out[] afterwards. Whatever fn does (switching fibers), the
 * ABI says out[] must equal in[]: the test checks that our switch kept them.
 */
    .text
    .globl fbr_test_clobber_call
    .type fbr_test_clobber_call, @function
fbr_test_clobber_call:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $24, %rsp          /* 6 pushes + 24 keep rsp 16-aligned at the call */
    movq %rsi, (%rsp)
    movq %rdx, %rax
    movq %rdi, %r10
    movq %rcx, %rdi
    movq 0(%r10), %rbx
    movq 8(%r10), %rbp
    movq 16(%r10), %r12
    movq 24(%r10), %r13
    movq 32(%r10), %r14
    movq 40(%r10), %r15
    call *%rax
    movq (%rsp), %rax
    movq %rbx, 0(%rax)
    movq %rbp, 8(%rax)
    movq %r12, 16(%rax)
    movq %r13, 24(%rax)
    movq %r14, 32(%rax)
    movq %r15, 40(%rax)
    addq $24, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size fbr_test_clobber_call, .-fbr_test_clobber_call
    .section .note.GNU-stack, "", %progbits
