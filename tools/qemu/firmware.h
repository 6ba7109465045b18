// Booting the hypervisor the way Arm hardware does (--firmware=tfa,
// docs/boot.md): Trusted Firmware-A's BL1 and FIP in QEMU's flash (-bios),
// BL31 at EL3 serving PSCI, the hypervisor as BL33 at NS-EL2.
//
// QEMU's -kernel, -initrd and -append are not used that way: the hypervisor
// and its boot package go into RAM through QEMU's generic loader, and the
// package's place and the hypervisor's command line reach it through the
// device tree, whose /chosen the launcher fills in (as a boot loader would)
// in a copy of the tree QEMU makes for the very same machine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/qemu/qemu_command.h"

namespace hyp::tools {

// The command that makes QEMU write the device tree of the machine
// `options` describes to `path` and exit at once (-machine dumpdtb).
absl::StatusOr<std::vector<std::string>> dtb_dump_command(const QemuOptions& options, const std::string& path);

// `dtb` with /chosen saying where the boot package is (linux,initrd-start
// and linux,initrd-end, for `package_size` bytes at kFirmwarePackageAddress;
// none if 0) and holding the hypervisor's command line (bootargs; none if
// empty). Fails if the tree is malformed.
absl::StatusOr<std::string> with_boot_chosen(std::string dtb, uint64_t package_size, const std::string& bootargs);

// For options.firmware == kTfa: runs QEMU once to get the machine's device
// tree, fills in /chosen (with_boot_chosen) and writes it to `dir`/boot.dtb,
// which becomes options.dtb. Checks that the package fits in RAM at its
// address and the hypervisor below it.
absl::Status prepare_firmware_boot(QemuOptions& options, const std::string& dir);

}  // namespace hyp::tools
