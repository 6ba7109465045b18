// The kernel's side of FF-A (docs/ffa.md): every call in FF-A's function
// range, from any partition, over HVC or a trapped SMC. The kernel is a
// normal-world hypervisor with no secure world behind it: it answers
// discovery, owns every partition's RX/TX buffers and notifications, and
// carries messages between partitions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/partition/partition.h"
#include "kernel/trap/dispatch.h"

namespace hyp {

// The FF-A version the kernel implements and answers FFA_VERSION with.
inline constexpr uint32_t kFfaVersion = ffa::kVersion1_2;

// The largest RX or TX buffer a partition may map, in 4 KiB pages.
inline constexpr uint32_t kFfaMaxBufferPages = 4;

// The notification pending interrupt (FFA_FEATURES feature 1): the SGI a
// guest's vCPU is sent when a notification is set for it (vCPU 0 for global
// ones) or a message arrives in its RX buffer. An SGI, as Linux's FF-A
// driver maps the ID it is told; 8, above the eight SGIs Linux takes for
// its own IPIs. Servers have no virtual interrupts: they find what is
// pending when their wait returns.
inline constexpr uint32_t kFfaNotificationPendingIntid = 8;

// The partitions FF-A calls may name (every one in the package), set once
// before any vCPU runs.
void ffa_set_partitions(Partition* partitions, size_t count);

// Carries out FF-A call `fid` (SVE hint removed; ffa::is_ffa(fid)) of vCPU
// `v`: results in its registers, and what the run loop must do next.
TrapAction ffa_call(Vcpu& v, uint32_t fid);

}  // namespace hyp
