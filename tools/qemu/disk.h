// The guest's disk, as --disk gives it to both the launcher and the test
// harness: FILE[,size=SIZE][,format=raw|qcow2][,readonly]. A missing FILE
// is created (raw: a sparse file; qcow2: by qemu-img, of Debian's
// qemu-utils) of SIZE (default 64M); an existing one is used as it is,
// its format from `format=` or else its name (.qcow2) or else raw. QEMU
// serves it as a virtio-blk device on virtio-mmio transport 0 (the block
// server's page, docs/servers.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hyp::tools {

struct DiskSpec {
  std::string path;
  uint64_t size = 64ull << 20;
  std::string format;  // "raw" or "qcow2"
  bool read_only = false;
};

// Parses the option's value; relative paths are left as they are.
absl::StatusOr<DiskSpec> parse_disk(const std::string& value);

// Creates the disk if it does not exist; then the QEMU arguments that
// attach it. `qemu_img` is the qemu-img binary (for qcow2).
absl::StatusOr<std::vector<std::string>> prepare_disk(const DiskSpec& disk, const std::string& qemu_img = "qemu-img");

}  // namespace hyp::tools
