#include "tools/qemu/qemu_command.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hyp::tools {
namespace {

// The kernel supports up to this many CPUs (kernel/boot/boot_info.h).
constexpr int kMaxCpus = 8;

// QEMU's generic loader putting `file` at `address` as it is.
std::string loader(const std::string& file, uint64_t address) {
  std::string escaped;  // a comma in a QEMU option value is written twice
  for (char c : file) {
    escaped.push_back(c);
    if (c == ',') escaped.push_back(',');
  }
  return absl::StrCat("loader,file=", escaped, ",addr=0x", absl::Hex(address), ",force-raw=on");
}

}  // namespace

uint64_t memory_bytes(const std::string& size) {
  if (size.empty()) return 0;
  std::string digits = size;
  const char unit = static_cast<char>(absl::ascii_toupper(static_cast<unsigned char>(size.back())));
  const int shift = unit == 'G' ? 30 : 20;
  if (unit == 'M' || unit == 'G') digits.pop_back();
  uint64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value >= (uint64_t{1} << (63 - shift))) return 0;
  return value << shift;
}

absl::StatusOr<std::vector<std::string>> qemu_command(const QemuOptions& o) {
  if (o.kernel.empty()) {
    return absl::InvalidArgumentError(o.virtualization ? "no hypervisor image given" : "no kernel given");
  }
  if (o.smp < 1 || o.smp > kMaxCpus) {
    return absl::InvalidArgumentError(absl::StrCat("--smp must be 1..", kMaxCpus, ", not ", o.smp));
  }
  if (memory_bytes(o.memory) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("--mem must be a size such as 512M or 2G, not '", o.memory, "'"));
  }
  const bool tfa = o.firmware == Firmware::kTfa;
  if (tfa) {
    if (!o.virtualization) return absl::InvalidArgumentError("--firmware=tfa starts the hypervisor, not a bare guest");
    if (o.flash.empty()) return absl::InvalidArgumentError("--firmware=tfa needs the flash image (--tfa_flash)");
    if ((!o.initrd.empty() || !o.append.empty()) && o.dtb.empty()) {
      return absl::InvalidArgumentError(
          "with --firmware=tfa the package and the command line reach the hypervisor through a device tree "
          "(prepare_firmware_boot)");
    }
  }
  const char* machine = tfa                ? "virt,secure=on,virtualization=on,gic-version=3"
                        : o.virtualization ? "virt,virtualization=on,gic-version=3"
                                           : "virt,gic-version=3";
  std::vector<std::string> argv = {
      o.qemu,
      "-M",
      machine,
      "-cpu",
      "max",
      "-smp",
      absl::StrCat(o.smp),
      "-m",
      o.memory,
      // No default NIC: it would need an option ROM, and no guest uses it.
      "-nic",
      "none",
      // virtio-mmio transports of version 2 (virtio 1.x), not QEMU's legacy
      // default: the device servers drive version 2 only.
      "-global",
      "virtio-mmio.force-legacy=false",
  };
  if (tfa) {
    // BL1 runs from flash; BL31 enters BL33 where QEMU's loader put it.
    argv.insert(argv.end(), {"-bios", o.flash, "-device", loader(o.kernel, kBl33Address)});
    if (!o.initrd.empty()) argv.insert(argv.end(), {"-device", loader(o.initrd, kFirmwarePackageAddress)});
  } else {
    argv.insert(argv.end(), {"-kernel", o.kernel});
  }
  if (o.interactive) {
    argv.push_back("-nographic");
  } else {
    for (const char* arg : {"-display", "none", "-serial", "stdio", "-monitor", "none"}) argv.push_back(arg);
  }
  if (!o.append.empty() && !tfa) {
    argv.push_back("-append");
    argv.push_back(o.append);
  }
  if (!o.initrd.empty() && !tfa) {
    argv.push_back("-initrd");
    argv.push_back(o.initrd);
  }
  if (!o.dtb.empty()) {
    argv.push_back("-dtb");
    argv.push_back(o.dtb);
  }
  if (o.icount) {
    argv.push_back("-icount");
    argv.push_back("shift=0,sleep=off");
  }
  if (o.gdb) {
    argv.push_back("-s");
    argv.push_back("-S");
  }
  argv.insert(argv.end(), o.extra.begin(), o.extra.end());
  return argv;
}

std::string shell_line(const std::vector<std::string>& argv) {
  return absl::StrJoin(argv, " ", [](std::string* out, const std::string& arg) {
    const bool plain = !arg.empty() && arg.find_first_not_of(
                                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                           "-_=,./:+@%") == std::string::npos;
    if (plain) {
      out->append(arg);
      return;
    }
    out->push_back('\'');
    for (char c : arg) {
      if (c == '\'') {
        out->append("'\\''");
      } else {
        out->push_back(c);
      }
    }
    out->push_back('\'');
  });
}

}  // namespace hyp::tools
