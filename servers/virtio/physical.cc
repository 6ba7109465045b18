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
                                            DmaMemory& memory, uint32_t queues) {
  regs_ = nullptr;
  queues_ = 0;
  if (queues == 0 || queues > kMaxQueues) return Start::kQueue;
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

  for (uint32_t q = 0; q < queues; ++q) {
    if (const Start st = setup_queue(regs, q, slots, memory); st != Start::kOk) return st;
  }
  regs.write32(reg::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  if ((regs.read32(reg::kStatus) & (kStatusNeedsReset | kStatusFailed)) != 0) return Start::kQueue;
  regs_ = &regs;
  queues_ = queues;
  return Start::kOk;
}

PhysicalDevice::Start PhysicalDevice::setup_queue(Registers& regs, uint32_t index, uint32_t slots, DmaMemory& memory) {
  Queue& q = q_[index];
  regs.write32(reg::kQueueSel, index);
  const uint32_t max = regs.read32(reg::kQueueNumMax);
  if (max == 0 || regs.read32(reg::kQueueReady) != 0) return Start::kQueue;
  q.size = kMaxSlots;
  while (q.size > max || q.size > slots) q.size /= 2;
  if (q.size == 0) return Start::kQueue;
  DmaMemory desc, avail, used;
  if (!memory.carve(16ull * q.size, 16, desc) || !memory.carve(6 + 2ull * q.size, 2, avail) ||
      !memory.carve(6 + 8ull * q.size, 4, used) || !memory.carve(16ull * kMaxSegments * q.size, 16, q.tables)) {
    return Start::kMemory;
  }
  std::memset(desc.va, 0, desc.size);
  std::memset(avail.va, 0, avail.size);
  std::memset(used.va, 0, used.size);
  q.desc = reinterpret_cast<Desc*>(desc.va);
  q.avail = avail.va;
  q.used = used.va;
  q.avail_idx = q.used_seen = 0;
  q.in_flight = 0;
  q.free_count = 0;
  for (uint32_t i = q.size; i > 0; --i) {
    q.free[q.free_count++] = static_cast<uint16_t>(i - 1);
    q.busy[i - 1] = false;
  }
  regs.write32(reg::kQueueNum, q.size);
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

bool PhysicalDevice::submit(const Segment* segments, uint32_t count, uint16_t& slot, uint32_t index) {
  if (regs_ == nullptr || index >= queues_) return false;
  Queue& q = q_[index];
  if (q.free_count == 0 || count == 0 || count > kMaxSegments) return false;
  for (uint32_t i = 1; i < count; ++i) {
    if (segments[i - 1].write && !segments[i].write) return false;
  }
  slot = q.free[--q.free_count];
  q.busy[slot] = true;
  ++q.in_flight;
  Desc* table = reinterpret_cast<Desc*>(q.tables.va) + uint64_t{slot} * kMaxSegments;
  for (uint32_t i = 0; i < count; ++i) {
    const bool last = i + 1 == count;
    table[i] = {segments[i].pa, segments[i].len,
                static_cast<uint16_t>((segments[i].write ? kDescWrite : 0) | (last ? 0 : kDescNext)),
                static_cast<uint16_t>(last ? 0 : i + 1)};
  }
  q.desc[slot] = {q.tables.pa + uint64_t{slot} * kMaxSegments * sizeof(Desc), count * uint32_t{sizeof(Desc)},
                 kDescIndirect, 0};
  store16(q.avail + 4 + 2 * (q.avail_idx % q.size), slot);
  ++q.avail_idx;
  before_device_reads();
  store16(q.avail + 2, q.avail_idx);
  return true;
}

void PhysicalDevice::kick(uint32_t index) {
  if (regs_ == nullptr || index >= queues_) return;
  before_device_reads();
  regs_->write32(reg::kQueueNotify, index);
}

bool PhysicalDevice::complete(uint16_t& slot, uint32_t& written, uint32_t index) {
  if (regs_ == nullptr || index >= queues_) return false;
  Queue& q = q_[index];
  while (q.used_seen != load16(q.used + 2)) {
    after_device_wrote();
    const uint8_t* e = q.used + 4 + 8 * (q.used_seen % q.size);
    const uint32_t id = load32(e);
    written = load32(e + 4);
    ++q.used_seen;
    if (id >= q.size || !q.busy[id]) {
      ++bogus_;
      continue;
    }
    q.busy[id] = false;
    q.free[q.free_count++] = static_cast<uint16_t>(id);
    --q.in_flight;
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
