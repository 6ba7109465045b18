// hypctl: the host's control tool (docs/control.md). Sends one command to
// a running //:qemu_linux or //:qemu_guest over its control channel (the
// Unix socket of the virtio-console the control server drives) and prints
// the answer, one JSON object.
//
//   bazel run //tools:hypctl -- [--socket=PATH] [--timeout=SECONDS] COMMAND [ARG]
//   ... | hypctl --raw=N      (the bytes as they are; the first N answers)
//
// Exit status: 0 the command did what it said ("ok":true), 1 the
// hypervisor refused it ("ok":false, the answer says why), 2 usage, or no
// answer (nothing listens at the socket, or nothing came in time).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "tools/hypctl/socket.h"

ABSL_FLAG(std::string, socket, "", "the control channel's socket (default: the launcher's)");
ABSL_FLAG(int, timeout, 10, "seconds to wait for the answer");
ABSL_FLAG(int, raw, 0,
          "send standard input to the channel as it is (no command from the arguments) and print the first N "
          "answer lines; for testing the protocol");

namespace {

int fail(const std::string& why) {
  std::fprintf(stderr, "hypctl: %s\n", why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "hypctl [--socket=PATH] COMMAND [ARG]: list, stats [NAME], restart NAME, stop NAME, start NAME, add NAME, "
      "help (docs/control.md)");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  const int raw = absl::GetFlag(FLAGS_raw);
  std::string request;
  if (raw > 0) {
    if (rest.size() > 1) return fail("--raw takes its input from standard input, not the arguments");
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), stdin)) > 0) request.append(buf, n);
  } else {
    if (rest.size() < 2) return fail("give a command (hypctl help)");
    const std::string line = absl::StrJoin(rest.begin() + 1, rest.end(), " ");
    if (line.find('\n') != std::string::npos || line.find('\x15') != std::string::npos) {
      return fail("a command is one line");
    }
    // Ctrl-U first: a line an earlier client left unfinished is dropped.
    request = "\x15" + line + "\n";
  }
  const size_t lines = raw > 0 ? static_cast<size_t>(raw) : 1;
  const std::string path = hyp::tools::control_socket_path(absl::GetFlag(FLAGS_socket));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return fail("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fail("nothing listens at " + path + " (" + std::strerror(errno) +
                "): is a system running with a control server?");
  }
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    return fail(std::string("write: ") + std::strerror(errno));
  }
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_timeout));
  auto complete = [&] { return static_cast<size_t>(std::count(answer.begin(), answer.end(), '\n')) >= lines; };
  while (!complete()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail("no answer within the timeout");
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return fail("the channel closed without an answer");
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t end = 0;
  for (size_t i = 0; i < lines; ++i) end = answer.find('\n', end) + 1;
  answer.resize(end);
  std::fwrite(answer.data(), 1, answer.size(), stdout);
  if (raw > 0) return 0;
  return answer.rfind("{\"ok\":true,", 0) == 0 ? 0 : 1;
}
