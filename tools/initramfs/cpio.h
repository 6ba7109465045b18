// An initramfs image: a cpio archive in the "newc" format the Linux kernel
// unpacks at boot (Documentation/driver-api/early-userspace/buffer-format),
// built from a short list of entries.
//
// The list, one entry per line (blank lines and lines starting with '#'
// ignored), paths absolute within the image:
//   dir   PATH MODE
//   file  PATH SOURCE MODE        SOURCE: a file on the host
//   slink PATH TARGET
//   nod   PATH MODE c|b MAJOR MINOR
// MODE is octal permission bits. Every entry is owned by root, timestamp 0,
// so the same inputs give the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hyp::tools {

struct CpioEntry {
  enum class Kind { kDir, kFile, kSymlink, kCharDev, kBlockDev };
  Kind kind = Kind::kFile;
  std::string path;  // without the leading '/'
  uint32_t mode = 0;  // permission bits
  std::string data;   // a file's contents, a symlink's target
  uint32_t major = 0, minor = 0;
};

// Parses the list; SOURCE files are read (relative to the working directory).
absl::StatusOr<std::vector<CpioEntry>> parse_entries(const std::string& list);

// The archive: every entry, then the trailer, padded to 512 bytes.
// Entries must have distinct paths, each under a directory listed before it
// (or at the top).
absl::StatusOr<std::string> build_cpio(const std::vector<CpioEntry>& entries);

}  // namespace hyp::tools
