// Runs the hypervisor in QEMU with the console on this terminal.
//
//   bazel run //:qemu_guest -- --kernel=FILE [--initrd=FILE] [--append=TEXT]
//                              [--smp=N] [--mem=SIZE] [--no-console]
//                              [--disk=FILE[,size=SIZE][,format=raw|qcow2][,readonly]]
//                              [--gdb] [--icount] [--print-cmd] [--bare]
//                              [--firmware=qemu|tfa]
//
// With --kernel, FILE runs as the sole guest: it is packed here, with a
// device tree made for it, into the boot package, and --smp/--mem/--append/
// --initrd describe the guest as they would for QEMU's own -kernel. FILE is
// what QEMU's -kernel boots as Linux on AArch64: an arm64 Image, placed by
// its header, or a flat binary without one, loaded at RAM base + 0x80000
// and entered at its first byte with x0 = its device tree (tools/pack:
// place_kernel). The guest gets a PL011 at 0x09000000, QEMU's address, served
// by the UART server (--uart_server), which owns the physical one, unless
// --no-console; a virtio-rng device at 0x0a001000 from the entropy server
// (--rng_server), if given; and with --disk, a virtio-blk device at
// 0x0a000000 from the block server (--blk_server) on the disk image FILE
// (created if missing, relative to where bazel was run; tools/qemu/disk.h). The machine gets the guest's CPUs and its memory plus room
// for the hypervisor and the server. Without --kernel, --package names a
// ready package, or the hypervisor starts with nothing to run.
//
// --firmware=tfa starts the hypervisor the way Arm hardware does: Trusted
// Firmware-A's BL1, BL2 and BL31 from QEMU's flash (--tfa_flash), the
// hypervisor as BL33 at NS-EL2, PSCI served by BL31 (docs/boot.md).
//
// --bare boots the same guest on QEMU alone, at EL1 without the hypervisor,
// handing QEMU (-dtb) the device tree the hypervisor would give it, so that
// both runs see the same devices: what differs between them is the
// hypervisor's doing.
//
// The package is written to a directory of this run's own under $TMPDIR,
// removed when QEMU exits (so the launcher waits for QEMU rather than
// becoming it); --print-cmd keeps it for the command it prints.
//
// Ctrl-A x leaves QEMU (its -nographic escape).
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "bootpkg/format.h"
#include "tools/hypctl/socket.h"
#include "tools/pack/pack.h"
#include "tools/qemu/disk.h"
#include "tools/qemu/firmware.h"
#include "tools/qemu/guest.h"
#include "tools/qemu/qemu_command.h"
#include "tools/qemu/qemu_flags.h"

ABSL_FLAG(std::string, kernel, "",
          "guest kernel, run as the sole guest: an arm64 Image, or a flat binary without the Image header "
          "(loaded at RAM + 0x80000, as QEMU's -kernel does)");
ABSL_FLAG(std::string, initrd, "", "guest initial ramdisk");
ABSL_FLAG(std::string, append, "", "guest command line");
ABSL_FLAG(bool, print_cmd, false, "print the QEMU command line and exit");
ABSL_FLAG(std::string, notice, "", "a line to print before starting");
ABSL_FLAG(std::string, uart_server, "", "the UART server's image, which gives the guest its console");
ABSL_FLAG(std::string, gic_server, "", "the GIC server's image, which gives the guest its GICv3 (none if empty)");
ABSL_FLAG(std::string, blk_server, "",
          "the block server's image, which gives the guest the disk of --disk (a virtio-blk device)");
ABSL_FLAG(std::string, rng_server, "",
          "the entropy server's image, which gives the guest a virtio-rng device fed by the host's (none if empty)");
ABSL_FLAG(std::string, rtc_server, "",
          "the RTC server's image, which gives the guest a PL031 real-time clock at QEMU's address (none if empty)");
ABSL_FLAG(std::string, control_server, "",
          "the control server's image: a virtio-console whose Unix socket (--control_socket) hypctl talks to "
          "(none if empty; docs/control.md)");
ABSL_FLAG(std::string, control_socket, "",
          "where the control channel's Unix socket goes (default: $TMPDIR or /tmp, hyp-control-UID.sock)");
ABSL_FLAG(std::vector<std::string>, stopped_servers, {},
          "servers (uart, gic, blk, rng) not started at boot: the monitor's or hypctl's add starts them, and their "
          "devices read as zero until then (docs/control.md)");
ABSL_FLAG(bool, no_console, false, "give the guest no console (no UART server, no PL011)");
ABSL_FLAG(bool, bare, false,
          "run the --kernel guest on QEMU without the hypervisor, given the device tree the hypervisor "
          "would give it (QEMU's -dtb), to compare the two");
