// Runs the hypervisor in QEMU with the console on this terminal.
//
//   bazel run //:qemu_guest -- --kernel=FILE [--initrd=FILE] [--append=TEXT]
//                              [--smp=N] [--mem=SIZE] [--gdb] [--icount] [--print-cmd]
//
// With --kernel, FILE (any flat arm64 Image) runs as the sole guest: it is
// packed here, with a device tree made for it, into the boot package, and
// --smp/--mem/--append/--initrd describe the guest as they would for QEMU's
// own -kernel. The machine gets the guest's CPUs and its memory plus room
// for the hypervisor. Without --kernel, --package names a ready package, or
// the hypervisor starts with nothing to run.
//
// Ctrl-A x leaves QEMU (its -nographic escape).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/pack/pack.h"
#include "tools/qemu/qemu_command.h"
#include "tools/qemu/qemu_flags.h"

ABSL_FLAG(std::string, kernel, "", "guest kernel: a flat arm64 Image to run as the sole guest");
ABSL_FLAG(std::string, initrd, "", "guest initial ramdisk");
ABSL_FLAG(std::string, append, "", "guest command line");
ABSL_FLAG(bool, print_cmd, false, "print the QEMU command line and exit");
ABSL_FLAG(std::string, notice, "", "a line to print before starting");

namespace {

// Memory the hypervisor needs beside the guest: itself, its tables, the package.
constexpr uint64_t kHypervisorReserve = 256ull << 20;

// "512M", "2G" or a number of MiB, in bytes; 0 if malformed.
uint64_t parse_size(std::string text) {
  uint64_t shift = 20;
  if (!text.empty()) {
    const char unit = static_cast<char>(absl::ascii_toupper(static_cast<unsigned char>(text.back())));
    if (unit == 'G') shift = 30;
    if (unit == 'G' || unit == 'M') text.pop_back();
  }
  uint64_t value = 0;
  return absl::SimpleAtoi(text, &value) ? value << shift : 0;
}

// Paths on the command line are the user's, relative to where they ran
// `bazel run`, not to the runfiles tree we start in.
std::string user_path(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
  return dir != nullptr ? absl::StrCat(dir, "/", path) : path;
}

std::string absolute(const std::string& path) {
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return path;
  std::string out = real;
  std::free(real);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Runs the hypervisor in QEMU with the console on this terminal.");
  hyp::tools::normalize_flag_spelling(argc, argv);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "launch: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  hyp::tools::QemuOptions options = hyp::tools::options_from_flags();
  options.kernel = absolute(options.kernel);

  if (const std::string guest = absl::GetFlag(FLAGS_kernel); !guest.empty()) {
    hyp::tools::VmSpec vm;
    vm.name = "guest";
    vm.vcpus = options.smp;
    vm.memory = parse_size(options.memory);
    vm.kernel = user_path(guest);
    vm.initrd = user_path(absl::GetFlag(FLAGS_initrd));
    vm.bootargs = absl::GetFlag(FLAGS_append);
    if (vm.memory == 0) {
      std::fprintf(stderr, "launch: --mem must be a size such as 512M or 2G\n");
      return 2;
    }
    auto package = hyp::tools::build_package({{vm}});
    if (!package.ok()) {
      std::fprintf(stderr, "launch: %s\n", std::string(package.status().message()).c_str());
      return 2;
    }
    const char* tmp = std::getenv("TMPDIR");
    const std::string path = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/hyp-guest-", getuid(), ".pkg");
    std::ofstream(path, std::ios::binary).write(package->data(), static_cast<std::streamsize>(package->size()));
    options.initrd = path;
    options.memory = absl::StrCat((vm.memory + kHypervisorReserve) >> 20, "M");
  } else if (!absl::GetFlag(FLAGS_initrd).empty() || !absl::GetFlag(FLAGS_append).empty()) {
    std::fprintf(stderr, "launch: --initrd and --append describe a guest: give its --kernel too\n");
    return 2;
  }
  if (!options.initrd.empty()) options.initrd = absolute(user_path(options.initrd));

  auto command = hyp::tools::qemu_command(options);
  if (!command.ok()) {
    std::fprintf(stderr, "launch: %s\n", std::string(command.status().message()).c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_print_cmd)) {
    std::printf("%s\n", hyp::tools::shell_line(*command).c_str());
    return 0;
  }
  if (!absl::GetFlag(FLAGS_notice).empty()) std::fprintf(stderr, "%s\n", absl::GetFlag(FLAGS_notice).c_str());
  if (options.gdb) {
    std::fprintf(stderr, "launch: QEMU waits for GDB: gdb-multiarch bazel-bin/kernel/kernel.elf -ex 'target remote :1234'\n");
  }
  std::fprintf(stderr, "launch: Ctrl-A x quits QEMU\n");
  std::vector<char*> args;
  for (auto& a : *command) args.push_back(a.data());
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::fprintf(stderr, "launch: cannot run %s: %s\n", args[0], std::strerror(errno));
  return 127;
}
