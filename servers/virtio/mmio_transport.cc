#include "servers/virtio/mmio_transport.h"

namespace hyp::virtio {
namespace {

// Register offsets (virtio 1.x, "MMIO Device Register Layout").
enum Reg : uint64_t {
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

void set_half(uint64_t& value, bool high, uint64_t half) {
  const unsigned shift = high ? 32 : 0;
  value = (value & ~(uint64_t{0xffff'ffff} << shift)) | ((half & 0xffff'ffff) << shift);
}

}  // namespace

uint64_t MmioTransport::offered() const {
  return device_.features() | kFeatureVersion1 | kFeatureEventIdx | kFeatureIndirectDesc;
}

uint64_t MmioTransport::read(uint64_t offset, unsigned width) {
  if (offset >= kConfig) {
    const uint64_t at = offset - kConfig;
    if (at + width > device_.config_size()) return 0;
    return device_.config_read(static_cast<uint32_t>(at), width);
  }
  if (width != 4) return 0;
  const bool queue_valid = queue_sel_ < device_.queue_count() && queue_sel_ < kMaxQueues;
  switch (offset) {
    case kMagicValue:
      return kMagic;
    case kVersion:
      return 2;
    case kDeviceId:
      return device_.device_id();
    case kVendorId:
      return kVendor;
    case kDeviceFeatures:
      return device_features_sel_ < 2 ? (offered() >> (32 * device_features_sel_)) & 0xffff'ffff : 0;
    case kQueueNumMax:
      return queue_valid ? device_.queue_max(queue_sel_) : 0;
    case kQueueReady:
      return queue_valid && queues_[queue_sel_].ready ? 1 : 0;
    case kInterruptStatus:
      return interrupt_status_;
    case kStatus:
      return status_;
    case kShmLenLow:
    case kShmLenHigh:
      return 0xffff'ffff;  // no shared memory regions
    case kConfigGeneration:
      return config_generation_;
    default:
      return 0;
  }
}

void MmioTransport::write(uint64_t offset, unsigned width, uint64_t value) {
  if (offset >= kConfig) {
    const uint64_t at = offset - kConfig;
    if (at + width <= device_.config_size()) device_.config_write(static_cast<uint32_t>(at), width, value);
    return;
  }
  if (width != 4) return;
  value &= 0xffff'ffff;
  const bool queue_valid = queue_sel_ < device_.queue_count() && queue_sel_ < kMaxQueues;
  // A queue's registers change only while it is not in use.
  Queue* q = queue_valid && !queues_[queue_sel_].ready ? &queues_[queue_sel_] : nullptr;
  switch (offset) {
    case kDeviceFeaturesSel:
      device_features_sel_ = static_cast<uint32_t>(value);
      break;
    case kDriverFeatures:
      if ((status_ & kStatusFeaturesOk) == 0 && driver_features_sel_ < 2) {
        set_half(driver_features_, driver_features_sel_ == 1, value);
      }
      break;
    case kDriverFeaturesSel:
      driver_features_sel_ = static_cast<uint32_t>(value);
      break;
    case kQueueSel:
      queue_sel_ = static_cast<uint32_t>(value);
      break;
    case kQueueNum:
      if (q != nullptr) q->num = static_cast<uint32_t>(value);
      break;
    case kQueueReady:
      if (queue_valid) set_ready(queues_[queue_sel_], virtqueues_[queue_sel_], value);
      break;
    case kQueueNotify:
      if (value < device_.queue_count() && value < kMaxQueues) run_queue(static_cast<uint32_t>(value));
      break;
    case kInterruptAck:
      interrupt_status_ &= ~static_cast<uint32_t>(value);
      break;
    case kStatus:
      write_status(static_cast<uint32_t>(value));
      break;
    case kQueueDescLow:
    case kQueueDescHigh:
      if (q != nullptr) set_half(q->desc, offset == kQueueDescHigh, value);
      break;
    case kQueueDriverLow:
    case kQueueDriverHigh:
      if (q != nullptr) set_half(q->driver, offset == kQueueDriverHigh, value);
      break;
    case kQueueDeviceLow:
    case kQueueDeviceHigh:
      if (q != nullptr) set_half(q->device, offset == kQueueDeviceHigh, value);
      break;
    default:
      break;
  }
}

void MmioTransport::reset() {
  device_.reset();
  status_ = 0;
  device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
  driver_features_ = 0;
  interrupt_status_ = 0;
  for (uint32_t i = 0; i < kMaxQueues; ++i) {
    queues_[i] = Queue{};
    virtqueues_[i].reset();
  }
}

void MmioTransport::write_status(uint32_t value) {
  if (value == 0) {
    reset();
    return;
  }
  // The driver sets bits, in order; DEVICE_NEEDS_RESET is the device's.
  uint32_t next = (status_ | value) & ~kStatusNeedsReset;
  if ((next & kStatusFeaturesOk) != 0 && (status_ & kStatusFeaturesOk) == 0) {
    const bool acceptable = (driver_features_ & ~offered()) == 0 && (driver_features_ & kFeatureVersion1) != 0 &&
                            (status_ & kStatusDriver) != 0;
    if (!acceptable) next &= ~kStatusFeaturesOk;
  }
  if ((next & kStatusFeaturesOk) == 0) next &= ~kStatusDriverOk;
  status_ = next | (status_ & kStatusNeedsReset);
}

void MmioTransport::set_ready(Queue& q, Virtqueue& vq, uint64_t value) {
  if (value == 0) {
    if (q.ready) device_.queue_stopped(static_cast<uint32_t>(&q - queues_));
    q.ready = false;
    vq.reset();
    return;
  }
  if (q.ready) return;
  const uint32_t index = static_cast<uint32_t>(&q - queues_);
  const bool negotiated = (status_ & kStatusFeaturesOk) != 0;
  if (!negotiated || q.num > device_.queue_max(index) ||
      !vq.setup(&memory_, q.num, q.desc, q.driver, q.device, (driver_features_ & kFeatureEventIdx) != 0,
                (driver_features_ & kFeatureIndirectDesc) != 0)) {
    needs_reset();
    return;
  }
  q.ready = true;
}

void MmioTransport::run_queue(uint32_t queue) {
  if (queue >= kMaxQueues || !queues_[queue].ready || (status_ & kStatusDriverOk) == 0 ||
      (status_ & kStatusNeedsReset) != 0) {
    return;
  }
  Virtqueue& vq = virtqueues_[queue];
  if (device_.notify(queue, vq, driver_features_)) interrupt_status_ |= kInterruptUsedBuffer;
  if (vq.broken()) needs_reset();
}

void MmioTransport::needs_reset() {
  status_ |= kStatusNeedsReset;
  if ((status_ & kStatusDriverOk) != 0) interrupt_status_ |= kInterruptConfigChange;
}

void MmioTransport::config_changed() {
  ++config_generation_;
  if ((status_ & kStatusDriverOk) != 0) interrupt_status_ |= kInterruptConfigChange;
}

}  // namespace hyp::virtio
