/*
 * void fbr_test_clobber_call(const uint64_t in[18], uint64_t out[18],
 *                            void (*fn)(void *), void *arg);
 *
 * Loads x19-x28 and d8-d15 from in[], calls fn(arg) and stores the same
 * registers to out[] afterwards. The ABI says out[] must equal in[] whatever
 * fn does (switching fibers): the test checks that our switch kept them.
 */
    .text
    .globl fbr_test_clobber_call
    .type fbr_test_clobber_call, %function
fbr_test_clobber_call:
    stp x29, x30, [sp, #-176]!
    mov x29, sp
    stp x19, x20, [sp, #16]
    stp x21, x22, [sp, #32]
    stp x23, x24, [sp, #48]
    stp x25, x26, [sp, #64]
    stp x27, x28, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    str x1, [sp, #160]
    mov x9, x0
    mov x10, x2
    mov x0, x3
    ldp x19, x20, [x9, #0]
    ldp x21, x22, [x9, #16]
    ldp x23, x24, [x9, #32]
    ldp x25, x26, [x9, #48]
    ldp x27, x28, [x9, #64]
    ldp d8, d9, [x9, #80]
    ldp d10, d11, [x9, #96]
    ldp d12, d13, [x9, #112]
    ldp d14, d15, [x9, #128]
    blr x10
    ldr x9, [sp, #160]
    stp x19, x20, [x9, #0]
    stp x21, x22, [x9, #16]
    stp x23, x24, [x9, #32]
    stp x25, x26, [x9, #48]
    stp x27, x28, [x9, #64]
    stp d8, d9, [x9, #80]
    stp d10, d11, [x9, #96]
    stp d12, d13, [x9, #112]
    stp d14, d15, [x9, #128]
    ldp x19, x20, [sp, #16]
    ldp x21, x22, [sp, #32]
    ldp x23, x24, [sp, #48]
    ldp x25, x26, [sp, #64]
    ldp x27, x28, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldp x29, x30, [sp], #176
    ret
    .size fbr_test_clobber_call, .-fbr_test_clobber_call
    .section .note.GNU-stack, "", %progbits
