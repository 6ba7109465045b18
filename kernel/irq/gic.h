// The kernel's own use of the physical GICv3 (GICv3 architecture
// specification, IHI 0069): the distributor with affinity routing and
// group 1 enabled, and on each CPU its redistributor awake with the
// kernel's wake-up SGI enabled. The CPU interface (system registers) is the
// arch layer's. Host-tested against a model of the registers.
#pragma once

#include <cstdint>

#include "base/addr.h"
#include "base/status.h"
#include "kernel/irq/sgi.h"

namespace hyp::gic {


// GICD/GICR register offsets used (IHI 0069, 12.8 and 12.10/12.11).
inline constexpr uint64_t kGicdCtlr = 0x0000;
inline constexpr uint32_t kGicdCtlrRwp = 1u << 31;
inline constexpr uint32_t kGicdCtlrDs = 1u << 6;
inline constexpr uint32_t kGicdCtlrAre = 1u << 4;         // ARE_NS when DS = 0
inline constexpr uint32_t kGicdCtlrEnableGrp1 = 1u << 1;  // EnableGrp1NS/Grp1A when DS = 0
inline constexpr uint64_t kGicdIgroupr = 0x0080;
inline constexpr uint64_t kGicdIsenabler = 0x0100;
inline constexpr uint64_t kGicdIcactiver = 0x0380;
inline constexpr uint64_t kGicdIpriorityr = 0x0400;
inline constexpr uint64_t kGicdIrouter = 0x6000;
inline constexpr uint64_t kGicrFrame = 0x20000;           // RD_base + SGI_base, GICv3
inline constexpr uint64_t kGicrTyper = 0x0008;
inline constexpr uint32_t kGicrTyperLast = 1u << 4;
inline constexpr uint64_t kGicrWaker = 0x0014;
inline constexpr uint32_t kGicrWakerProcessorSleep = 1u << 1;
inline constexpr uint32_t kGicrWakerChildrenAsleep = 1u << 2;
inline constexpr uint64_t kGicrSgiBase = 0x10000;
inline constexpr uint64_t kGicrIgroupr0 = kGicrSgiBase + 0x0080;
inline constexpr uint64_t kGicrIsenabler0 = kGicrSgiBase + 0x0100;
inline constexpr uint64_t kGicrIcenabler0 = kGicrSgiBase + 0x0180;
inline constexpr uint64_t kGicrIpriorityr = kGicrSgiBase + 0x0400;

// On the boot CPU, once: affinity routing and group 1 on. Polls for RWP at
// most `spins` times.
Status init_distributor(Pa dist, uint32_t spins);

// A device's SPI for a server (the kernel takes it and tells the server):
// group 1, priority 0x80, routed to the CPU with affinity `mpidr`,
// enabled. kInvalidArgument for an INTID that is no SPI.
Status enable_spi(Pa dist, uint32_t intid, uint64_t mpidr);
// Ends an SPI whose priority the kernel dropped when it took it (GICD_ICACTIVER:
// from any CPU).
void deactivate_spi(Pa dist, uint32_t intid);

// On each CPU: finds this CPU's redistributor in [redist, redist + size)
// by the affinity in GICR_TYPER (`mpidr`: Aff3..Aff0 as MPIDR_EL1 holds
// them), wakes it, and enables kWakeSgi, kHypTimerPpi, kMaintenancePpi and
// kVirtualTimerPpi in group 1 with every other SGI and PPI disabled. kNotFound if no frame has this affinity.
Status init_redistributor(Pa redist, uint64_t size, uint64_t mpidr, uint32_t spins);

}  // namespace hyp::gic
