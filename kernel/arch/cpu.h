// Architecture interface for the current CPU.
#pragma once

#include <cstdint>

namespace hyp::arch {

// MPIDR_EL1 affinity fields (Aff3..Aff0) of the calling CPU.
uint64_t current_mpidr();

// Parks the calling CPU forever with interrupts masked.
[[noreturn]] void halt();

}  // namespace hyp::arch
