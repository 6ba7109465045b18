// Register offsets of a virtio-mmio transport, version 2 (virtio 1.x,
// "MMIO Device Register Layout"), for both sides: the transport a server
// emulates and the physical ones it drives.
#pragma once

#include <cstdint>

namespace hyp::virtio::reg {

enum Reg : uint32_t {
  kMagicValue = 0x000,
  kVersion = 0x004,
  kDeviceId = 0x008,
  kVendorId = 0x00c,
  kDeviceFeatures = 0x010,
  kDeviceFeaturesSel = 0x014,
  kDriverFeatures = 0x020,
  kDriverFeaturesSel = 0x024,
  kQueueSel = 0x030,
  kQueueNumMax = 0x034,
  kQueueNum = 0x038,
  kQueueReady = 0x044,
  kQueueNotify = 0x050,
  kInterruptStatus = 0x060,
  kInterruptAck = 0x064,
  kStatus = 0x070,
  kQueueDescLow = 0x080,
  kQueueDescHigh = 0x084,
  kQueueDriverLow = 0x090,
  kQueueDriverHigh = 0x094,
  kQueueDeviceLow = 0x0a0,
  kQueueDeviceHigh = 0x0a4,
  kShmLenLow = 0x0b0,
  kShmLenHigh = 0x0b4,
  kConfigGeneration = 0x0fc,
  kConfig = 0x100,
};

inline constexpr uint32_t kMagic = 0x7472'6976;  // "virt"

}  // namespace hyp::virtio::reg
