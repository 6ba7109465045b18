// Architecture interface for the running vCPU's live EL1 state and the
// host's identification registers.
#pragma once

#include <cstdint>

#include "kernel/trap/inject.h"

namespace hyp::arch {

// The EL1 exception registers of the vCPU loaded on this CPU.
El1ExceptionRegs read_el1_exception_regs();
void write_el1_exception_regs(const El1ExceptionRegs& regs);

// The host's value of the ID register with sysreg_key() `key` (op0 = 3,
// op1 = 0, CRn = 0). Unallocated encodings read as zero.
uint64_t read_id_register(uint32_t key);

}  // namespace hyp::arch
