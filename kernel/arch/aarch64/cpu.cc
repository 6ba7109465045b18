#include "kernel/arch/cpu.h"

#include "kernel/arch/aarch64/boot_layout.h"
#include "kernel/arch/aarch64/sysreg.h"

extern "C" char boot_stacks[];  // entry.S

namespace hyp::arch {

uint64_t current_mpidr() {
  // Aff3 lives in bits [39:32], Aff2..Aff0 in [23:0].
  return HYP_READ_SYSREG(mpidr_el1) & 0xff'00ff'ffffull;
}

[[noreturn]] void halt() {
  asm volatile("msr daifset, #0xf");
  for (;;) asm volatile("wfi");
}

uint64_t counter_ticks() {
  isb();  // keep the read from being hoisted above earlier instructions
  return HYP_READ_SYSREG(cntpct_el0);
}

uint64_t counter_frequency() { return HYP_READ_SYSREG(cntfrq_el0); }

void cpu_relax() { asm volatile("yield" ::: "memory"); }

void wait_for_event() { asm volatile("wfe" ::: "memory"); }

void send_event() { asm volatile("dsb ish\n\tsev" ::: "memory"); }

bool random64(uint64_t& out) {
  uint64_t ok;
  asm volatile("mrs %0, S3_3_C2_C4_0\n\tcset %1, ne" : "=r"(out), "=r"(ok) : : "cc");  // RNDR
  return ok != 0;
}

uint64_t kernel_stack_top(size_t cpu) {
  return reinterpret_cast<uint64_t>(boot_stacks) + (cpu + 1) * BOOT_STACK_SIZE;
}

}  // namespace hyp::arch
