// Running partitions' vCPUs on physical CPUs (target only). Until the
// scheduler exists, placement is static for guests: vCPU 0 of guest i runs
// on physical CPU i. A device server's vCPU runs wherever it is needed: on
// the CPU of the guest that waits on it (switched to directly), or on an
// idle CPU with work queued for it (docs/servers.md).
#pragma once

#include <cstddef>

#include "kernel/boot/package.h"
#include "kernel/partition/loader.h"
#include "kernel/partition/partition.h"

namespace hyp {

// Everything vcpu_exit() needs to act on partitions' requests; gives every
// server its channel. On failure `failed` names the server that has none.
Status run_init(Partition* partitions, size_t count, const Package* package, LoaderEnv& env, Partition*& failed);

// Gives CPU `cpu` the vCPU to run; the CPU picks it up from wait_for_work().
void assign_vcpu(size_t cpu, Vcpu& vcpu);

// On CPU `cpu`: runs the vCPU assigned to it once there is one. Never returns.
[[noreturn]] void wait_for_work(size_t cpu);

}  // namespace hyp
