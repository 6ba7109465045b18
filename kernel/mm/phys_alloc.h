// The kernel's allocator of physical memory for partitions: RAM from the
// device tree, minus what is already in use (the kernel image, the device
// tree, the boot package), handed out top-down in aligned chunks. Memory is
// never returned yet: partitions live as long as the machine.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/addr.h"
#include "base/status.h"

namespace hyp {

class PhysAllocator {
 public:
  static constexpr size_t kMaxRanges = 16;

  // Adds free RAM. kOutOfRange when the range table is full.
  Status add(Pa base, uint64_t size);
  // Removes [base, base + size) from the free ranges (parts not free are ignored).
  Status reserve(Pa base, uint64_t size);
  // `size` bytes aligned to `align` (a power of two), from the highest
  // address that fits. kNoMemory if nothing does.
  Result<Pa> alloc(uint64_t size, uint64_t align);

  uint64_t free_bytes() const;

 private:
  struct Range {
    uint64_t start;
    uint64_t end;
  };
  std::array<Range, kMaxRanges> ranges_{};
  size_t count_ = 0;
};

}  // namespace hyp
