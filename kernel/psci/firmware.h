// The kernel as a PSCI client of the firmware below it (EL3, or QEMU's
// built-in PSCI), reached with SMC.
#pragma once

#include <cstdint>

#include "base/addr.h"
#include "ipc/psci.h"

namespace hyp::psci {

struct Version {
  uint16_t major;
  uint16_t minor;
};

// PSCI_VERSION; PSCI 0.2 is the oldest version with these function IDs.
Version firmware_version();

// CPU_ON for the CPU with affinity `mpidr`: it starts at `entry` (a physical
// address, MMU off) at the caller's EL with x0 = `context`.
Ret cpu_on(uint64_t mpidr, Pa entry, uint64_t context);

// Does not return if the firmware honours it; returns the error otherwise.
Ret system_off();
Ret system_reset();

}  // namespace hyp::psci
