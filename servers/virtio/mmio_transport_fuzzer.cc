// A guest driving the virtio-mmio transport at random: register reads and
// writes of any width and offset in the window, with guest memory (rings,
// descriptors, data) filled from the input, and a device model that takes
// and completes chains. AddressSanitizer checks that nothing outside the
// granted memory is touched; the transport's own rules are checked after
// each access.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "servers/virtio/mmio_transport.h"

namespace {

using namespace hyp::virtio;

constexpr uint64_t kRam = 0x4000'0000;
constexpr size_t kRamSize = 16 * 1024;

class Sink final : public VirtioDevice {
 public:
  explicit Sink(const GuestMemory& memory) : memory_(memory) {}
  uint32_t device_id() const override { return 2; }
  uint64_t features() const override { return 0x3; }
  uint32_t queue_count() const override { return 2; }
  uint32_t queue_max(uint32_t) const override { return 64; }
  uint32_t config_size() const override { return 12; }
  uint64_t config_read(uint32_t offset, unsigned width) override {
    if (offset + width > sizeof(config_)) __builtin_trap();
    uint64_t v = 0;
    std::memcpy(&v, config_ + offset, width);
    return v;
  }
  void config_write(uint32_t offset, unsigned width, uint64_t value) override {
    if (offset + width > sizeof(config_)) __builtin_trap();
    std::memcpy(config_ + offset, &value, width);
  }
  void reset() override {}
  bool notify(uint32_t queue, Virtqueue& q, uint64_t) override {
    if (queue >= 2 || !q.ready()) __builtin_trap();
    bool interrupt = false;
    Chain c;
    for (int i = 0; i < 16 && q.take(c) == Take::kChain; ++i) {
      for (uint32_t b = 0; b < c.count; ++b) {
        uint8_t* p = memory_.translate(c.buffers[b].ipa, c.buffers[b].len);
        if (c.buffers[b].len != 0 && p == nullptr) __builtin_trap();
        if (c.buffers[b].write && p != nullptr) std::memset(p, 0xa5, c.buffers[b].len);
      }
      interrupt = q.put(c.head, c.writable) || interrupt;
    }
    return interrupt;
  }

 private:
  const GuestMemory& memory_;
  uint8_t config_[12] = {};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto* ram = new uint8_t[kRamSize];
  std::memset(ram, 0, kRamSize);
  const size_t fill = size < kRamSize / 2 ? size : kRamSize / 2;
  std::memcpy(ram, data, fill);  // the rings and descriptors live in the first half
  GuestMemory memory;
  (void)memory.add(kRam, kRamSize, ram);
  Sink device(memory);
  MmioTransport t(device, memory);
  // Most runs first bring the device up as a driver would, with the
  // features, queue size and queue placement the first bytes choose.
  if (size >= 8 && (data[0] & 1) != 0) {
    const uint64_t features = kFeatureVersion1 | (data[1] & 0x3u) | ((uint64_t{data[1]} & 0x30) << 24);
    t.write(0x070, 4, kStatusAcknowledge | kStatusDriver);
    t.write(0x024, 4, 0);
    t.write(0x020, 4, features & 0xffff'ffff);
    t.write(0x024, 4, 1);
    t.write(0x020, 4, features >> 32);
    t.write(0x070, 4, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    t.write(0x030, 4, data[2] % 2);
    t.write(0x038, 4, 1u << (data[3] % 7));
    t.write(0x080, 4, kRam + (data[4] % 64) * 16);
    t.write(0x090, 4, kRam + 0x800 + (data[5] % 128) * 2);
    t.write(0x0a0, 4, kRam + 0x1000 + (data[6] % 128) * 4);
    t.write(0x044, 4, 1);
    t.write(0x070, 4, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    t.write(0x050, 4, data[7] % 3);
  }
  // Then accesses of 10 bytes each: offset (2), width selector, write?, value (6).
  for (size_t at = 8; at + 10 <= size && at < 4000; at += 10) {
    const uint64_t offset = (data[at] | uint64_t{data[at + 1]} << 8) % MmioTransport::kWindow;
    const unsigned width = 1u << (data[at + 2] % 4);
    if (offset % width != 0) continue;  // the runtime sends only aligned accesses
    uint64_t value = 0;
    for (unsigned i = 0; i < 6; ++i) value |= uint64_t{data[at + 4 + i]} << (8 * i);
    // Addresses the driver gives point into the RAM now and then.
    if ((data[at + 3] & 0x80) != 0) value = kRam + (value % kRamSize);
    if ((data[at + 3] & 1) != 0) {
      t.write(offset, width, value);
    } else {
      (void)t.read(offset, width);
    }
    const uint32_t status = t.status();
    if ((status & kStatusDriverOk) != 0 && (status & kStatusFeaturesOk) == 0) __builtin_trap();
    if ((t.driver_features() & ~(uint64_t{0x3} | kFeatureVersion1 | kFeatureEventIdx | kFeatureIndirectDesc)) != 0 &&
        (status & kStatusFeaturesOk) != 0) {
      __builtin_trap();
    }
  }
  delete[] ram;
  return 0;
}
