#include "tools/qemu/disk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hyp::tools {
namespace {

// 64M, 1G, 4096, 2K: bytes.
bool parse_size(const std::string& text, uint64_t& out) {
  if (text.empty()) return false;
  std::string digits = text;
  uint64_t unit = 1;
  switch (absl::ascii_toupper(static_cast<unsigned char>(text.back()))) {
    case 'K':
      unit = 1ull << 10;
      break;
    case 'M':
      unit = 1ull << 20;
      break;
    case 'G':
      unit = 1ull << 30;
      break;
    default:
      break;
  }
  if (unit != 1) digits.pop_back();
  uint64_t n = 0;
  if (!absl::SimpleAtoi(digits, &n) || n == 0 || n > (uint64_t{1} << 50) / unit) return false;
  out = n * unit;
  return true;
}

}  // namespace

absl::StatusOr<DiskSpec> parse_disk(const std::string& value) {
  std::vector<std::string> parts = absl::StrSplit(value, ',');
  DiskSpec d;
  d.path = parts[0];
  if (d.path.empty()) return absl::InvalidArgumentError("--disk needs a file: --disk=FILE[,size=64M][,format=raw|qcow2][,readonly]");
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (absl::StartsWith(p, "size=")) {
      if (!parse_size(p.substr(5), d.size) || d.size % 512 != 0) {
        return absl::InvalidArgumentError(absl::StrCat("--disk: size must be whole sectors, such as 64M, not '", p.substr(5), "'"));
      }
    } else if (absl::StartsWith(p, "format=")) {
      d.format = p.substr(7);
      if (d.format != "raw" && d.format != "qcow2") {
        return absl::InvalidArgumentError(absl::StrCat("--disk: format must be raw or qcow2, not '", d.format, "'"));
      }
    } else if (p == "readonly") {
      d.read_only = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--disk: unknown option '", p, "'"));
    }
  }
  if (d.format.empty()) d.format = absl::EndsWith(d.path, ".qcow2") ? "qcow2" : "raw";
  if (d.path.find_first_of(",=") != std::string::npos) {
    return absl::InvalidArgumentError("--disk: the file name may not contain ',' or '='");
  }
  return d;
}

absl::StatusOr<std::vector<std::string>> prepare_disk(const DiskSpec& d, const std::string& qemu_img) {
  struct stat st;
  if (stat(d.path.c_str(), &st) != 0) {
    if (d.read_only) return absl::NotFoundError(absl::StrCat("--disk: ", d.path, " does not exist (readonly)"));
    if (d.format == "raw") {
      const int fd = open(d.path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0 || ftruncate(fd, static_cast<off_t>(d.size)) != 0) {
        if (fd >= 0) close(fd);
        return absl::InternalError(absl::StrCat("--disk: cannot create ", d.path));
      }
      close(fd);
    } else {
      const pid_t pid = fork();
      if (pid == 0) {
        const std::string size = absl::StrCat(d.size);
        execlp(qemu_img.c_str(), qemu_img.c_str(), "create", "-q", "-f", "qcow2", d.path.c_str(), size.c_str(),
               static_cast<char*>(nullptr));
        _exit(127);
      }
      int status = 0;
      if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return absl::InternalError(absl::StrCat("--disk: '", qemu_img, " create -f qcow2 ", d.path,
                                                "' failed (qemu-img is in Debian's qemu-utils)"));
      }
    }
  } else if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("--disk: ", d.path, " is not a file"));
  }
  return std::vector<std::string>{
      "-drive",
      absl::StrCat("file=", d.path, ",if=none,id=disk0,format=", d.format, d.read_only ? ",readonly=on" : ""),
      "-device",
      "virtio-blk-device,drive=disk0,bus=virtio-mmio-bus.0",
  };
}

}  // namespace hyp::tools
