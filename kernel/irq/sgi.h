// The kernel's own interrupts: software-generated ones (SGIs 0..7 are the
// kernel's; with a secure world, 8..15 belong to it), its timer, and the
// PPIs of guest interrupt virtualization.
#pragma once

#include <cstdint>

namespace hyp::gic {

// Wakes a CPU that sleeps in WFI: something it may be waiting for changed
// (a vCPU became runnable, an answer or a log line arrived).
inline constexpr uint32_t kWakeSgi = 0;

// The EL2 physical timer's PPI (CNTHP, INTID 26 on every GICv3 system
// following the Arm Base System Architecture, as QEMU's virt does): the
// kernel's watchdog over device servers.
inline constexpr uint32_t kHypTimerPpi = 26;

// PPIs of the virtual machinery the kernel takes while a guest runs: the
// GIC's maintenance interrupt (the list registers want filling again) and
// the EL1 virtual timer, which the kernel maps to the guest's virtual timer
// interrupt (HW = 1) and leaves active until the guest deactivates that.
inline constexpr uint32_t kMaintenancePpi = 25;
inline constexpr uint32_t kVirtualTimerPpi = 27;

}  // namespace hyp::gic
