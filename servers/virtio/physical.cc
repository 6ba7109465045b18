#include "servers/virtio/physical.h"

#include <cstring>

#include "servers/virtio/mmio_registers.h"
#include "servers/virtio/mmio_transport.h"
#include "servers/virtio/virtqueue.h"

namespace hyp::virtio {
namespace {

// Ordering of the server's memory accesses as the device sees them: what
// it must find written before it is told (a descriptor before the index
// that publishes it, the ring before the notification), and what the
// device published before it is read.
inline void before_device_reads() {
#if defined(__aarch64__)
  asm volatile("dmb oshst" ::: "memory");
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}
inline void after_device_wrote() {
#if defined(__aarch64__)
  asm volatile("dmb oshld" ::: "memory");
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

uint16_t load16(const uint8_t* p) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_RELAXED);
}
void store16(uint8_t* p, uint16_t v) { __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, __ATOMIC_RELAXED); }
uint32_t load32(const uint8_t* p) {
  return __atomic_load_n(reinterpret_cast<const uint32_t*>(p), __ATOMIC_RELAXED);
}

// A reset is done when Status reads 0 again; a device that never gets
// there is not one we can drive.
bool reset(Registers& regs) {
  regs.write32(reg::kStatus, 0);
  for (int i = 0; i < 1'000'000; ++i) {
    if (regs.read32(reg::kStatus) == 0) return true;
  }
  return false;
}

}  // namespace

const char* describe(PhysicalDevice::Start s) {
  switch (s) {
    case PhysicalDevice::Start::kOk:
      return "started";
    case PhysicalDevice::Start::kNoDevice:
      return "no virtio-mmio version 2 device";
    case PhysicalDevice::Start::kWrongDevice:
      return "another device";
    case PhysicalDevice::Start::kFeatures:
      return "features not accepted";
    case PhysicalDevice::Start::kQueue:
      return "queue 0 not usable";
    case PhysicalDevice::Start::kMemory:
      return "DMA memory too small";
  }
  return "?";
}

bool DmaMemory::carve(uint64_t bytes, uint64_t align, DmaMemory& out) {
  const uint64_t skip = (align - (pa & (align - 1))) & (align - 1);
  if (skip > size || bytes > size - skip) return false;
  out = {va + skip, pa + skip, bytes};
  va += skip + bytes;
  pa += skip + bytes;
  size -= skip + bytes;
  return true;
}

