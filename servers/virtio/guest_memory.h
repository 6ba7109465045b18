// Guest memory as a device server reaches it: the ranges of a guest's
// physical address space (IPAs) that the kernel granted the server, each
// at a known address of the server's own (docs/ffa.md, "Boot grants").
// Every access a virtio device makes on the guest's behalf goes through
// translate(), which refuses anything not wholly inside one granted range:
// the guest chooses every address a driver hands the device.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hyp::virtio {

class GuestMemory {
 public:
  static constexpr size_t kMaxRanges = 4;

  // Adds the guest's [ipa, ipa + size), at `host` in the server. False if
  // full, empty, wrapping or overlapping another range.
  bool add(uint64_t ipa, uint64_t size, uint8_t* host) {
    if (count_ == kMaxRanges || size == 0 || ipa + size < ipa) return false;
    for (size_t i = 0; i < count_; ++i) {
      if (ipa < ranges_[i].ipa + ranges_[i].size && ranges_[i].ipa < ipa + size) return false;
    }
    ranges_[count_++] = {ipa, size, host};
    return true;
  }

  // Where the guest's [ipa, ipa + bytes) is in the server, or null if not
  // all of it is granted (bytes 0: null).
  uint8_t* translate(uint64_t ipa, uint64_t bytes) const {
    if (bytes == 0) return nullptr;
    for (size_t i = 0; i < count_; ++i) {
      const Range& r = ranges_[i];
      if (ipa >= r.ipa && bytes <= r.size && ipa - r.ipa <= r.size - bytes) return r.host + (ipa - r.ipa);
    }
    return nullptr;
  }

 private:
  struct Range {
    uint64_t ipa;
    uint64_t size;
    uint8_t* host;
  };
  Range ranges_[kMaxRanges] = {};
  size_t count_ = 0;
};

}  // namespace hyp::virtio
