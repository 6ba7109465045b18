// Boots the hypervisor in a fresh QEMU, drives its console through a script
// of expectations and input, and reports. On failure it says why (timeout,
// forbidden output, QEMU exit) and shows the last console lines and the
// command line, so a failing test explains itself.
//
//   qemu_test_runner --kernel=IMAGE [shared QEMU flags] [--timeout_s=S]
//       [--fail_on=TEXT,...] [--exit=any|zero|kill] STEP...
// Steps are described in console_script.h.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "tests/harness/console_script.h"
#include "tools/qemu/guest.h"
#include "tools/qemu/firmware.h"
#include "tools/qemu/qemu_command.h"
#include "tools/qemu/qemu_flags.h"

ABSL_FLAG(int, timeout_s, 60, "seconds for the whole script");
ABSL_FLAG(std::vector<std::string>, fail_on, {"PANIC"}, "console text that fails the test at once");
ABSL_FLAG(std::string, exit, "kill",
          "after the last step: 'kill' QEMU, wait for it to exit with status 'zero', or 'any' status");
ABSL_FLAG(std::string, crash_report, "",
          "text of a console line that reports a server crash: stream steps allow one doubled character per report");
ABSL_FLAG(int, tail_lines, 25, "console lines shown on failure");
ABSL_FLAG(bool, control_channel, false,
          "give QEMU the control channel's virtconsole (docs/control.md), its socket in a new directory under /tmp; "
          "host steps "
          "find it in $HYP_CONTROL_SOCKET");
ABSL_FLAG(std::string, hypctl, "", "hypctl, for host steps ($HYPCTL)");
ABSL_FLAG(std::string, report, "",
          "on success, print to stdout every console line containing this text, from after it (benchmarks)");

