// A bare-metal kernel of the kind many test suites build: a flat binary
// without the arm64 Image header, linked where QEMU's -kernel loads such a
// file (RAM base + 0x80000) and entered at its first byte. It writes to the
// PL011 at its usual address and checks what QEMU's -kernel promises it:
// the device tree's address in x0 and its load address. It then powers off
// with PSCI SYSTEM_OFF through HVC. It has no stack and no vectors, so it
// runs the same on bare QEMU (at EL1) and as a partition.

#define UART_BASE 0x09000000
#define UART_FR 0x18
#define UART_FR_TXFF (1 << 5)
#define PSCI_SYSTEM_OFF 0x84000008
#define FDT_MAGIC_LE 0xedfe0dd0  // 0xd00dfeed stored big-endian, loaded little-endian

.section .text.entry, "ax"
.global _start
_start:
  mov x19, x0  // the device tree, if we were given one
  adr x20, _start

  adr x0, msg_hello
  bl puts

  // x0 held the device tree: FDT magic at a non-zero, 8-byte aligned address.
  adr x21, msg_dtb_failed
  cbz x19, 1f
  tst x19, #7
  b.ne 1f
  ldr w1, [x19]
  ldr w2, =FDT_MAGIC_LE
  cmp w1, w2
  b.ne 1f
  adr x21, msg_dtb_ok
1:mov x0, x21
  bl puts

  // Loaded at RAM base (0x40000000 on QEMU's virt) + 0x80000.
  adr x21, msg_load_failed
  ldr x1, =0x40080000
  cmp x20, x1
  b.ne 2f
  adr x21, msg_load_ok
2:mov x0, x21
  bl puts

  adr x0, msg_done
  bl puts
  ldr w0, =PSCI_SYSTEM_OFF
  hvc #0
3:wfi
  b 3b

// Writes the NUL-terminated string at x0, waiting for room in the transmit
// FIFO before each byte as a driver must. Clobbers x0-x3.
puts:
  mov x1, #UART_BASE
4:ldrb w2, [x0], #1
  cbz w2, 6f
5:ldr w3, [x1, #UART_FR]
  tbnz w3, #5, 5b
  str w2, [x1]
  b 4b
6:ret

.section .rodata, "a"
msg_hello: .asciz "flat binary: running without an Image header\r\n"
msg_dtb_ok: .asciz "check dtb_in_x0: ok\r\n"
msg_dtb_failed: .asciz "check dtb_in_x0: FAILED\r\n"
msg_load_ok: .asciz "check loaded_at_ram_plus_0x80000: ok\r\n"
msg_load_failed: .asciz "check loaded_at_ram_plus_0x80000: FAILED\r\n"
msg_done: .asciz "flat binary: done\r\n"
