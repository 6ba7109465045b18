// PSCI as the kernel offers it to partitions (Arm DEN0022 PSCI 1.1): the
// power state of each vCPU and the calls that change or report it. The
// state changes are the whole of the protocol's concurrency: several vCPUs
// may call CPU_ON for one target at once, from different physical CPUs, and
// exactly one of them succeeds (docs/abi.md, "PSCI").
//
// These functions decide and change power state only; making a started vCPU
// runnable, and taking a vCPU that turns itself off off its CPU, is the
// scheduler's (kernel/run.cc).
//
// Host-testable against the arch fake.
#pragma once

#include <cstdint>

#include "ipc/psci.h"
#include "kernel/partition/partition.h"

namespace hyp::vpsci {

// The vCPU of `p` whose MPIDR affinity is `target`, or null. Bits outside
// the affinity fields must be clear.
Vcpu* find(Partition& p, uint64_t target);

// CPU_ON: `target` (an MPIDR) starts at `entry` with x0 = `context`, in the
// state PSCI gives a CPU coming out of reset (EL1h, interrupts masked, MMU
// and caches off, the caller's data endianness). On kSuccess `started` is
// the target, now kOnPending, for the caller to make runnable; every other
// answer changes nothing. A target that is on, or already being started
// by another caller, is kAlreadyOn; an unknown one kInvalidParameters, and
// an entry point outside the partition's memory kInvalidAddress.
psci::Ret cpu_on(Vcpu& caller, uint64_t target, uint64_t entry, uint64_t context, Vcpu*& started);

// The vCPU has run: kOnPending becomes kOn (AFFINITY_INFO says ON from now).
void mark_running(Vcpu& v);

// CPU_OFF, once the vCPU has left its CPU for good: kOff.
void mark_off(Vcpu& v);

// AFFINITY_INFO: 0 (ON), 1 (OFF) or 2 (ON_PENDING) for the vCPUs of the
// caller's partition whose affinity at levels above `lowest_level` matches
// `target` (any on: ON; else any pending: ON_PENDING; else OFF), or
// kInvalidParameters for a level above 3 or a target that names none.
int64_t affinity_info(Vcpu& caller, uint64_t target, uint64_t lowest_level);

// CPU_SUSPEND's power_state in the original format (PSCI 1.1, 5.4.2.1):
// kSuccess if well formed (reserved bits clear), kInvalidParameters if not.
psci::Ret check_power_state(uint64_t power_state);

}  // namespace hyp::vpsci
