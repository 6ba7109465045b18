// Which of the machine's devices a server may be given (docs/servers.md,
// "Devices"): the package names register windows and SPIs, the device tree
// says what is there, and a server gets whole devices, never the GIC or
// RAM, and only the interrupts of the devices it gets.
#pragma once

#include "base/status.h"
#include "kernel/boot/boot_info.h"
#include "kernel/boot/package.h"

namespace hyp {

// Checks server `image`'s device regions and SPIs against the machine
// `info` describes: every page of each region holds (part of) a device,
// every device a region touches lies wholly inside it, no region reaches
// RAM or the GIC, and each SPI is the interrupt of a device inside the
// server's regions. kOk, or why not in `why`. (That no two servers share
// a region or an SPI is parse_package()'s check.)
Status check_device_access(const BootInfo& info, const PackagedPartition& image, const char*& why);

}  // namespace hyp
