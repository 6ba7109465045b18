#include "kernel/boot/smp.h"

#include "kernel/arch/cpu.h"
#include "kernel/psci/firmware.h"

namespace hyp {

Result<CpuTable> make_cpu_table(const BootInfo& info, uint64_t boot_mpidr) {
  CpuTable table;
  bool found = false;
  for (size_t i = 0; i < info.cpu_count; ++i) found = found || info.cpu_mpidr[i] == boot_mpidr;
  if (!found) return Status::kNotFound;
  table.mpidr[table.count++] = boot_mpidr;
  for (size_t i = 0; i < info.cpu_count; ++i) {
    if (info.cpu_mpidr[i] != boot_mpidr) table.mpidr[table.count++] = info.cpu_mpidr[i];
  }
  return table;
}

std::array<StartReport, kMaxCpus> start_secondaries(const CpuTable& cpus, Pa entry, CpuOnlineFlags& flags,
                                                    uint64_t timeout_ticks) {
  std::array<StartReport, kMaxCpus> reports{};
  reports[0].outcome = StartOutcome::kOnline;
  for (size_t i = 1; i < cpus.count; ++i) {
    const psci::Ret ret = psci::cpu_on(cpus.mpidr[i], entry, i);
    reports[i].ret = ret;
    if (ret != psci::Ret::kSuccess) {
      reports[i].outcome = StartOutcome::kFirmwareError;
      continue;
    }
    const uint64_t start = arch::counter_ticks();
    // Pairs with the release store the new CPU makes once it is up.
    while (!flags.online[i].load(std::memory_order_acquire)) {
      if (arch::counter_ticks() - start > timeout_ticks) break;
      arch::cpu_relax();
    }
    reports[i].outcome =
        flags.online[i].load(std::memory_order_acquire) ? StartOutcome::kOnline : StartOutcome::kTimedOut;
  }
  return reports;
}

}  // namespace hyp
