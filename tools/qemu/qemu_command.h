// Builds the QEMU command line that runs the hypervisor on QEMU's virt
// machine. Shared by the interactive launcher (//:qemu_linux) and the
// integration-test harness, so both boot the same machine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hyp::tools {

// Where QEMU's virt machine starts RAM, and where, with firmware, it puts
// the device tree (TF-A's BL2 and BL31 pass it on to BL33 in x0).
inline constexpr uint64_t kVirtRamBase = 0x4000'0000;
// BL33's entry point: TF-A is built with PRELOADED_BL33_BASE at this address
// (third_party/tfa/build.sh), which is where -kernel would put an Image whose
// header asks for 2 MiB alignment.
inline constexpr uint64_t kBl33Address = 0x4020'0000;
// The boot package: RAM + 128 MiB, where QEMU's -initrd would put it too,
// leaving the hypervisor's image room below.
inline constexpr uint64_t kFirmwarePackageAddress = 0x4800'0000;

// What starts the hypervisor (docs/boot.md).
enum class Firmware {
  // QEMU's own boot: -kernel at EL2, -initrd, -append; QEMU serves PSCI.
  kQemu,
  // Trusted Firmware-A in QEMU's flash: BL1, BL2, BL31 at EL3 (serving
  // PSCI), the hypervisor as BL33 at NS-EL2 (tools/qemu/firmware.h).
  kTfa,
};

struct QemuOptions {
  std::string qemu = "qemu-system-aarch64";
  std::string kernel;  // the flat hypervisor image (with `virtualization` off, a guest kernel)
  std::string append;  // the kernel command line (/chosen/bootargs)
  std::string initrd;
  std::string dtb;  // the device tree handed to the kernel (-dtb); empty: QEMU's own
  // EL2 and EL3 off (virtualization=on absent): the kernel starts at EL1, as
  // a guest would without the hypervisor.
  bool virtualization = true;
  int smp = 4;
  std::string memory = "1G";
  bool gdb = false;     // wait for GDB on tcp::1234 before starting
  bool icount = false;  // -icount shift=0,sleep=off: 1 ns of virtual time per instruction
  // Console on stdio with QEMU's monitor multiplexed (Ctrl-A), for people;
  // otherwise the serial port alone on stdio, for programs.
  bool interactive = true;
  std::vector<std::string> extra;  // appended verbatim
  Firmware firmware = Firmware::kQemu;
  // With kTfa: the flash image (//third_party/tfa:flash) for -bios. The
  // hypervisor (`kernel`) and the package (`initrd`) go in through QEMU's
  // loader; `append` and the package's place reach the hypervisor only
  // through `dtb`, which prepare_firmware_boot() makes.
  std::string flash;
};

// A memory size as QEMU's -m and the launcher's --mem spell it ("512M",
// "2G", or a number of MiB), in bytes; 0 if malformed, zero, or too large.
uint64_t memory_bytes(const std::string& size);

// The argument vector (argv[0] is the QEMU binary), or an error naming the
// option that is out of range.
absl::StatusOr<std::vector<std::string>> qemu_command(const QemuOptions& options);

// The command as one shell-quoted line, for --print-cmd and failure reports.
std::string shell_line(const std::vector<std::string>& argv);

}  // namespace hyp::tools
