// The command-line flags every QEMU-running tool shares, so the launcher and
// the test harness accept the same spelling for the same thing:
//   --hyp=IMAGE          the hypervisor image
//   --package=FILE       the boot package (loaded as QEMU's -initrd)
//   --hyp_append=TEXT    the hypervisor's command line
//   --smp=N --mem=SIZE   the machine's CPUs and RAM
//   --gdb --icount --qemu=BINARY
//   --qemu_extra="ARG ARG..."  more QEMU arguments (devices for servers)
//   --disk=FILE[,...]    the guest's disk (tools/qemu/disk.h)
//   --firmware=qemu|tfa  what starts the hypervisor (docs/boot.md), and
//   --tfa_flash=FILE     with tfa, Trusted Firmware-A's flash image
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tools/qemu/qemu_command.h"

namespace hyp::tools {

// --firmware's spelling: "qemu" or "tfa".
bool AbslParseFlag(absl::string_view text, Firmware* firmware, std::string* error);
std::string AbslUnparseFlag(Firmware firmware);

// QemuOptions filled from the shared flags (interactive left at its default).
QemuOptions options_from_flags();

// --disk=FILE[,size=...][,format=...][,readonly] (tools/qemu/disk.h), or empty.
std::string disk_flag();
// Attaches the guest's disk (--disk, if given) to `options`: the file, if
// its name is relative, in `base_dir`, created if missing.
absl::Status add_disk(QemuOptions& options, const std::string& base_dir);

// Rewrites "--some-flag" as "--some_flag" in place, so flags may be spelled
// with dashes as QEMU's users are used to. Stops at a bare "--".
void normalize_flag_spelling(int argc, char** argv);

}  // namespace hyp::tools