namespace hyp::tools {
namespace {

using Clock = std::chrono::steady_clock;

struct Qemu {
  pid_t pid = -1;
  int to_console = -1;    // QEMU's stdin
  int from_console = -1;  // QEMU's stdout and stderr
};

bool start_qemu(const std::vector<std::string>& argv, Qemu& q, std::string& error) {
  int in[2];
  int out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    error = absl::StrCat("pipe: ", std::strerror(errno));
    return false;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    error = absl::StrCat("fork: ", std::strerror(errno));
    return false;
  }
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    setpgid(0, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  q.pid = pid;
  q.to_console = in[1];
  q.from_console = out[0];
  fcntl(q.from_console, F_SETFL, O_NONBLOCK);
  return true;
}

void stop_qemu(Qemu& q) {
  if (q.pid <= 0) return;
  kill(q.pid, SIGTERM);
  for (int i = 0; i < 50; ++i) {
    if (waitpid(q.pid, nullptr, WNOHANG) == q.pid) {
      q.pid = -1;
      return;
    }
    usleep(20'000);
  }
  kill(q.pid, SIGKILL);
  waitpid(q.pid, nullptr, 0);
  q.pid = -1;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("was killed by signal ", WTERMSIG(status));
  return "stopped";
}

// Keeps the full transcript where Bazel collects test outputs.
void save_transcript(const std::string& transcript) {
  const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  if (dir == nullptr) return;
  std::ofstream(absl::StrCat(dir, "/console.log"), std::ios::binary) << transcript;
}

// A send step's text with @HOST_EPOCH@ replaced by the host's time now, in
// seconds since 1970 (for tests of a guest's clock).
std::string with_host_time(const std::string& text) {
  constexpr absl::string_view kMark = "@HOST_EPOCH@";
  if (absl::string_view(text).find(kMark) == absl::string_view::npos) return text;
  return absl::StrReplaceAll(text, {{kMark, absl::StrCat(static_cast<int64_t>(std::time(nullptr)))}});
}

// A host step's command, run by /bin/sh in its own process group; its
// output goes to the test's log.
pid_t start_host_command(const std::string& command) {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(STDERR_FILENO, STDOUT_FILENO);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int run(const std::vector<Step>& steps) {
  QemuOptions options = options_from_flags();
  options.interactive = false;
  // A test's disk (relative names) lives in its own temporary directory.
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string socket_dir;
  if (absl::GetFlag(FLAGS_control_channel)) {
    // In a directory of its own under /tmp: a Unix socket's path has at
    // most 107 bytes, which Bazel's test directories exceed.
    char dir[] = "/tmp/hyp-test-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      std::fprintf(stderr, "FAIL: mkdtemp: %s\n", std::strerror(errno));
      return 2;
    }
    socket_dir = dir;
    const std::string socket = socket_dir + "/control.sock";
    for (const std::string& a :
         {std::string("-chardev"), "socket,id=hypctl,path=" + socket + ",server=on,wait=off", std::string("-device"),
          std::string(kControlQemuBus), std::string("-device"), std::string(kControlQemuConsole)}) {
      options.extra.push_back(a);
    }
    setenv("HYP_CONTROL_SOCKET", socket.c_str(), 1);
  }
  if (const std::string hypctl = absl::GetFlag(FLAGS_hypctl); !hypctl.empty()) setenv("HYPCTL", hypctl.c_str(), 1);
  if (absl::Status s = add_disk(options, tmp != nullptr ? tmp : ""); !s.ok()) {
    std::fprintf(stderr, "FAIL: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (options.firmware == Firmware::kTfa) {
    // The machine's device tree, with the package's place, goes in the
    // test's own temporary directory (tools/qemu/firmware.h).
    if (absl::Status s = prepare_firmware_boot(options, tmp != nullptr ? tmp : "/tmp"); !s.ok()) {
      std::fprintf(stderr, "FAIL: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  const std::string exit_mode = absl::GetFlag(FLAGS_exit);
  if (exit_mode != "kill" && exit_mode != "zero" && exit_mode != "any") {
    std::fprintf(stderr, "FAIL: --exit must be kill, zero or any\n");
    return 2;
  }
  auto argv = qemu_command(options);
  if (!argv.ok()) {
    std::fprintf(stderr, "FAIL: %s\n", std::string(argv.status().message()).c_str());
    return 2;
  }
  const std::string command = shell_line(*argv);
  std::fprintf(stderr, "qemu: %s\n", command.c_str());

  ConsoleMatcher matcher(steps, absl::GetFlag(FLAGS_fail_on), absl::GetFlag(FLAGS_crash_report));
  Qemu q;
  std::string error;
  if (!start_qemu(*argv, q, error)) {
    std::fprintf(stderr, "FAIL: %s\n", error.c_str());
    return 1;
  }

  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(absl::GetFlag(FLAGS_timeout_s));
  std::string reason;
  bool exited = false;
  int exit_status = 0;
  bool output_open = true;
  pid_t host = -1;  // a host step's command, while it runs
  for (;;) {
    if (host > 0) {
      int status = 0;
      if (waitpid(host, &status, WNOHANG) == host) {
        host = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
          reason = absl::StrCat("the host command ", describe_status(status), ": ", matcher.next_step()->text);
          break;
        }
        matcher.sent();
      }
    }
    // Carry out pending input before waiting for more output.
    while (const Step* step = matcher.next_step()) {
      if (step->kind == Step::Kind::kHost) {
        if (host < 0) host = start_host_command(step->text);
        break;
      }
      if (step->kind != Step::Kind::kSend) break;
      const std::string text = with_host_time(step->text);
      if (write(q.to_console, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        reason = absl::StrCat("could not write to the console: ", std::strerror(errno));
        break;
      }
      matcher.sent();
    }
    if (!reason.empty() || matcher.failure() || matcher.mismatch()) break;
    if (matcher.next_step() == nullptr && exit_mode == "kill") break;
    if (exited) break;

    const auto now = Clock::now();
    if (now >= deadline) {
      reason = "timed out";
      break;
    }
    if (output_open) {
      pollfd pfd{q.from_console, POLLIN, 0};
      const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      const int n = poll(&pfd, 1, static_cast<int>(std::min<long>(wait_ms, 100)));
      if (n > 0) {
        char buf[4096];
        const ssize_t got = read(q.from_console, buf, sizeof(buf));
        if (got > 0) {
          matcher.feed(std::string(buf, static_cast<size_t>(got)));
        } else if (got == 0) {
          output_open = false;
        }
      }
    } else {
      usleep(20'000);
    }
    if (waitpid(q.pid, &exit_status, WNOHANG) == q.pid) {
      // Drain what QEMU wrote before it went.
      char buf[4096];
      ssize_t got;
      while ((got = read(q.from_console, buf, sizeof(buf))) > 0) matcher.feed(std::string(buf, static_cast<size_t>(got)));
      q.pid = -1;
      exited = true;
    }
  }

  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // Forbidden text usually starts a line that says why: let the rest of it
  // arrive (briefly) so that the report below shows it whole.
  if (matcher.failure() && output_open && q.pid > 0) {
    const auto grace = Clock::now() + std::chrono::milliseconds(300);
    while (Clock::now() < grace) {
      pollfd pfd{q.from_console, POLLIN, 0};
      if (poll(&pfd, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t got = read(q.from_console, buf, sizeof(buf));
      if (got <= 0) break;
      matcher.feed(std::string(buf, static_cast<size_t>(got)));
    }
  }
  if (reason.empty() && matcher.failure()) reason = absl::StrCat("console printed forbidden text '", *matcher.failure(), "'");
  if (reason.empty() && matcher.mismatch()) reason = *matcher.mismatch();
  if (reason.empty() && matcher.next_step() != nullptr) {
    reason = exited ? absl::StrCat("QEMU ", describe_status(exit_status), " before the script finished")
                    : "timed out";
  }
  if (reason == "timed out" && matcher.next_step() != nullptr) {
    reason = absl::StrCat("timed out after ", absl::GetFlag(FLAGS_timeout_s), " s");
  }
  if (!reason.empty() && matcher.next_step() != nullptr && !matcher.mismatch()) {
    absl::StrAppend(&reason, matcher.next_step()->kind == Step::Kind::kSend ? " before sending " : " waiting for ",
                    matcher.waiting_for());
  }
  if (reason.empty() && exit_mode != "kill") {
    if (!exited) {
      reason = absl::StrCat("QEMU did not exit by itself within ", absl::GetFlag(FLAGS_timeout_s), " s");
    } else if (exit_mode == "zero" && !(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0)) {
      reason = absl::StrCat("QEMU ", describe_status(exit_status), ", expected status 0");
    }
  }
  if (host > 0) {
    kill(-host, SIGKILL);
    waitpid(host, nullptr, 0);
  }
  stop_qemu(q);
  if (!socket_dir.empty()) {
    (void)unlink((socket_dir + "/control.sock").c_str());
    (void)rmdir(socket_dir.c_str());
  }
  save_transcript(matcher.transcript());

  if (!reason.empty()) {
    std::fprintf(stderr, "FAIL: %s (after %.1f s)\nlast console lines:\n%s", reason.c_str(), seconds,
                 matcher.tail(static_cast<size_t>(absl::GetFlag(FLAGS_tail_lines))).c_str());
    std::fprintf(stderr, "command: %s\n", command.c_str());
    return 1;
  }
  std::fprintf(stderr, "PASS: %zu steps in %.1f s\n", steps.size(), seconds);
  if (const std::string marker = absl::GetFlag(FLAGS_report); !marker.empty()) {
    for (absl::string_view line : absl::StrSplit(matcher.transcript(), '\n')) {
      const size_t at = line.find(marker);
      if (at == absl::string_view::npos) continue;
      std::string text(line.substr(at + marker.size()));
      text.erase(std::remove(text.begin(), text.end(), '\r'), text.end());
      std::printf("%s\n", text.c_str());
    }
  }
  return 0;
}

}  // namespace
}  // namespace hyp::tools

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Boots the hypervisor in QEMU and checks its console against a script.");
  hyp::tools::normalize_flag_spelling(argc, argv);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  std::vector<hyp::tools::Step> steps;
  for (size_t i = 1; i < args.size(); ++i) {
    auto step = hyp::tools::parse_step(args[i]);
    if (!step.ok()) {
      std::fprintf(stderr, "FAIL: bad step '%s': %s\n", args[i], std::string(step.status().message()).c_str());
      return 2;
    }
    steps.push_back(*step);
  }
  signal(SIGPIPE, SIG_IGN);
  return hyp::tools::run(steps);
}
