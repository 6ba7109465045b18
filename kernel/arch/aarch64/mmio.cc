#include "kernel/arch/mmio.h"

namespace hyp::arch {

uint32_t mmio_read32(Pa reg) {
  uint32_t value;
  // A single LDR with no writeback, so that the access is architecturally
  // a plain single-copy-atomic 32-bit read (and traps cleanly if forwarded).
  asm volatile("ldr %w0, [%1]" : "=r"(value) : "r"(reg.value()) : "memory");
  return value;
}

void mmio_write32(Pa reg, uint32_t value) { asm volatile("str %w0, [%1]" ::"rZ"(value), "r"(reg.value()) : "memory"); }

}  // namespace hyp::arch
