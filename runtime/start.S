// Entry of every partition image (test guests and device servers): an arm64
// Image header (so the packer places them like Linux), a stack, EL1
// vectors, then partition_main(dtb). Runs at EL1 with the MMU off.

.section .text.head, "ax"
.global _start
_start:
  b entry
  .long 0
  .quad 0                      // text_offset: at the start of RAM
  .quad __image_size
  .quad 0xa                    // little-endian, 4 KiB pages, anywhere
  .quad 0, 0, 0
  .ascii "ARM\x64"
  .long 0

entry:
  mov x19, x0
  ldr x1, =__stack_top
  mov sp, x1
  ldr x1, =partition_vectors
  msr vbar_el1, x1
  isb
  ldr x1, =__bss_start
  ldr x2, =__bss_end
1:cmp x1, x2
  b.hs 2f
  str xzr, [x1], #8
  b 1b
2:mov x0, x19
  bl partition_entry_main
  bl partition_power_off
3:b 3b

// A vCPU started by rt::cpu_on(): x0 points at its SecondaryStart
// {stack_top, fn, arg}.
.global partition_secondary_entry
partition_secondary_entry:
  ldr x1, [x0]
  mov sp, x1
  ldr x1, =partition_vectors
  msr vbar_el1, x1
  isb
  ldr x2, [x0, #8]
  ldr x0, [x0, #16]
  blr x2
  bl partition_cpu_off
4:b 4b

// Every synchronous exception at EL1h goes to partition_exception(frame), and
// every IRQ to partition_irq(frame) (either may change the frame's ELR);
// everything else parks.
.macro vec handler
  .balign 0x80
  b \handler
.endm

.section .text.vectors, "ax"
.balign 0x800
partition_vectors:
  vec park
  vec park
  vec park
  vec park
  vec sync_el1h
  vec irq_el1h
  vec park
  vec park
  vec park
  vec park
  vec park
  vec park
  vec park
  vec park
  vec park
  vec park

park:
  wfi
  b park

// Saves x0..x30 and ELR_EL1 in a frame on the stack, calls `handler`
// with it, and returns from the exception with the frame's ELR.
.macro frame_call handler
  sub sp, sp, #272
  stp x0, x1, [sp, #0]
  stp x2, x3, [sp, #16]
  stp x4, x5, [sp, #32]
  stp x6, x7, [sp, #48]
  stp x8, x9, [sp, #64]
  stp x10, x11, [sp, #80]
  stp x12, x13, [sp, #96]
  stp x14, x15, [sp, #112]
  stp x16, x17, [sp, #128]
  stp x18, x19, [sp, #144]
  stp x20, x21, [sp, #160]
  stp x22, x23, [sp, #176]
  stp x24, x25, [sp, #192]
  stp x26, x27, [sp, #208]
  stp x28, x29, [sp, #224]
  mrs x1, elr_el1
  stp x30, x1, [sp, #240]
  mrs x1, spsr_el1
  str x1, [sp, #256]
  mov x0, sp
  bl \handler
  ldr x1, [sp, #256]
  msr spsr_el1, x1
  ldr x1, [sp, #248]
  msr elr_el1, x1
  ldp x0, x1, [sp, #0]
  ldp x2, x3, [sp, #16]
  ldp x4, x5, [sp, #32]
  ldp x6, x7, [sp, #48]
  ldp x8, x9, [sp, #64]
  ldp x10, x11, [sp, #80]
  ldp x12, x13, [sp, #96]
  ldp x14, x15, [sp, #112]
  ldp x16, x17, [sp, #128]
  ldp x18, x19, [sp, #144]
  ldp x20, x21, [sp, #160]
  ldp x22, x23, [sp, #176]
  ldp x24, x25, [sp, #192]
  ldp x26, x27, [sp, #208]
  ldp x28, x29, [sp, #224]
  ldr x30, [sp, #240]
  add sp, sp, #272
  eret
.endm

sync_el1h:
  frame_call partition_exception

irq_el1h:
  frame_call partition_irq
