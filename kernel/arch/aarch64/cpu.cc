#include "kernel/arch/cpu.h"

#include "kernel/arch/aarch64/sysreg.h"

namespace hyp::arch {

uint64_t current_mpidr() {
  // Aff3 lives in bits [39:32], Aff2..Aff0 in [23:0].
  return HYP_READ_SYSREG(mpidr_el1) & 0xff'00ff'ffffull;
}

[[noreturn]] void halt() {
  asm volatile("msr daifset, #0xf");
  for (;;) asm volatile("wfi");
}

}  // namespace hyp::arch
