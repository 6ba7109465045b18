#include "tools/qemu/firmware.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

extern "C" {
#include <libfdt.h>
}

namespace hyp::tools {
namespace {

// Room added to the tree for the properties written into /chosen.
constexpr int kChosenRoom = 4096;

absl::Status fdt_error(const char* what, int err) {
  return absl::InvalidArgumentError(absl::StrCat("device tree: ", what, ": ", fdt_strerror(err)));
}

absl::StatusOr<uint64_t> file_size(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  return static_cast<uint64_t>(st.st_size);
}

// Runs `argv` with its output in the file `log`, and waits for it; the
// output is part of the error if it fails.
absl::Status run(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(absl::StrCat("waiting for QEMU: ", std::strerror(errno)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream in(log);
    std::stringstream output;
    output << in.rdbuf();
    return absl::InternalError(
        absl::StrCat("QEMU could not make the machine's device tree (", shell_line(argv), "): ", output.str()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> dtb_dump_command(const QemuOptions& options, const std::string& path) {
  // Only what shapes the tree: CPUs, RAM and the machine's properties, not
  // devices on the virtio-mmio transports (whose nodes are always there),
  // nor waiting for a debugger.
  QemuOptions machine = options;
  machine.extra.clear();
  machine.gdb = false;
  machine.icount = false;
  machine.interactive = false;
  machine.initrd.clear();
  machine.append.clear();
  machine.dtb.clear();
  auto argv = qemu_command(machine);
  if (!argv.ok()) return argv.status();
  // QEMU applies -machine options given twice one after the other.
  argv->push_back("-machine");
  argv->push_back(absl::StrCat("dumpdtb=", path));
  return argv;
}

absl::StatusOr<std::string> with_boot_chosen(std::string dtb, uint64_t package_size, const std::string& bootargs) {
  if (dtb.size() < sizeof(fdt_header)) return absl::InvalidArgumentError("device tree: shorter than its header");
  if (int err = fdt_check_header(dtb.data()); err != 0) return fdt_error("header", err);
  if (fdt_totalsize(dtb.data()) > dtb.size()) return absl::InvalidArgumentError("device tree: truncated");
  std::string out(dtb.size() + bootargs.size() + kChosenRoom, '\0');
  if (int err = fdt_open_into(dtb.data(), out.data(), static_cast<int>(out.size())); err != 0) {
    return fdt_error("open", err);
  }
  void* fdt = out.data();
  int chosen = fdt_path_offset(fdt, "/chosen");
  if (chosen == -FDT_ERR_NOTFOUND) chosen = fdt_add_subnode(fdt, 0, "chosen");
  if (chosen < 0) return fdt_error("/chosen", chosen);
  if (package_size != 0) {
    // 64-bit values, whatever #address-cells says: Linux and the
    // hypervisor read the initrd properties by their length.
    const uint64_t start = kFirmwarePackageAddress;
    if (int err = fdt_setprop_u64(fdt, chosen, "linux,initrd-start", start); err != 0) {
      return fdt_error("linux,initrd-start", err);
    }
    if (int err = fdt_setprop_u64(fdt, chosen, "linux,initrd-end", start + package_size); err != 0) {
      return fdt_error("linux,initrd-end", err);
    }
  }
  if (!bootargs.empty()) {
    if (int err = fdt_setprop_string(fdt, chosen, "bootargs", bootargs.c_str()); err != 0) {
      return fdt_error("bootargs", err);
    }
  }
  if (int err = fdt_pack(fdt); err != 0) return fdt_error("pack", err);
  out.resize(fdt_totalsize(fdt));
  return out;
}

absl::Status prepare_firmware_boot(QemuOptions& options, const std::string& dir) {
  if (options.firmware != Firmware::kTfa) return absl::OkStatus();
  auto hyp_size = file_size(options.kernel);
  if (!hyp_size.ok()) return hyp_size.status();
  // The image's file only: the hypervisor itself refuses a package that
  // overlaps its BSS and tables (kernel/main.cc).
  if (kBl33Address + *hyp_size > kFirmwarePackageAddress) {
    return absl::InvalidArgumentError(absl::StrCat(options.kernel, " (", *hyp_size,
                                                   " bytes) does not fit below the boot package at 0x",
                                                   absl::Hex(kFirmwarePackageAddress)));
  }
  uint64_t package_size = 0;
  if (!options.initrd.empty()) {
    auto size = file_size(options.initrd);
    if (!size.ok()) return size.status();
    package_size = *size;
    const uint64_t ram_end = kVirtRamBase + memory_bytes(options.memory);
    if (package_size == 0 || kFirmwarePackageAddress + package_size > ram_end) {
      return absl::InvalidArgumentError(absl::StrCat("the boot package ", options.initrd, " (", package_size,
                                                     " bytes) does not fit in RAM (--mem=", options.memory, ") at 0x",
                                                     absl::Hex(kFirmwarePackageAddress)));
    }
  }
  const std::string machine_dtb = absl::StrCat(dir, "/machine.dtb");
  auto dump = dtb_dump_command(options, machine_dtb);
  if (!dump.ok()) return dump.status();
  if (absl::Status s = run(*dump, absl::StrCat(dir, "/dumpdtb.log")); !s.ok()) return s;
  std::ifstream in(machine_dtb, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", machine_dtb));
  auto dtb = with_boot_chosen(bytes.str(), package_size, options.append);
  if (!dtb.ok()) return dtb.status();
  const std::string path = absl::StrCat(dir, "/boot.dtb");
  std::ofstream out(path, std::ios::binary);
  out.write(dtb->data(), static_cast<std::streamsize>(dtb->size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  options.dtb = path;
  return absl::OkStatus();
}

}  // namespace hyp::tools