ABSL_FLAG(std::string, input_after, "",
          "when standard input is not a terminal, pass it to the guest only once this text has appeared on "
          "the console (Linux's PL011 driver drops what its receive FIFO holds when it opens the port)");

namespace {

// Memory the hypervisor needs beside the guest: itself, its tables, the
// package, and the UART server's partition.
constexpr uint64_t kHypervisorReserve = 256ull << 20;

// The child QEMU while the launcher waits for it, for the signal handler.
volatile sig_atomic_t g_qemu_pid = 0;

void forward_signal(int sig) {
  if (g_qemu_pid > 0) kill(static_cast<pid_t>(g_qemu_pid), sig);
}

// Copies QEMU's output (`from`) to standard output until it ends, and
// standard input to QEMU (`to`) from the moment `marker` has appeared in
// that output. Input that ends leaves QEMU's side open: the guest goes on.
void relay(int from, int to, const std::string& marker) {
  std::string tail;  // the last bytes seen, to find the marker across reads
  bool released = false;
  bool input_open = true;
  char buf[4096];
  for (;;) {
    pollfd fds[2] = {{from, POLLIN, 0}, {0, POLLIN, 0}};
    const nfds_t n = released && input_open ? 2 : 1;
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t got = read(from, buf, sizeof(buf));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return;  // QEMU is gone
      for (ssize_t off = 0; off < got;) {
        const ssize_t put = write(1, buf + off, static_cast<size_t>(got - off));
        if (put <= 0 && errno != EINTR) break;
        if (put > 0) off += put;
      }
      if (!released) {
        tail.append(buf, static_cast<size_t>(got));
        released = tail.find(marker) != std::string::npos;
        if (tail.size() > marker.size()) tail.erase(0, tail.size() - marker.size());
      }
    }
    if (n == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t got = read(0, buf, sizeof(buf));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        input_open = false;
        continue;
      }
      for (ssize_t off = 0; off < got;) {
        const ssize_t put = write(to, buf + off, static_cast<size_t>(got - off));
        if (put <= 0 && errno != EINTR) return;
        if (put > 0) off += put;
      }
    }
  }
}

