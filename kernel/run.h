// Running partitions' vCPUs on physical CPUs (target only). Until the
// scheduler exists, placement is static: vCPU 0 of partition i runs on
// physical CPU i, alone.
#pragma once

#include <cstddef>

#include "kernel/boot/package.h"
#include "kernel/partition/partition.h"

namespace hyp {

// Everything vcpu_exit() needs to act on partitions' requests.
void run_init(Partition* partitions, size_t count, const Package* package);

// Gives CPU `cpu` the vCPU to run; the CPU picks it up from wait_for_work().
void assign_vcpu(size_t cpu, Vcpu& vcpu);

// On CPU `cpu`: runs the vCPU assigned to it once there is one. Never returns.
[[noreturn]] void wait_for_work(size_t cpu);

}  // namespace hyp
