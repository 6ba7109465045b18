#include "tools/qemu/qemu_flags.h"

#include <algorithm>
#include <cstring>

#include "absl/flags/flag.h"
#include "tools/qemu/disk.h"

namespace hyp::tools {

bool AbslParseFlag(absl::string_view text, Firmware* firmware, std::string* error) {
  if (text == "qemu") {
    *firmware = Firmware::kQemu;
    return true;
  }
  if (text == "tfa") {
    *firmware = Firmware::kTfa;
    return true;
  }
  *error = "must be qemu (QEMU's own boot) or tfa (Trusted Firmware-A, the hypervisor as BL33)";
  return false;
}

std::string AbslUnparseFlag(Firmware firmware) { return firmware == Firmware::kTfa ? "tfa" : "qemu"; }

}  // namespace hyp::tools

ABSL_FLAG(std::string, hyp, "", "hypervisor image (flat arm64 Image)");
ABSL_FLAG(std::string, hyp_append, "", "hypervisor command line");
ABSL_FLAG(std::string, package, "", "boot package (what the hypervisor runs)");
ABSL_FLAG(int, smp, 4, "number of CPUs (1-8)");
ABSL_FLAG(std::string, mem, "1G", "RAM size, e.g. 512M or 2G");
ABSL_FLAG(bool, gdb, false, "wait for GDB on localhost:1234 (target remote :1234) before starting");
ABSL_FLAG(bool, icount, false, "run with -icount shift=0,sleep=off (1 ns of virtual time per instruction)");
ABSL_FLAG(std::string, qemu, "qemu-system-aarch64", "QEMU binary");
ABSL_FLAG(std::string, disk, "",
          "the guest's disk: FILE[,size=64M][,format=raw|qcow2][,readonly], created if missing, served by QEMU as "
          "a virtio-blk device on transport 0 (the block server's)");
ABSL_FLAG(hyp::tools::Firmware, firmware, hyp::tools::Firmware::kQemu,
          "what starts the hypervisor: qemu (QEMU's -kernel, at EL2, QEMU serving PSCI) or tfa (Trusted Firmware-A "
          "in QEMU's flash, the hypervisor as BL33 at NS-EL2, BL31 serving PSCI; docs/boot.md)");
ABSL_FLAG(std::string, tfa_flash, "", "with --firmware=tfa: the flash image, BL1 and the FIP (//third_party/tfa)");
ABSL_FLAG(std::string, qemu_extra, "",
          "more QEMU arguments, separated by spaces (e.g. \"-device virtio-rng-device,bus=virtio-mmio-bus.8\")");

namespace hyp::tools {

QemuOptions options_from_flags() {
  QemuOptions options;
  options.qemu = absl::GetFlag(FLAGS_qemu);
  options.kernel = absl::GetFlag(FLAGS_hyp);
  options.append = absl::GetFlag(FLAGS_hyp_append);
  options.initrd = absl::GetFlag(FLAGS_package);
  options.smp = absl::GetFlag(FLAGS_smp);
  options.memory = absl::GetFlag(FLAGS_mem);
  options.gdb = absl::GetFlag(FLAGS_gdb);
  options.icount = absl::GetFlag(FLAGS_icount);
  options.firmware = absl::GetFlag(FLAGS_firmware);
  options.flash = absl::GetFlag(FLAGS_tfa_flash);
  const std::string extra = absl::GetFlag(FLAGS_qemu_extra);
  for (size_t at = 0; at < extra.size();) {
    const size_t end = std::min(extra.find(' ', at), extra.size());
    if (end > at) options.extra.push_back(extra.substr(at, end - at));
    at = end + 1;
  }
  return options;
}

std::string disk_flag() { return absl::GetFlag(FLAGS_disk); }

absl::Status add_disk(QemuOptions& options, const std::string& base_dir) {
  const std::string value = disk_flag();
  if (value.empty()) return absl::OkStatus();
  auto disk = parse_disk(value);
  if (!disk.ok()) return disk.status();
  if (!disk->path.empty() && disk->path[0] != '/' && !base_dir.empty()) disk->path = base_dir + "/" + disk->path;
  auto args = prepare_disk(*disk);
  if (!args.ok()) return args.status();
  options.extra.insert(options.extra.end(), args->begin(), args->end());
  return absl::OkStatus();
}

void normalize_flag_spelling(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    char* arg = argv[i];
    if (std::strcmp(arg, "--") == 0) return;
    if (std::strncmp(arg, "--", 2) != 0) continue;
    for (char* p = arg + 2; *p != '\0' && *p != '='; ++p) {
      if (*p == '-') *p = '_';
    }
  }
}

}  // namespace hyp::tools
