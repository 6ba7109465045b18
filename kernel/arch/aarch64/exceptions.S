// EL2 exception vectors. Exceptions from a partition (lower EL) save the
// vCPU's general registers straight into its VcpuContext (TPIDR_EL2 points
// at it while it runs) and call vcpu_sync_exit() or vcpu_async_exit(),
// which return the context to resume. Exceptions taken at EL2 itself are
// unexpected: save a full frame and report it (exception.cc).

#include "kernel/arch/aarch64/exception_frame.h"
#include "kernel/vcpu/context_offsets.h"

// FP/SIMD instructions appear only in fp_save/fp_restore below.
.arch_extension fp
.arch_extension simd

// Stores (or loads) x2..x29 at base + offset + 8 * n, in pairs.
.macro store_x2_x29 base, offset
  stp x2, x3, [\base, #(\offset + 16)]
  stp x4, x5, [\base, #(\offset + 32)]
  stp x6, x7, [\base, #(\offset + 48)]
  stp x8, x9, [\base, #(\offset + 64)]
  stp x10, x11, [\base, #(\offset + 80)]
  stp x12, x13, [\base, #(\offset + 96)]
  stp x14, x15, [\base, #(\offset + 112)]
  stp x16, x17, [\base, #(\offset + 128)]
  stp x18, x19, [\base, #(\offset + 144)]
  stp x20, x21, [\base, #(\offset + 160)]
  stp x22, x23, [\base, #(\offset + 176)]
  stp x24, x25, [\base, #(\offset + 192)]
  stp x26, x27, [\base, #(\offset + 208)]
  stp x28, x29, [\base, #(\offset + 224)]
.endm

.macro load_x2_x29 base, offset
  ldp x2, x3, [\base, #(\offset + 16)]
  ldp x4, x5, [\base, #(\offset + 32)]
  ldp x6, x7, [\base, #(\offset + 48)]
  ldp x8, x9, [\base, #(\offset + 64)]
  ldp x10, x11, [\base, #(\offset + 80)]
  ldp x12, x13, [\base, #(\offset + 96)]
  ldp x14, x15, [\base, #(\offset + 112)]
  ldp x16, x17, [\base, #(\offset + 128)]
  ldp x18, x19, [\base, #(\offset + 144)]
  ldp x20, x21, [\base, #(\offset + 160)]
  ldp x22, x23, [\base, #(\offset + 176)]
  ldp x24, x25, [\base, #(\offset + 192)]
  ldp x26, x27, [\base, #(\offset + 208)]
  ldp x28, x29, [\base, #(\offset + 224)]
.endm

.macro ventry index
  .balign 0x80
  sub sp, sp, #EXCEPTION_FRAME_SIZE
  stp x0, x1, [sp, #(EXCEPTION_FRAME_X0 + 0)]
  mov x0, #\index
  b unexpected_exception
.endm

.macro lower_entry kind
  .balign 0x80
  // x0 and x1 go to the stack for a moment; everything else straight to
  // the context.
  stp x0, x1, [sp, #-16]!
  mrs x0, tpidr_el2
  .if \kind == 0
  b save_guest_sync
  .else
  mov x1, #\kind
  b save_guest_async
  .endif
.endm

.section .text.vectors, "ax"
.balign 0x800
.global el2_vectors
el2_vectors:
  ventry 0    // current EL, SP_EL0: synchronous
  ventry 1    //                     IRQ
  ventry 2    //                     FIQ
  ventry 3    //                     SError
  ventry 4    // current EL, SP_ELx: synchronous
  ventry 5
  ventry 6
  ventry 7
  lower_entry 0   // lower EL, AArch64: synchronous
  lower_entry 1   //                    IRQ
  lower_entry 2   //                    FIQ
  lower_entry 3   //                    SError
  ventry 12   // lower EL, AArch32
  ventry 13
  ventry 14
  ventry 15

unexpected_exception:
  store_x2_x29 sp, EXCEPTION_FRAME_X0
  add x1, sp, #EXCEPTION_FRAME_SIZE
  stp x30, x1, [sp, #(EXCEPTION_FRAME_X0 + 240)]
  mrs x1, elr_el2
  mrs x2, spsr_el2
  stp x1, x2, [sp, #EXCEPTION_FRAME_ELR]
  mrs x1, esr_el2
  mrs x2, far_el2
  stp x1, x2, [sp, #EXCEPTION_FRAME_ESR]
  mov x1, x0
  mov x0, sp
  bl report_unexpected_exception
1:wfi
  b 1b

// The rest of a vCPU's registers into its context (x0), once its x0 and
// x1 are on the stack (and popped here).
.macro save_rest
  store_x2_x29 x0, VCPU_CONTEXT_X0
  ldp x2, x3, [sp], #16
  stp x2, x3, [x0, #VCPU_CONTEXT_X0]
  mrs x2, elr_el2
  mrs x3, spsr_el2
  stp x30, x2, [x0, #(VCPU_CONTEXT_X0 + 240)]
  str x3, [x0, #VCPU_CONTEXT_PSTATE]
.endm

// x0 = VcpuContext, x1 = kind (IRQ, FIQ, SError); the guest's x0/x1 are
// on the stack.
save_guest_async:
  save_rest
  bl vcpu_async_exit
  b vcpu_resume

// x0 = VcpuContext; the guest's x0/x1 are on the stack. The syndrome goes
// to the C half in registers.
save_guest_sync:
  save_rest
  mrs x1, esr_el2
  mrs x2, far_el2
  mrs x3, hpfar_el2
  bl vcpu_sync_exit
  // x0 = the context to resume: fall through.

// Resumes the vCPU whose context is in x0.
.global vcpu_resume
vcpu_resume:
  msr tpidr_el2, x0
  ldp x30, x2, [x0, #(VCPU_CONTEXT_X0 + 240)]
  ldr x3, [x0, #VCPU_CONTEXT_PSTATE]
  msr elr_el2, x2
  msr spsr_el2, x3
  load_x2_x29 x0, VCPU_CONTEXT_X0
  ldp x0, x1, [x0, #VCPU_CONTEXT_X0]
  eret
  // Nothing after ERET may run speculatively with guest registers.
  dsb nsh
  isb

// Enters a vCPU for the first time on this CPU: x0 = context, x1 = the top
// of this CPU's stack, which every later exception starts from afresh.
.global vcpu_enter
vcpu_enter:
  mov sp, x1
  b vcpu_resume

// FP/SIMD state: x0 = FpState (32 Q registers, then FPSR, FPCR).
.global fp_save
fp_save:
  stp q0, q1, [x0, #0]
  stp q2, q3, [x0, #32]
  stp q4, q5, [x0, #64]
  stp q6, q7, [x0, #96]
  stp q8, q9, [x0, #128]
  stp q10, q11, [x0, #160]
  stp q12, q13, [x0, #192]
  stp q14, q15, [x0, #224]
  stp q16, q17, [x0, #256]
  stp q18, q19, [x0, #288]
  stp q20, q21, [x0, #320]
  stp q22, q23, [x0, #352]
  stp q24, q25, [x0, #384]
  stp q26, q27, [x0, #416]
  stp q28, q29, [x0, #448]
  stp q30, q31, [x0, #480]
  mrs x1, fpsr
  mrs x2, fpcr
  add x0, x0, #512
  stp x1, x2, [x0]
  ret

.global fp_restore
fp_restore:
  ldp q0, q1, [x0, #0]
  ldp q2, q3, [x0, #32]
  ldp q4, q5, [x0, #64]
  ldp q6, q7, [x0, #96]
  ldp q8, q9, [x0, #128]
  ldp q10, q11, [x0, #160]
  ldp q12, q13, [x0, #192]
  ldp q14, q15, [x0, #224]
  ldp q16, q17, [x0, #256]
  ldp q18, q19, [x0, #288]
  ldp q20, q21, [x0, #320]
  ldp q22, q23, [x0, #352]
  ldp q24, q25, [x0, #384]
  ldp q26, q27, [x0, #416]
  ldp q28, q29, [x0, #448]
  ldp q30, q31, [x0, #480]
  add x0, x0, #512
  ldp x1, x2, [x0]
  msr fpsr, x1
  msr fpcr, x2
  ret
