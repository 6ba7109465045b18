#include "servers/virtio/physical_disk.h"

namespace hyp::virtio {

PhysicalDevice::Start PhysicalDisk::start(Registers& regs, DmaMemory& pool, const GuestDma& dma) {
  regs_ = &regs;
  dma_ = &dma;
  failed_count_ = 0;
  if (!pool.carve(sizeof(Own) * BlkDevice::kQueueMax, 64, own_)) return PhysicalDevice::Start::kMemory;
  ring_ = pool;
  DmaMemory ring = ring_;
  const uint64_t optional = blk::kFeatureRo | blk::kFeatureFlush | blk::kFeatureDiscard | blk::kFeatureSizeMax |
                            blk::kFeatureSegMax | blk::kFeatureBlkSize;
  const PhysicalDevice::Start s = device_.start(regs, BlkDevice::kDeviceId, optional, kSlots, ring);
  if (s == PhysicalDevice::Start::kOk) pool = ring;
  return s;
}

DiskInfo PhysicalDisk::info() {
  DiskInfo d;
  const uint64_t f = device_.features();
  d.sectors = device_.config(0, 8);
  d.read_only = (f & blk::kFeatureRo) != 0;
  d.flush = (f & blk::kFeatureFlush) != 0;
  if ((f & blk::kFeatureSizeMax) != 0) d.size_max = static_cast<uint32_t>(device_.config(8, 4));
  if ((f & blk::kFeatureBlkSize) != 0) d.blk_size = static_cast<uint32_t>(device_.config(20, 4));
  // Our requests have up to BlkDevice::kSegMax data segments (seg_max
  // counts data segments, as Linux reads it): a disk that takes fewer is
  // not one this backend can serve, and shows as empty.
  if ((f & blk::kFeatureSegMax) != 0 && device_.config(12, 4) < BlkDevice::kSegMax) d.sectors = 0;
  if ((f & blk::kFeatureDiscard) != 0) {
    d.discard = true;
    d.max_discard_sectors = static_cast<uint32_t>(device_.config(36, 4));
    d.max_discard_segments = static_cast<uint32_t>(device_.config(40, 4));
    d.discard_alignment = static_cast<uint32_t>(device_.config(44, 4));
  }
  return d;
}

bool PhysicalDisk::submit(uint16_t tag, const BlockRequest& r) {
  if (tag >= BlkDevice::kQueueMax || !device_.live()) return false;
  Own* o = own(tag);
  o->type = r.type;
  o->reserved = 0;
  o->sector = r.type == blk::kDiscard ? 0 : r.sector;
  o->status = 0xff;
  Segment segs[PhysicalDevice::kMaxSegments];
  uint32_t n = 0;
  segs[n++] = {own_pa(tag), 16, false};
  if (r.type == blk::kDiscard) {
    for (uint32_t i = 0; i < r.discards; ++i) o->discard[i] = r.discard[i];
    segs[n++] = {own_pa(tag) + 16, static_cast<uint32_t>(r.discards * sizeof(blk::DiscardSegment)), false};
  }
  for (uint32_t i = 0; i < r.count && n + 1 < PhysicalDevice::kMaxSegments; ++i) {
    const uint64_t pa = dma_->physical(r.data[i].ipa, r.data[i].len);
    if (pa == 0) {
      failed_[failed_count_++] = tag;
      return true;
    }
    segs[n++] = {pa, r.data[i].len, r.data[i].write};
  }
  segs[n++] = {own_pa(tag) + __builtin_offsetof(Own, status), 1, true};
  uint16_t slot = 0;
  if (!device_.submit(segs, n, slot)) return false;
  tag_of_[slot] = tag;
  device_.kick();
  return true;
}

bool PhysicalDisk::finished(uint16_t& tag, uint8_t& status) {
  if (failed_count_ != 0) {
    tag = failed_[--failed_count_];
    status = blk::kIoError;
    return true;
  }
  uint16_t slot = 0;
  uint32_t written = 0;
  if (!device_.complete(slot, written)) return false;
  tag = tag_of_[slot];
  status = __atomic_load_n(&own(tag)->status, __ATOMIC_RELAXED) == blk::kOk ? blk::kOk : blk::kIoError;
  return true;
}

void PhysicalDisk::cancel() {
  failed_count_ = 0;
  if (regs_ == nullptr) return;
  device_.stop();  // the reset waits for the disk: nothing is written after it
  DmaMemory ring = ring_;
  (void)device_.start(*regs_, BlkDevice::kDeviceId, device_.features(), kSlots, ring);
}

}  // namespace hyp::virtio
