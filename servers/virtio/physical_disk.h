// A virtio-blk device model's backend on a physical virtio-blk device
// (PhysicalDevice): each checked guest request becomes one physical
// request whose data segments are the guest's own buffers, by physical
// address (no copy), and whose header, discard segments and status are
// the server's, in its DMA pool: the guest can change its copy of a
// request after the device model checked it, but not what the disk is
// told. A data buffer without a physical address (outside every grant
// with one) fails its request with IOERR.
#pragma once

#include <cstdint>

#include "servers/virtio/blk_device.h"
#include "servers/virtio/physical.h"

namespace hyp::virtio {

// Where guest memory is for a device: the physical address of the guest's
// [ipa, ipa + len), or 0 if it has none.
class GuestDma {
 public:
  virtual uint64_t physical(uint64_t ipa, uint64_t len) const = 0;

 protected:
  ~GuestDma() = default;
};

class PhysicalDisk final : public BlockBackend {
 public:
  // Requests out at once on the physical device.
  static constexpr uint32_t kSlots = 64;

  // Starts the virtio-blk device at `regs`, with its ring and this
  // backend's per-request memory carved from `pool`.
  PhysicalDevice::Start start(Registers& regs, DmaMemory& pool, const GuestDma& dma);
  // The disk as the physical device describes it.
  DiskInfo info();
  PhysicalDevice& device() { return device_; }

  bool submit(uint16_t tag, const BlockRequest& request) override;
  bool finished(uint16_t& tag, uint8_t& status) override;
  void cancel() override;

 private:
  // The server's part of request `tag`: what the disk reads and writes
  // besides the guest's data.
  struct Own {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
    blk::DiscardSegment discard[blk::kMaxDiscardSegments];
    uint8_t status;
    uint8_t pad[15];
  };
  Own* own(uint16_t tag) { return reinterpret_cast<Own*>(own_.va) + tag; }
  uint64_t own_pa(uint16_t tag) const { return own_.pa + uint64_t{tag} * sizeof(Own); }

  Registers* regs_ = nullptr;
  const GuestDma* dma_ = nullptr;
  PhysicalDevice device_;
  DmaMemory ring_;  // what the device's queue is carved from, again at a cancel
  DmaMemory own_;
  uint16_t tag_of_[PhysicalDevice::kMaxSlots] = {};
  // A request refused before it reached the disk: finished at once.
  uint16_t failed_[BlkDevice::kQueueMax] = {};
  uint32_t failed_count_ = 0;
};

}  // namespace hyp::virtio
