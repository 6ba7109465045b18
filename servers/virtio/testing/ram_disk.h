// A disk in memory for the host tests of the block device model and its
// physical backend: requests finish when the test says, in any order.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include "servers/virtio/blk_device.h"
#include "servers/virtio/testing/driver.h"

namespace hyp::virtio::test_driver {

inline constexpr uint64_t kSectors = 64;  // a 32 KiB disk
// Where the block tests' requests go in the guest's RAM.
inline constexpr uint64_t kHeader = kData;           // request headers, 16 bytes a slot
inline constexpr uint64_t kStatus = kData + 0x1000;  // status bytes, one a slot
inline constexpr uint64_t kBuf = kData + 0x2000;     // data

// A block request in slot `slot` (descriptors from 4 * slot): a header,
// then `data` pieces, then a status byte of its own (0xff until the device
// writes it); offered and notified.
inline void offer_request(GuestRam& ram, MmioDriver& driver, uint16_t slot, uint32_t type, uint64_t sector,
                          std::vector<MmioDriver::Piece> data) {
  ram.poke<uint32_t>(kHeader + 16 * slot, type);
  ram.poke<uint32_t>(kHeader + 16 * slot + 4, 0);
  ram.poke<uint64_t>(kHeader + 16 * slot + 8, sector);
  ram.poke<uint8_t>(kStatus + slot, 0xff);
  std::vector<MmioDriver::Piece> pieces = {{kHeader + 16 * slot, 16, false}};
  pieces.insert(pieces.end(), data.begin(), data.end());
  pieces.push_back({kStatus + slot, 1, true});
  driver.offer_chain(pieces.data(), static_cast<uint32_t>(pieces.size()), static_cast<uint16_t>(4 * slot));
  driver.notify();
}

class RamDisk final : public BlockBackend {
 public:
  explicit RamDisk(const GuestMemory& memory) : bytes(kSectors * blk::kSectorSize), memory_(memory) {}

  bool submit(uint16_t tag, const BlockRequest& r) override {
    if (out.size() == room) return false;
    out.push_back({tag, r});
    ++submitted;
    return true;
  }
  bool finished(uint16_t& tag, uint8_t& status) override {
    if (done.empty()) return false;
    tag = done.front().first;
    status = done.front().second;
    done.pop_front();
    return true;
  }
  void cancel() override {
    ++cancels;
    out.clear();
    done.clear();
  }

  // Carries out request `i` of those out (0: the oldest) and reports it.
  void finish(size_t i, uint8_t status = blk::kOk) {
    const std::pair<uint16_t, BlockRequest> taken = out[i];
    out.erase(out.begin() + static_cast<long>(i));
    if (status == blk::kOk) apply(taken.second);
    done.push_back({taken.first, status});
  }
  void finish_all() {
    while (!out.empty()) finish(0);
  }

  std::vector<uint8_t> bytes;
  std::vector<std::pair<uint16_t, BlockRequest>> out;
  std::deque<std::pair<uint16_t, uint8_t>> done;
  size_t room = 1000;
  int submitted = 0;
  int cancels = 0;
  int flushes = 0;
  std::vector<blk::DiscardSegment> discarded;

 private:
  void apply(const BlockRequest& r) {
    uint64_t at = r.sector * blk::kSectorSize;
    for (uint32_t i = 0; i < r.count; ++i) {
      uint8_t* p = memory_.translate(r.data[i].ipa, r.data[i].len);
      if (p == nullptr) {
        ADD_FAILURE() << "a request's data outside guest memory";
        return;
      }
      if (r.type == blk::kIn) std::memcpy(p, &bytes[at], r.data[i].len);
      if (r.type == blk::kOut) std::memcpy(&bytes[at], p, r.data[i].len);
      at += r.data[i].len;
    }
    if (r.type == blk::kFlush) ++flushes;
    for (uint32_t i = 0; i < r.discards; ++i) discarded.push_back(r.discard[i]);
  }
  const GuestMemory& memory_;
};

}  // namespace hyp::virtio::test_driver
