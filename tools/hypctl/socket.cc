#include "tools/hypctl/socket.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace hyp::tools {

std::string control_socket_path(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("HYP_CONTROL_SOCKET");
  if (env != nullptr && env[0] != '\0') return env;
  const char* tmp = std::getenv("TMPDIR");
  std::string path = absl::StrCat(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp", "/hyp-control-", getuid(), ".sock");
  // A Unix socket's path has at most 107 bytes (sun_path); a deep $TMPDIR
  // (Bazel's test directories) has more.
  if (path.size() >= kMaxSocketPath) path = absl::StrCat("/tmp/hyp-control-", getuid(), ".sock");
  return path;
}

}  // namespace hyp::tools
