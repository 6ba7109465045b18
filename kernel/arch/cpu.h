// Architecture interface for the current CPU.
#pragma once

#include <cstdint>

namespace hyp::arch {

// MPIDR_EL1 affinity fields (Aff3..Aff0) of the calling CPU.
uint64_t current_mpidr();

// Parks the calling CPU forever with interrupts masked.
[[noreturn]] void halt();

// The system counter (CNTPCT_EL0) and its frequency in Hz (CNTFRQ_EL0).
uint64_t counter_ticks();
uint64_t counter_frequency();

// Waits a little; used in polling loops.
void cpu_relax();

}  // namespace hyp::arch
