// Reading the boot package (package_format.h) at boot: every partition's
// shape and the blobs to copy into its memory, all validated.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/addr.h"
#include "base/status.h"
#include "kernel/boot/boot_info.h"
#include "kernel/boot/package_format.h"

namespace hyp {


struct PackageLoad {
  Ipa ipa;
  const uint8_t* data = nullptr;  // inside the package
  uint64_t size = 0;
};

struct PackagedPartition {
  std::array<char, package::kMaxNameLength + 1> name{};
  uint32_t vcpus = 0;
  Ipa ram_ipa;
  uint64_t ram_size = 0;
  Ipa entry;
  Ipa dtb;
  std::array<PackageLoad, package::kMaxLoads> loads{};
  size_t load_count = 0;
};

struct Package {
  std::array<PackagedPartition, package::kMaxPartitions> partitions{};
  size_t count = 0;
};

// Parses the package at `blob` (`size` bytes). Errors name the first problem
// in `error` (DtbError from boot_info.h).
Result<Package> parse_package(const void* blob, size_t size, DtbError& error);

}  // namespace hyp
