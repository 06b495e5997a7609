/*
 * Starting a fiber and switching to it (fiber.h): on x86-64 the switch saves the callee-saved
 * registers, MXCSR and the x87 control word on the stack it leaves and restores them from the one it
 * goes to; elsewhere it is ucontext's.
 */
#include "fiber.h"

#include <string.h>

namespace gcomp_simt {

#if defined(__x86_64__)
asm(R"(
    .text
    .globl gcomp_simt_switch
    .hidden gcomp_simt_switch
    .type gcomp_simt_switch, @function
gcomp_simt_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size gcomp_simt_switch, .-gcomp_simt_switch
)");


void fiber_init(fiber *f, void (*entry)(void))
{
    uintptr_t top = ((uintptr_t)f->stack + STACK_BYTES) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    *--sp = 0;                        /* fiber_main's return address: it never returns */
    *--sp = (uint64_t)entry;          /* where the first switch's ret goes */
    for (int r = 0; r < 6; r++) *--sp = 0; /* rbp rbx r12 r13 r14 r15 */
    uint32_t mxcsr;
    uint16_t fpcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpcw));
    *--sp = (uint64_t)mxcsr | (uint64_t)fpcw << 32;
    f->sp = sp;
}
#else
void fiber_init(fiber *f, void (*entry)(void))
{
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = f->stack;
    f->uc.uc_stack.ss_size = STACK_BYTES;
    f->uc.uc_link = NULL;
    makecontext(&f->uc, entry, 0);
}
#endif

} // namespace gcomp_simt
