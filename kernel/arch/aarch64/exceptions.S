// EL2 exception vectors. Until partitions exist every exception taken to EL2
// is unexpected: save a full frame and report it (exception.cc).

#include "kernel/arch/aarch64/exception_frame.h"

.macro ventry index
  .balign 0x80
  sub sp, sp, #EXCEPTION_FRAME_SIZE
  stp x0, x1, [sp, #(EXCEPTION_FRAME_X0 + 0)]
  mov x0, #\index
  b unexpected_exception
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
  ventry 8    // lower EL, AArch64: synchronous
  ventry 9
  ventry 10
  ventry 11
  ventry 12   // lower EL, AArch32
  ventry 13
  ventry 14
  ventry 15

unexpected_exception:
  stp x2, x3, [sp, #(EXCEPTION_FRAME_X0 + 16)]
  stp x4, x5, [sp, #(EXCEPTION_FRAME_X0 + 32)]
  stp x6, x7, [sp, #(EXCEPTION_FRAME_X0 + 48)]
  stp x8, x9, [sp, #(EXCEPTION_FRAME_X0 + 64)]
  stp x10, x11, [sp, #(EXCEPTION_FRAME_X0 + 80)]
  stp x12, x13, [sp, #(EXCEPTION_FRAME_X0 + 96)]
  stp x14, x15, [sp, #(EXCEPTION_FRAME_X0 + 112)]
  stp x16, x17, [sp, #(EXCEPTION_FRAME_X0 + 128)]
  stp x18, x19, [sp, #(EXCEPTION_FRAME_X0 + 144)]
  stp x20, x21, [sp, #(EXCEPTION_FRAME_X0 + 160)]
  stp x22, x23, [sp, #(EXCEPTION_FRAME_X0 + 176)]
  stp x24, x25, [sp, #(EXCEPTION_FRAME_X0 + 192)]
  stp x26, x27, [sp, #(EXCEPTION_FRAME_X0 + 208)]
  stp x28, x29, [sp, #(EXCEPTION_FRAME_X0 + 224)]
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
