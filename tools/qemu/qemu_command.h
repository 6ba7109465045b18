// Builds the QEMU command line that runs the hypervisor on QEMU's virt
// machine. Shared by the interactive launcher (//:qemu_linux) and the
// integration-test harness, so both boot the same machine.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hyp::tools {

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
};

// The argument vector (argv[0] is the QEMU binary), or an error naming the
// option that is out of range.
absl::StatusOr<std::vector<std::string>> qemu_command(const QemuOptions& options);

// The command as one shell-quoted line, for --print-cmd and failure reports.
std::string shell_line(const std::vector<std::string>& argv);

}  // namespace hyp::tools
