// Runs the hypervisor in QEMU with the console on this terminal.
//
//   bazel run //:qemu_linux -- [--smp N] [--mem SIZE] [--append TEXT]
//                              [--gdb] [--icount] [--print-cmd]
//
// Ctrl-A x leaves QEMU (its -nographic escape).
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "tools/qemu/qemu_command.h"
#include "tools/qemu/qemu_flags.h"

ABSL_FLAG(bool, print_cmd, false, "print the QEMU command line and exit");
ABSL_FLAG(std::string, notice, "", "a line to print before starting");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Runs the hypervisor in QEMU with the console on this terminal.");
  hyp::tools::normalize_flag_spelling(argc, argv);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "launch: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  hyp::tools::QemuOptions options = hyp::tools::options_from_flags();
  // bazel run starts us in the runfiles tree: make the image path absolute so
  // that a printed command works from anywhere.
  if (char* real = realpath(options.kernel.c_str(), nullptr); real != nullptr) {
    options.kernel = real;
    std::free(real);
  }
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
