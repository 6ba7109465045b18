// Runs the hypervisor in QEMU with the console on this terminal.
//
//   bazel run //:qemu_linux -- [--smp N] [--mem SIZE] [--append TEXT]
//                              [--gdb] [--icount] [--print-cmd]
//
// Ctrl-A x leaves QEMU (its -nographic escape).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "tools/qemu/qemu_command.h"

ABSL_FLAG(std::string, kernel, "", "hypervisor image (flat arm64 Image)");
ABSL_FLAG(std::string, append, "", "hypervisor command line");
ABSL_FLAG(std::string, initrd, "", "initial ramdisk");
ABSL_FLAG(int, smp, 4, "number of CPUs (1-8)");
ABSL_FLAG(std::string, mem, "1G", "RAM size, e.g. 512M or 2G");
ABSL_FLAG(bool, gdb, false, "wait for GDB on localhost:1234 (target remote :1234) before starting");
ABSL_FLAG(bool, icount, false, "run with -icount shift=0,sleep=off (1 ns of virtual time per instruction)");
ABSL_FLAG(bool, print_cmd, false, "print the QEMU command line and exit");
ABSL_FLAG(std::string, qemu, "qemu-system-aarch64", "QEMU binary");
ABSL_FLAG(std::string, notice, "", "a line to print before starting");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Runs the hypervisor in QEMU with the console on this terminal.");
  // Accept --print-cmd as well as --print_cmd: QEMU's users spell flags with dashes.
  std::vector<std::string> spelled(argv, argv + argc);
  for (auto& arg : spelled) {
    if (arg.rfind("--", 0) != 0) continue;
    const size_t end = std::min(arg.find('='), arg.size());
    for (size_t i = 2; i < end; ++i) {
      if (arg[i] == '-') arg[i] = '_';
    }
  }
  std::vector<char*> normalized;
  for (auto& arg : spelled) normalized.push_back(arg.data());
  std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(normalized.size()), normalized.data());
  if (rest.size() > 1) {
    std::fprintf(stderr, "launch: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  hyp::tools::QemuOptions options;
  options.qemu = absl::GetFlag(FLAGS_qemu);
  options.kernel = absl::GetFlag(FLAGS_kernel);
  options.append = absl::GetFlag(FLAGS_append);
  options.initrd = absl::GetFlag(FLAGS_initrd);
  options.smp = absl::GetFlag(FLAGS_smp);
  options.memory = absl::GetFlag(FLAGS_mem);
  options.gdb = absl::GetFlag(FLAGS_gdb);
  options.icount = absl::GetFlag(FLAGS_icount);
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
    std::fprintf(stderr, "launch: QEMU waits for GDB: gdb-multiarch %s -ex 'target remote :1234'\n",
                 "bazel-bin/kernel/kernel.elf");
  }
  std::fprintf(stderr, "launch: Ctrl-A x quits QEMU\n");
  std::vector<char*> args;
  for (auto& a : *command) args.push_back(a.data());
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::fprintf(stderr, "launch: cannot run %s: %s\n", args[0], std::strerror(errno));
  return 127;
}