PhysicalDevice::Start PhysicalDevice::start(Registers& regs, uint32_t device_id, uint64_t optional, uint32_t slots,
                                            DmaMemory& memory) {
  regs_ = nullptr;
  if (regs.read32(reg::kMagicValue) != reg::kMagic || regs.read32(reg::kVersion) != 2 ||
      regs.read32(reg::kDeviceId) == 0) {
    return Start::kNoDevice;
  }
  if (regs.read32(reg::kDeviceId) != device_id) return Start::kWrongDevice;
  if (!reset(regs)) return Start::kNoDevice;
  regs.write32(reg::kStatus, kStatusAcknowledge);
  regs.write32(reg::kStatus, kStatusAcknowledge | kStatusDriver);
  uint64_t offered = 0;
  for (uint32_t half = 0; half < 2; ++half) {
    regs.write32(reg::kDeviceFeaturesSel, half);
    offered |= uint64_t{regs.read32(reg::kDeviceFeatures)} << (32 * half);
  }
  constexpr uint64_t kRequired = kFeatureVersion1 | kFeatureIndirectDesc;
  if ((offered & kRequired) != kRequired) return Start::kFeatures;
  features_ = kRequired | (offered & optional & ~kFeatureEventIdx);
  for (uint32_t half = 0; half < 2; ++half) {
    regs.write32(reg::kDriverFeaturesSel, half);
    regs.write32(reg::kDriverFeatures, static_cast<uint32_t>(features_ >> (32 * half)));
  }
  regs.write32(reg::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
  if ((regs.read32(reg::kStatus) & kStatusFeaturesOk) == 0) return Start::kFeatures;

  regs.write32(reg::kQueueSel, 0);
  const uint32_t max = regs.read32(reg::kQueueNumMax);
  if (max == 0 || regs.read32(reg::kQueueReady) != 0) return Start::kQueue;
  size_ = kMaxSlots;
  while (size_ > max || size_ > slots) size_ /= 2;
  if (size_ == 0) return Start::kQueue;
  DmaMemory desc, avail, used;
  if (!memory.carve(16ull * size_, 16, desc) || !memory.carve(6 + 2ull * size_, 2, avail) ||
      !memory.carve(6 + 8ull * size_, 4, used) || !memory.carve(16ull * kMaxSegments * size_, 16, tables_)) {
    return Start::kMemory;
  }
  std::memset(desc.va, 0, desc.size);
  std::memset(avail.va, 0, avail.size);
  std::memset(used.va, 0, used.size);
  desc_ = reinterpret_cast<Desc*>(desc.va);
  avail_ = avail.va;
  used_ = used.va;
  avail_idx_ = used_seen_ = 0;
  in_flight_ = 0;
  free_count_ = 0;
  for (uint32_t i = size_; i > 0; --i) {
    free_[free_count_++] = static_cast<uint16_t>(i - 1);
    busy_[i - 1] = false;
  }
  regs.write32(reg::kQueueNum, size_);
  const struct {
    uint32_t low;  // the register of the low half; the high half's follows
    uint64_t pa;
  } parts[] = {{reg::kQueueDescLow, desc.pa}, {reg::kQueueDriverLow, avail.pa}, {reg::kQueueDeviceLow, used.pa}};
  for (const auto& part : parts) {
    regs.write32(part.low, static_cast<uint32_t>(part.pa));
    regs.write32(part.low + 4, static_cast<uint32_t>(part.pa >> 32));
  }
  before_device_reads();
  regs.write32(reg::kQueueReady, 1);
  regs.write32(reg::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  if ((regs.read32(reg::kStatus) & (kStatusNeedsReset | kStatusFailed)) != 0) return Start::kQueue;
  regs_ = &regs;
  return Start::kOk;
}

void PhysicalDevice::stop() {
  if (regs_ == nullptr) return;
  (void)reset(*regs_);
  regs_ = nullptr;
}

uint64_t PhysicalDevice::config(uint32_t offset, unsigned width) {
  if (regs_ == nullptr || (width != 1 && width != 2 && width != 4 && width != 8)) return 0;
  for (;;) {
    const uint32_t generation = regs_->read32(reg::kConfigGeneration);
    uint64_t value = 0;
    // Fields of 8 bytes are read as two words; narrower ones from their word.
    const uint32_t word = (offset & ~3u);
    if (width == 8) {
      value = regs_->read32(reg::kConfig + word) | uint64_t{regs_->read32(reg::kConfig + word + 4)} << 32;
    } else {
      value = regs_->read32(reg::kConfig + word) >> (8 * (offset & 3));
      value &= (uint64_t{1} << (8 * width)) - 1;
    }
    if (regs_->read32(reg::kConfigGeneration) == generation) return value;
  }
}

bool PhysicalDevice::submit(const Segment* segments, uint32_t count, uint16_t& slot) {
  if (regs_ == nullptr || free_count_ == 0 || count == 0 || count > kMaxSegments) return false;
  for (uint32_t i = 1; i < count; ++i) {
    if (segments[i - 1].write && !segments[i].write) return false;
  }
  slot = free_[--free_count_];
  busy_[slot] = true;
  ++in_flight_;
  Desc* table = reinterpret_cast<Desc*>(tables_.va) + uint64_t{slot} * kMaxSegments;
  for (uint32_t i = 0; i < count; ++i) {
    const bool last = i + 1 == count;
    table[i] = {segments[i].pa, segments[i].len,
                static_cast<uint16_t>((segments[i].write ? kDescWrite : 0) | (last ? 0 : kDescNext)),
                static_cast<uint16_t>(last ? 0 : i + 1)};
  }
  desc_[slot] = {tables_.pa + uint64_t{slot} * kMaxSegments * sizeof(Desc), count * uint32_t{sizeof(Desc)},
                 kDescIndirect, 0};
  store16(avail_ + 4 + 2 * (avail_idx_ % size_), slot);
  ++avail_idx_;
  before_device_reads();
  store16(avail_ + 2, avail_idx_);
  return true;
}

void PhysicalDevice::kick() {
  if (regs_ == nullptr) return;
  before_device_reads();
  regs_->write32(reg::kQueueNotify, 0);
}

bool PhysicalDevice::complete(uint16_t& slot, uint32_t& written) {
  if (regs_ == nullptr) return false;
  while (used_seen_ != load16(used_ + 2)) {
    after_device_wrote();
    const uint8_t* e = used_ + 4 + 8 * (used_seen_ % size_);
    const uint32_t id = load32(e);
    written = load32(e + 4);
    ++used_seen_;
    if (id >= size_ || !busy_[id]) {
      ++bogus_;
      continue;
    }
    busy_[id] = false;
    free_[free_count_++] = static_cast<uint16_t>(id);
    --in_flight_;
    slot = static_cast<uint16_t>(id);
    return true;
  }
  return false;
}

uint32_t PhysicalDevice::acknowledge() {
  if (regs_ == nullptr) return 0;
  const uint32_t status = regs_->read32(reg::kInterruptStatus);
  if (status != 0) regs_->write32(reg::kInterruptAck, status);
  return status;
}

}  // namespace hyp::virtio
