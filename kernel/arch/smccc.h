// Architecture interface for calls to firmware through the SMC Calling
// Convention (SMCCC 1.4): the kernel at EL2 reaches PSCI in EL3 (or in QEMU's
// built-in firmware) with SMC.
#pragma once

#include <cstdint>

namespace hyp::arch {

struct SmcArgs {
  uint64_t x[8] = {};
};

struct SmcResult {
  uint64_t x[4] = {};
};

SmcResult smc_call(const SmcArgs& args);

}  // namespace hyp::arch
