#include "servers/virtio/mmio_transport.h"

#include "servers/virtio/mmio_registers.h"

namespace hyp::virtio {
namespace {

using namespace reg;  // NOLINT: the register names

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
  const bool queue_valid = s_->queue_sel < device_.queue_count() && s_->queue_sel < kMaxQueues;
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
      return s_->device_features_sel < 2 ? (offered() >> (32 * s_->device_features_sel)) & 0xffff'ffff : 0;
    case kQueueNumMax:
      return queue_valid ? device_.queue_max(s_->queue_sel) : 0;
    case kQueueReady:
      return queue_valid && s_->queues[s_->queue_sel].ready ? 1 : 0;
    case kInterruptStatus:
      raised_since_read_ = 0;
      return s_->interrupt_status;
    case kStatus:
      return s_->status;
    case kShmLenLow:
    case kShmLenHigh:
      return 0xffff'ffff;  // no shared memory regions
    case kConfigGeneration:
      return s_->config_generation;
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
  const bool queue_valid = s_->queue_sel < device_.queue_count() && s_->queue_sel < kMaxQueues;
  // A queue's registers change only while it is not in use.
  Queue* q = queue_valid && !s_->queues[s_->queue_sel].ready ? &s_->queues[s_->queue_sel] : nullptr;
  switch (offset) {
    case kDeviceFeaturesSel:
      s_->device_features_sel = static_cast<uint32_t>(value);
      break;
    case kDriverFeatures:
      if ((s_->status & kStatusFeaturesOk) == 0 && s_->driver_features_sel < 2) {
        set_half(s_->driver_features, s_->driver_features_sel == 1, value);
      }
      break;
    case kDriverFeaturesSel:
      s_->driver_features_sel = static_cast<uint32_t>(value);
      break;
    case kQueueSel:
      s_->queue_sel = static_cast<uint32_t>(value);
      break;
    case kQueueNum:
      if (q != nullptr) q->num = static_cast<uint32_t>(value);
      break;
    case kQueueReady:
      if (queue_valid) set_ready(s_->queues[s_->queue_sel], virtqueues_[s_->queue_sel], value);
      break;
    case kQueueNotify:
      if (value < device_.queue_count() && value < kMaxQueues) run_queue(static_cast<uint32_t>(value));
      break;
    case kInterruptAck:
      // Only what the driver could have seen: see raised_since_read_.
      s_->interrupt_status &= ~(static_cast<uint32_t>(value) & ~raised_since_read_);
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
  s_->status = 0;
  s_->device_features_sel = s_->driver_features_sel = s_->queue_sel = 0;
  s_->driver_features = 0;
  s_->interrupt_status = 0;
  raised_since_read_ = 0;
  for (uint32_t i = 0; i < kMaxQueues; ++i) {
    s_->queues[i] = Queue{};
    virtqueues_[i].reset();
  }
}

void MmioTransport::attach(TransportState* state, bool resumed) {
  s_ = state;
  for (Virtqueue& vq : virtqueues_) vq.reset();
  if (!resumed) {
    *s_ = TransportState{};
    return;
  }
  for (uint32_t i = 0; i < kMaxQueues; ++i) {
    Queue& q = s_->queues[i];
    if (q.ready == 0) continue;
    Virtqueue& vq = virtqueues_[i];
    // The saved setup passed these checks when the driver made it; the
    // grants it was checked against last as long as the system does.
    if (i >= device_.queue_count() || q.num > device_.queue_max(i) ||
        !vq.setup(&memory_, q.num, q.desc, q.driver, q.device, (s_->driver_features & kFeatureEventIdx) != 0,
                  (s_->driver_features & kFeatureIndirectDesc) != 0)) {
      q.ready = 0;
      needs_reset();
      continue;
    }
    const uint16_t used = vq.published_used();
    vq.resume(used, used);
  }
  if ((s_->status & kStatusDriverOk) != 0) raise(kInterruptUsedBuffer);
}

void MmioTransport::write_status(uint32_t value) {
  if (value == 0) {
    reset();
    return;
  }
  // The driver sets bits, in order; DEVICE_NEEDS_RESET is the device's.
  uint32_t next = (s_->status | value) & ~kStatusNeedsReset;
  if ((next & kStatusFeaturesOk) != 0 && (s_->status & kStatusFeaturesOk) == 0) {
    const bool acceptable = (s_->driver_features & ~offered()) == 0 && (s_->driver_features & kFeatureVersion1) != 0 &&
                            (s_->status & kStatusDriver) != 0;
    if (!acceptable) next &= ~kStatusFeaturesOk;
  }
  if ((next & kStatusFeaturesOk) == 0) next &= ~kStatusDriverOk;
  s_->status = next | (s_->status & kStatusNeedsReset);
}

void MmioTransport::set_ready(Queue& q, Virtqueue& vq, uint64_t value) {
  if (value == 0) {
    if (q.ready) device_.queue_stopped(static_cast<uint32_t>(&q - s_->queues));
    q.ready = false;
    vq.reset();
    return;
  }
  if (q.ready) return;
  const uint32_t index = static_cast<uint32_t>(&q - s_->queues);
  const bool negotiated = (s_->status & kStatusFeaturesOk) != 0;
  if (!negotiated || q.num > device_.queue_max(index) ||
      !vq.setup(&memory_, q.num, q.desc, q.driver, q.device, (s_->driver_features & kFeatureEventIdx) != 0,
                (s_->driver_features & kFeatureIndirectDesc) != 0)) {
    needs_reset();
    return;
  }
  q.ready = true;
}

void MmioTransport::run_queue(uint32_t queue) {
  if (queue >= kMaxQueues || !s_->queues[queue].ready || (s_->status & kStatusDriverOk) == 0 ||
      (s_->status & kStatusNeedsReset) != 0) {
    return;
  }
  Virtqueue& vq = virtqueues_[queue];
  if (device_.notify(queue, vq, s_->driver_features)) raise(kInterruptUsedBuffer);
  if (vq.broken()) needs_reset();
}

void MmioTransport::needs_reset() {
  s_->status |= kStatusNeedsReset;
  if ((s_->status & kStatusDriverOk) != 0) raise(kInterruptConfigChange);
}

void MmioTransport::config_changed() {
  ++s_->config_generation;
  if ((s_->status & kStatusDriverOk) != 0) raise(kInterruptConfigChange);
}

}  // namespace hyp::virtio
