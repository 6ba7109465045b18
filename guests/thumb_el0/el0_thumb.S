// Runs code at EL0 in AArch32 state and comes back to the EL1 caller on the
// first exception it takes, for guests/thumb_el0. Around the EL0 run,
// VBAR_EL1 points at this file's vector table, whose every entry returns
// from el0_run with the EL0 registers and the exception's syndrome; the
// runtime's vectors are put back before returning.
//
//   void el0_run(const El0Entry* in, El0Exit* out);
//   El0Entry: entry (ELR), spsr, r0, r1; 64 bits each
//   El0Exit:  x0..x5, esr, elr, spsr, far, vector offset; 64 bits each
//
// SP_EL1 is the same on the way back (EL0 cannot change it), so the frame
// with the callee-saved registers, the out pointer and the old VBAR is
// found again from SP alone: nothing else in the general registers is
// reliable after AArch32 state (upper halves, and registers that User mode
// cannot name).

// Frame layout, from SP.
#define FRAME 128
#define OUT 104
#define OLD_VBAR 112

.text
.global el0_run
.type el0_run, %function
el0_run:
  sub sp, sp, #FRAME
  stp x29, x30, [sp, #0]
  stp x18, x19, [sp, #16]
  stp x20, x21, [sp, #32]
  stp x22, x23, [sp, #48]
  stp x24, x25, [sp, #64]
  stp x26, x27, [sp, #80]
  stp x28, x1, [sp, #96]
  mrs x2, vbar_el1
  str x2, [sp, #OLD_VBAR]
  adr x2, el0_vectors
  msr vbar_el1, x2
  ldr x2, [x0, #0]
  msr elr_el1, x2
  ldr x2, [x0, #8]
  msr spsr_el1, x2
  ldr x1, [x0, #24]
  ldr x0, [x0, #16]
  mov x2, xzr
  mov x3, xzr
  mov x4, xzr
  mov x5, xzr
  mov x6, xzr
  mov x7, xzr
  mov x8, xzr
  mov x9, xzr
  mov x10, xzr
  mov x11, xzr
  mov x12, xzr
  mov x13, xzr
  mov x14, xzr
  isb
  eret
.size el0_run, . - el0_run

// x9: the offset of the vector entry taken.
el0_back:
  ldr x10, [sp, #OUT]
  stp x0, x1, [x10, #0]
  stp x2, x3, [x10, #16]
  stp x4, x5, [x10, #32]
  mrs x11, esr_el1
  mrs x12, elr_el1
  stp x11, x12, [x10, #48]
  mrs x11, spsr_el1
  mrs x12, far_el1
  stp x11, x12, [x10, #64]
  str x9, [x10, #80]
  ldr x11, [sp, #OLD_VBAR]
  msr vbar_el1, x11
  isb
  ldp x29, x30, [sp, #0]
  ldp x18, x19, [sp, #16]
  ldp x20, x21, [sp, #32]
  ldp x22, x23, [sp, #48]
  ldp x24, x25, [sp, #64]
  ldp x26, x27, [sp, #80]
  ldr x28, [sp, #96]
  add sp, sp, #FRAME
  ret

// Sixteen entries of 0x80 bytes; the one expected is 0x600, a synchronous
// exception from a lower EL in AArch32 state (the SVC that ends the run).
.macro entry offset
  .balign 0x80
  mov x9, #\offset
  b el0_back
.endm

.balign 0x800
el0_vectors:
  entry 0x000
  entry 0x080
  entry 0x100
  entry 0x180
  entry 0x200
  entry 0x280
  entry 0x300
  entry 0x380
  entry 0x400
  entry 0x480
  entry 0x500
  entry 0x580
  entry 0x600
  entry 0x680
  entry 0x700
  entry 0x780
