// Bringing up the secondary CPUs through PSCI CPU_ON.
//
// Logical CPU indices are assigned so that the boot CPU is 0 (its stack is
// the first boot stack) and the others follow in device-tree order.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/addr.h"
#include "base/status.h"
#include "kernel/boot/boot_info.h"
#include "ipc/psci.h"

namespace hyp {

struct CpuTable {
  std::array<uint64_t, kMaxCpus> mpidr{};  // by logical index
  size_t count = 0;
};

// kNotFound if the boot CPU's MPIDR is not among the device tree's CPUs.
Result<CpuTable> make_cpu_table(const BootInfo& info, uint64_t boot_mpidr);

// Set by each CPU once it runs kernel code with its MMU on.
struct CpuOnlineFlags {
  std::array<std::atomic<bool>, kMaxCpus> online{};
};

enum class StartOutcome : uint8_t { kNotStarted, kOnline, kFirmwareError, kTimedOut };

struct StartReport {
  StartOutcome outcome = StartOutcome::kNotStarted;
  psci::Ret ret = psci::Ret::kSuccess;
};

// Starts CPUs 1..count-1 one after another at `entry` with x0 = logical
// index, waiting up to `timeout_ticks` of the system counter for each to
// report in. Returns one report per logical CPU (index 0 is left kOnline).
std::array<StartReport, kMaxCpus> start_secondaries(const CpuTable& cpus, Pa entry, CpuOnlineFlags& flags,
                                                    uint64_t timeout_ticks);

}  // namespace hyp
