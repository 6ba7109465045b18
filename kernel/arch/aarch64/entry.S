// The image entry: the arm64 Image header QEMU's -kernel (and any Linux boot
// loader) recognizes, the boot CPU's entry, and the secondary CPUs' entry
// from PSCI CPU_ON. Both set up a stack and the EL2 basics, then call C++.

#include "kernel/arch/aarch64/boot_layout.h"

.section .text.head, "ax"
.global _start
_start:
  // arm64 Image header (Documentation/arch/arm64/booting.rst in Linux).
  b primary_entry              // code0
  .long 0                      // code1
  .quad 0                      // text_offset: load 2 MiB-aligned (QEMU: RAM + 2 MiB)
  .quad __image_size           // image_size, including .bss
  .quad 0xa                    // flags: little-endian, 4 KiB pages, anywhere in RAM
  .quad 0, 0, 0                // res2..res4
  .ascii "ARM\x64"             // magic
  .long 0                      // res5

.section .text.boot, "ax"
primary_entry:
  mov x19, x0                  // device tree address
  msr daifset, #0xf
  mrs x1, CurrentEL
  cmp x1, #(2 << 2)
  b.ne park
  // The image is linked at a fixed address; refuse to run anywhere else.
  adr x1, _start
  ldr x2, =_start
  cmp x1, x2
  b.ne park

  ldr x1, =boot_stacks
  add sp, x1, #BOOT_STACK_SIZE

  ldr x1, =__bss_start
  ldr x2, =__bss_end
1:cmp x1, x2
  b.hs 2f
  stp xzr, xzr, [x1], #16
  b 1b
2:
  bl el2_cpu_setup
  mov x0, x19
  bl kernel_boot
  b park

.global secondary_entry
secondary_entry:
  msr daifset, #0xf
  mov x19, x0                  // CPU index, from CPU_ON's context_id
  mrs x1, CurrentEL
  cmp x1, #(2 << 2)
  b.ne park
  cmp x19, #BOOT_MAX_CPUS
  b.hs park
  ldr x1, =boot_stacks
  mov x2, #BOOT_STACK_SIZE
  madd x1, x19, x2, x1
  add sp, x1, #BOOT_STACK_SIZE
  bl el2_cpu_setup
  mov x0, x19
  bl kernel_secondary
  b park

// Puts EL2 into a known state with the MMU still off.
el2_cpu_setup:
  ldr x1, =el2_vectors
  msr vbar_el2, x1
  mov x1, #CPTR_EL2_BOOT
  msr cptr_el2, x1
  mov x1, #HCR_EL2_BOOT
  msr hcr_el2, x1
  ldr x1, =SCTLR_EL2_RES1
  msr sctlr_el2, x1
  isb
  ret

park:
  wfi
  b park

.section .bss.stacks, "aw", %nobits
.balign 16
.global boot_stacks
boot_stacks:
  .space BOOT_STACK_SIZE * BOOT_MAX_CPUS