// Runs QEMU and waits for it, so that the package's directory can be
// removed afterwards; returns QEMU's exit status (128 + the signal if one
// ended it), as a shell would. With `hold_until` and a standard input that
// is not a terminal, QEMU's console goes through relay(). A Ctrl-C at the terminal goes to the whole
// foreground process group: QEMU acts on it, the launcher ignores it and
// waits. A SIGTERM or SIGHUP sent to the launcher alone is passed on to
// QEMU, so that the launcher still outlives it and cleans up. Those two are
// blocked across fork until the child's pid is known, so none is lost.
int run_and_wait(std::vector<char*>& args, const std::string& hold_until) {
  const bool relayed = !hold_until.empty() && isatty(0) == 0;
  int to_qemu[2] = {-1, -1};
  int from_qemu[2] = {-1, -1};
  if (relayed && (pipe(to_qemu) != 0 || pipe(from_qemu) != 0)) {
    std::fprintf(stderr, "launch: pipe: %s\n", std::strerror(errno));
    return 127;
  }
  struct sigaction forward {};
  forward.sa_handler = forward_signal;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGHUP, &forward, nullptr);
  sigset_t forwarded;
  sigset_t old_mask;
  sigemptyset(&forwarded);
  sigaddset(&forwarded, SIGTERM);
  sigaddset(&forwarded, SIGHUP);
  sigprocmask(SIG_BLOCK, &forwarded, &old_mask);
  const pid_t pid = fork();
  if (pid == 0) {
    // Handlers reset at exec; the mask does not.
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    if (relayed) {
      dup2(to_qemu[0], 0);
      dup2(from_qemu[1], 1);
      close(to_qemu[0]);
      close(to_qemu[1]);
      close(from_qemu[0]);
      close(from_qemu[1]);
    }
    execvp(args[0], args.data());
    std::fprintf(stderr, "launch: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  if (pid < 0) {
    std::fprintf(stderr, "launch: fork: %s\n", std::strerror(errno));
    return 127;
  }
  g_qemu_pid = pid;
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  if (relayed) {
    close(to_qemu[0]);
    close(from_qemu[1]);
    signal(SIGPIPE, SIG_IGN);
    relay(from_qemu[0], to_qemu[1], hold_until);
    close(from_qemu[0]);
    close(to_qemu[1]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      std::fprintf(stderr, "launch: waiting for QEMU: %s\n", std::strerror(errno));
      return 127;
    }
  }
  g_qemu_pid = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

// Paths on the command line are the user's, relative to where they ran
// `bazel run`, not to the runfiles tree we start in; a target's own
// defaults (//:qemu_linux's kernel and initramfs) are runfiles, found here
// when the user's directory has no such file.
std::string user_path(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
  if (dir == nullptr) return path;
  const std::string theirs = absl::StrCat(dir, "/", path);
  if (access(theirs.c_str(), F_OK) != 0 && access(path.c_str(), F_OK) == 0) return path;
  return theirs;
}

// Whether the file at `path` is a flat binary without the Image header, for
// a note to the user (build_package has read it successfully already).
bool raw_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(64, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  return hyp::tools::kernel_format(head) == hyp::tools::KernelFormat::kRawBinary;
}

// The device tree the hypervisor gives `vm` (from its package), for QEMU's
// -dtb.
absl::StatusOr<std::string> guest_dtb(const hyp::tools::VmSpec& vm) {
  auto loaded = hyp::tools::load_vm(vm);
  if (!loaded.ok()) return loaded.status();
  return std::move(loaded->dtb);
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

  std::optional<hyp::tools::PrivateDir> package_dir;
  if (const std::string guest = absl::GetFlag(FLAGS_kernel); !guest.empty()) {
    hyp::tools::GuestOptions vm;
    vm.vcpus = options.smp;
    vm.memory = hyp::tools::memory_bytes(options.memory);
    vm.kernel = user_path(guest);
    vm.initrd = user_path(absl::GetFlag(FLAGS_initrd));
    vm.bootargs = absl::GetFlag(FLAGS_append);
    if (vm.memory == 0) {
      std::fprintf(stderr, "launch: --mem must be a size such as 512M or 2G\n");
      return 2;
    }
    vm.gic_server = absl::GetFlag(FLAGS_gic_server);
    vm.rng_server = absl::GetFlag(FLAGS_rng_server);
    vm.stopped_servers = absl::GetFlag(FLAGS_stopped_servers);
    vm.control_server = absl::GetFlag(FLAGS_control_server);
    vm.rtc_server = absl::GetFlag(FLAGS_rtc_server);
    if (const std::string disk = hyp::tools::disk_flag(); !disk.empty()) {
      auto spec = hyp::tools::parse_disk(disk);
      if (!spec.ok()) {
        std::fprintf(stderr, "launch: %s\n", std::string(spec.status().message()).c_str());
        return 2;
      }
      vm.blk_server = absl::GetFlag(FLAGS_blk_server);
      vm.read_only_disk = spec->read_only;
      if (vm.blk_server.empty()) {
        std::fprintf(stderr, "launch: --disk needs the block server's image (--blk_server)\n");
        return 2;
      }
    }
    if (!absl::GetFlag(FLAGS_no_console)) {
      vm.uart_server = absl::GetFlag(FLAGS_uart_server);
      if (vm.uart_server.empty()) {
        std::fprintf(stderr,
                     "launch: the guest's console needs the UART server's image (--uart_server), "
                     "or give --no-console\n");
        return 2;
      }
    }
    const hyp::tools::Manifest manifest = hyp::tools::guest_manifest(vm);
    // The package, or with --bare the guest's device tree.
    absl::StatusOr<std::string> file =
        absl::GetFlag(FLAGS_bare) ? guest_dtb(manifest.vms.back()) : hyp::tools::build_package(manifest);
    if (!file.ok()) {
      std::fprintf(stderr, "launch: %s\n", std::string(file.status().message()).c_str());
      return 2;
    }
    std::fprintf(stderr, "launch: guest kernel %s%s\n", vm.kernel.c_str(),
                 absl::GetFlag(FLAGS_bare) ? ", on QEMU without the hypervisor" : "");
    if (raw_binary(vm.kernel)) {
      std::fprintf(stderr,
                   "launch: %s has no arm64 Image header: loaded as a flat binary at RAM + 0x80000 (0x%llx) "
                   "and entered at its first byte, as QEMU's -kernel does\n",
                   guest.c_str(),
                   static_cast<unsigned long long>(hyp::package::kDefaultRamIpa + hyp::tools::kRawLoadOffset));
    }
    auto dir = hyp::tools::PrivateDir::create("hyp-guest-");
    if (!dir.ok()) {
      std::fprintf(stderr, "launch: %s\n", std::string(dir.status().message()).c_str());
      return 2;
    }
    package_dir = *std::move(dir);
    const std::string path = absl::StrCat(package_dir->path(), absl::GetFlag(FLAGS_bare) ? "/guest.dtb" : "/guest.pkg");
    std::ofstream out(path, std::ios::binary);
    out.write(file->data(), static_cast<std::streamsize>(file->size()));
    out.close();
    if (!out) {
      std::fprintf(stderr, "launch: cannot write %s\n", path.c_str());
      return 2;
    }
    if (absl::GetFlag(FLAGS_bare)) {
      // QEMU loads the kernel and the initrd itself and writes where it put
      // the initrd, and the memory it has, into the device tree.
      options.virtualization = false;
      options.kernel = absolute(vm.kernel);
      options.initrd = vm.initrd;
      options.append = vm.bootargs;
      options.dtb = path;
      options.memory = absl::StrCat(vm.memory >> 20, "M");
    } else {
      options.initrd = path;
      options.memory = absl::StrCat((vm.memory + kHypervisorReserve) >> 20, "M");
    }
  } else if (absl::GetFlag(FLAGS_bare)) {
    std::fprintf(stderr, "launch: --bare runs a guest without the hypervisor: give its --kernel\n");
    return 2;
  } else if (!absl::GetFlag(FLAGS_initrd).empty() || !absl::GetFlag(FLAGS_append).empty()) {
    std::fprintf(stderr, "launch: --initrd and --append describe a guest: give its --kernel too\n");
    return 2;
  }
  if (!options.initrd.empty()) options.initrd = absolute(user_path(options.initrd));
  if (options.firmware == hyp::tools::Firmware::kTfa) {
    // QEMU's flash holds TF-A; the device tree tells the hypervisor where
    // the package is (tools/qemu/firmware.h). It goes with the package.
    if (!package_dir) {
      auto dir = hyp::tools::PrivateDir::create("hyp-guest-");
      if (!dir.ok()) {
        std::fprintf(stderr, "launch: %s\n", std::string(dir.status().message()).c_str());
        return 2;
      }
      package_dir = *std::move(dir);
    }
    if (!options.flash.empty()) options.flash = absolute(user_path(options.flash));
    if (absl::Status s = hyp::tools::prepare_firmware_boot(options, package_dir->path()); !s.ok()) {
      std::fprintf(stderr, "launch: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  // The machine's devices for the virtio servers (on bare QEMU, for the
  // guest itself, at the same addresses).
  if (!absl::GetFlag(FLAGS_kernel).empty() && !absl::GetFlag(FLAGS_rng_server).empty()) {
    options.extra.push_back("-device");
    options.extra.push_back(hyp::tools::kVirtioRngQemuDevice);
  }
  if (!absl::GetFlag(FLAGS_kernel).empty() && !absl::GetFlag(FLAGS_control_server).empty() &&
      !absl::GetFlag(FLAGS_bare)) {
    const std::string socket = hyp::tools::control_socket_path(absl::GetFlag(FLAGS_control_socket));
    // A socket left by an earlier run is replaced (QEMU would refuse to bind).
    (void)unlink(socket.c_str());
    options.extra.push_back("-chardev");
    options.extra.push_back(absl::StrCat("socket,id=hypctl,path=", socket, ",server=on,wait=off"));
    options.extra.push_back("-device");
    options.extra.push_back(hyp::tools::kControlQemuBus);
    options.extra.push_back("-device");
    options.extra.push_back(hyp::tools::kControlQemuConsole);
    std::fprintf(stderr, "launch: control channel %s (bazel run //tools:hypctl -- help)\n", socket.c_str());
  }
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (absl::Status s = hyp::tools::add_disk(options, cwd != nullptr ? cwd : ""); !s.ok()) {
    std::fprintf(stderr, "launch: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  auto command = hyp::tools::qemu_command(options);
  if (!command.ok()) {
    std::fprintf(stderr, "launch: %s\n", std::string(command.status().message()).c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_print_cmd)) {
    std::printf("%s\n", hyp::tools::shell_line(*command).c_str());
    if (package_dir) {
      package_dir->keep();
      std::fprintf(stderr, "launch: the command's package stays in %s: remove it when done\n",
                   package_dir->path().c_str());
    }
    return 0;
  }
  if (!absl::GetFlag(FLAGS_notice).empty()) std::fprintf(stderr, "%s\n", absl::GetFlag(FLAGS_notice).c_str());
  if (options.gdb) {
    std::fprintf(stderr,
                 "launch: QEMU waits for GDB: gdb-multiarch bazel-bin/kernel/kernel.elf -ex 'target remote :1234'\n");
  }
  std::fprintf(stderr, "launch: Ctrl-A x quits QEMU\n");
  std::vector<char*> args;
  for (auto& a : *command) args.push_back(a.data());
  args.push_back(nullptr);
  const std::string hold = absl::GetFlag(FLAGS_input_after);
  if (package_dir || !hold.empty()) {
    std::fflush(nullptr);
    return run_and_wait(args, hold);  // package_dir goes on return
  }
  // Nothing to clean up: QEMU takes the launcher's place.
  execvp(args[0], args.data());
  std::fprintf(stderr, "launch: cannot run %s: %s\n", args[0], std::strerror(errno));
  return 127;
}
