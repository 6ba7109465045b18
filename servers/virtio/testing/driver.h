// A guest's side of virtio for the host tests: guest RAM granted to the
// device (1 MiB at kRam), and a virtio-mmio driver that writes the
// registers in the order Linux's virtio_mmio driver does and lays out a
// split virtqueue at fixed places in that RAM.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "servers/virtio/guest_memory.h"
#include "servers/virtio/mmio_transport.h"

namespace hyp::virtio::test_driver {

inline constexpr uint64_t kRam = 0x4000'0000;
inline constexpr uint64_t kRamSize = 1 << 20;
// Where the driver puts queue 0, and data, as IPAs.
inline constexpr uint64_t kDesc = kRam;
inline constexpr uint64_t kAvail = kRam + 0x1000;
inline constexpr uint64_t kUsed = kRam + 0x2000;
inline constexpr uint64_t kData = kRam + 0x10000;

// The guest's RAM, zeroed, and the device's grant of all of it.
class GuestRam {
 public:
  GuestRam() : bytes_(std::make_unique<uint8_t[]>(kRamSize)) {
    std::memset(bytes_.get(), 0, kRamSize);
    (void)memory.add(kRam, kRamSize, bytes_.get());
  }
  uint8_t* at(uint64_t ipa) { return bytes_.get() + (ipa - kRam); }
  template <typename T>
  void poke(uint64_t ipa, T v) {
    std::memcpy(at(ipa), &v, sizeof(v));
  }
  template <typename T>
  T peek(uint64_t ipa) {
    T v;
    std::memcpy(&v, at(ipa), sizeof(v));
    return v;
  }
  void clear(uint64_t bytes) { std::memset(bytes_.get(), 0, bytes); }

  GuestMemory memory;

 private:
  std::unique_ptr<uint8_t[]> bytes_;
};

// The driver's register accesses to `t` (32-bit, as virtio-mmio requires).
class MmioDriver {
 public:
  MmioDriver(MmioTransport& t, GuestRam& ram, uint32_t queue_size) : t_(t), ram_(ram), size_(queue_size) {}

  uint32_t r(uint64_t offset) { return static_cast<uint32_t>(t_.read(offset, 4)); }
  void w(uint64_t offset, uint64_t value) { t_.write(offset, 4, value); }

  // Reset, then up to FEATURES_OK with `features`: true if it stuck.
  bool negotiate(uint64_t features) {
    w(0x070, 0);
    w(0x070, kStatusAcknowledge);
    w(0x070, kStatusAcknowledge | kStatusDriver);
    w(0x024, 0);
    w(0x020, features & 0xffff'ffff);
    w(0x024, 1);
    w(0x020, features >> 32);
    w(0x070, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    return (r(0x070) & kStatusFeaturesOk) != 0;
  }
  // Queue 0 of `num` entries at the given places, then QueueReady.
  void queue(uint32_t num, uint64_t desc = kDesc, uint64_t avail = kAvail, uint64_t used = kUsed) {
    w(0x030, 0);
    w(0x038, num);
    w(0x080, desc & 0xffff'ffff);
    w(0x084, desc >> 32);
    w(0x090, avail & 0xffff'ffff);
    w(0x094, avail >> 32);
    w(0x0a0, used & 0xffff'ffff);
    w(0x0a4, used >> 32);
    w(0x044, 1);
  }
  void driver_ok() { w(0x070, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk); }
  // Negotiated, queue 0 at its usual place, DRIVER_OK: true if all stuck.
  bool start(uint64_t features) {
    if (!negotiate(features)) return false;
    queue(size_);
    driver_ok();
    return r(0x044) == 1 && (r(0x070) & kStatusDriverOk) != 0 && (r(0x070) & kStatusNeedsReset) == 0;
  }

  // Descriptor `slot` as one buffer of `len` bytes at kData + 0x100 *
  // slot, offered in the available ring (not notified).
  void offer(uint16_t slot, uint32_t len, uint16_t flags = kDescWrite, uint16_t next = 0) {
    ram_.poke<uint64_t>(kDesc + 16 * slot, kData + 0x100 * uint64_t{slot});
    ram_.poke<uint32_t>(kDesc + 16 * slot + 8, len);
    ram_.poke<uint16_t>(kDesc + 16 * slot + 12, flags);
    ram_.poke<uint16_t>(kDesc + 16 * slot + 14, next);
    const uint16_t idx = ram_.peek<uint16_t>(kAvail + 2);
    ram_.poke<uint16_t>(kAvail + 4 + 2 * (idx % size_), slot);
    ram_.poke<uint16_t>(kAvail + 2, static_cast<uint16_t>(idx + 1));
  }
  void notify(uint32_t queue = 0) { w(0x050, queue); }

  // A chain of `count` buffers in descriptors first, first + 1, ...
  // (linked by NEXT), offered in the available ring (not notified).
  struct Piece {
    uint64_t ipa;
    uint32_t len;
    bool write;
  };
  void offer_chain(const Piece* pieces, uint32_t count, uint16_t first) {
    for (uint32_t i = 0; i < count; ++i) {
      const uint64_t d = kDesc + 16 * uint64_t{static_cast<uint16_t>((first + i) % size_)};
      const bool more = i + 1 < count;
      ram_.poke<uint64_t>(d, pieces[i].ipa);
      ram_.poke<uint32_t>(d + 8, pieces[i].len);
      ram_.poke<uint16_t>(d + 12, static_cast<uint16_t>((pieces[i].write ? kDescWrite : 0) | (more ? kDescNext : 0)));
      ram_.poke<uint16_t>(d + 14, static_cast<uint16_t>((first + i + 1) % size_));
    }
    const uint16_t idx = ram_.peek<uint16_t>(kAvail + 2);
    ram_.poke<uint16_t>(kAvail + 4 + 2 * (idx % size_), first);
    ram_.poke<uint16_t>(kAvail + 2, static_cast<uint16_t>(idx + 1));
  }

  // The used ring: its index, and element `i`'s id and length.
  uint16_t used() { return ram_.peek<uint16_t>(kUsed + 2); }
  uint32_t used_id(uint16_t i) { return ram_.peek<uint32_t>(kUsed + 4 + 8 * (i % size_)); }
  uint32_t used_len(uint16_t i) { return ram_.peek<uint32_t>(kUsed + 4 + 8 * (i % size_) + 4); }

 private:
  MmioTransport& t_;
  GuestRam& ram_;
  uint32_t size_;
};

}  // namespace hyp::virtio::test_driver
