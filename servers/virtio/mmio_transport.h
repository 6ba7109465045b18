// The virtio-mmio transport, version 2 (virtio 1.x, "Virtio Over MMIO"), as
// a device server emulates it for a guest: the register window, feature
// negotiation, the device status, queue setup and the interrupt status,
// around a device model (VirtioDevice) that does the device's own work.
// Every value the guest writes is checked:
//  - registers take 32-bit accesses only (other widths read 0 and are
//    ignored), the configuration space any width inside it;
//  - the driver's features must be ones the device offers, VERSION_1
//    among them, or FEATURES_OK does not stick;
//  - a queue is set up only while not ready, before DRIVER_OK, to a size
//    of at most its maximum; its parts must lie in granted memory
//    (Virtqueue::setup), or the device needs a reset;
//  - a queue the driver breaks (Virtqueue) makes the device need a reset:
//    DEVICE_NEEDS_RESET and a configuration-change interrupt, as the spec
//    says, until the driver writes 0 to Status.
//
// The registers live in a TransportState that a server keeps in its state
// page, so a new instance of the server (a planned restart or after a
// crash) goes on with the driver's setup: attach() with `resumed` sets the
// queues up again from it. Every device model here completes requests in
// the order it takes them, so the device's place in each queue is the used
// index the guest sees: a chain taken but not completed by the old
// instance is taken again, and none completed is taken twice.
#pragma once

#include <cstdint>

#include "servers/lib/mmio_device.h"
#include "servers/virtio/guest_memory.h"
#include "servers/virtio/virtqueue.h"

namespace hyp::virtio {

// Feature bits the transport itself offers (the device adds its own, 0..23).
inline constexpr uint64_t kFeatureIndirectDesc = uint64_t{1} << 28;
inline constexpr uint64_t kFeatureEventIdx = uint64_t{1} << 29;
inline constexpr uint64_t kFeatureVersion1 = uint64_t{1} << 32;

// Device status bits.
inline constexpr uint32_t kStatusAcknowledge = 1;
inline constexpr uint32_t kStatusDriver = 2;
inline constexpr uint32_t kStatusDriverOk = 4;
inline constexpr uint32_t kStatusFeaturesOk = 8;
inline constexpr uint32_t kStatusNeedsReset = 0x40;
inline constexpr uint32_t kStatusFailed = 0x80;

// InterruptStatus bits.
inline constexpr uint32_t kInterruptUsedBuffer = 1;
inline constexpr uint32_t kInterruptConfigChange = 2;

inline constexpr uint32_t kMaxQueues = 8;

// The transport's registers, as the driver wrote them: plain data, kept
// where it outlives a server instance.
struct TransportState {
  struct Queue {
    uint32_t num;
    uint32_t ready;
    uint64_t desc;
    uint64_t driver;
    uint64_t device;
  };
  uint32_t status;
  uint32_t device_features_sel;
  uint32_t driver_features_sel;
  uint32_t queue_sel;
  uint64_t driver_features;
  uint32_t interrupt_status;
  uint32_t config_generation;
  Queue queues[kMaxQueues];
};

class VirtioDevice {
 public:
  virtual uint32_t device_id() const = 0;
  // Device-specific feature bits (0..23 and 50..63 as the spec allots).
  virtual uint64_t features() const = 0;
  virtual uint32_t queue_count() const = 0;  // at most kMaxQueues
  virtual uint32_t queue_max(uint32_t queue) const = 0;
  // The configuration space: its size, and accesses inside it.
  virtual uint32_t config_size() const = 0;
  virtual uint64_t config_read(uint32_t offset, unsigned width) = 0;
  virtual void config_write(uint32_t offset, unsigned width, uint64_t value) = 0;
  // The driver reset the device (Status 0): back to its initial state.
  virtual void reset() = 0;
  // The driver stopped queue `queue` (QueueReady 0): what the device took
  // from it and has not completed is dropped.
  virtual void queue_stopped(uint32_t queue) { (void)queue; }
  // Queue `queue` has chains: the device takes what it can and completes
  // what it finishes (Virtqueue::put). Returns whether an interrupt is due
  // (put() said so for one of them).
  virtual bool notify(uint32_t queue, Virtqueue& q, uint64_t features) = 0;

 protected:
  ~VirtioDevice() = default;
};

class MmioTransport final : public server::MmioDevice {
 public:
  static constexpr uint64_t kWindow = 0x200;
  static constexpr uint32_t kMagic = 0x7472'6976;  // "virt"
  static constexpr uint32_t kVendor = 0x4859'5056;  // "VPYH", this project's

  constexpr MmioTransport(VirtioDevice& device, const GuestMemory& memory) : device_(device), memory_(memory) {}

  // Keeps the registers in `state` from now on. `resumed`: it holds what a
  // previous instance left (its queues are set up again, each from its used
  // index, and a used-buffer interrupt is raised in case the last
  // completions were never signalled; run_queue() each queue then); if not,
  // it is reset.
  void attach(TransportState* state, bool resumed);

  uint64_t window() const override { return kWindow; }
  uint64_t read(uint64_t offset, unsigned width) override;
  void write(uint64_t offset, unsigned width, uint64_t value) override;
  void reset() override;

  // Whether the guest's interrupt line is to be high (InterruptStatus not 0).
  bool interrupt_pending() const { return s_->interrupt_status != 0; }
  uint32_t status() const { return s_->status; }
  uint64_t driver_features() const { return s_->driver_features; }
  // The device's configuration changed: tells the driver (ConfigGeneration
  // moves on, and a configuration-change interrupt).
  void config_changed();
  // Runs queue `queue`'s work outside a notification (e.g. a completion
  // that came later from a physical device).
  void run_queue(uint32_t queue);

 private:
  using Queue = TransportState::Queue;
  uint64_t offered() const;
  void needs_reset();
  void raise(uint32_t bits) {
    s_->interrupt_status |= bits;
    raised_since_read_ |= bits;
  }
  void write_status(uint32_t value);
  void set_ready(Queue& q, Virtqueue& vq, uint64_t value);

  VirtioDevice& device_;
  const GuestMemory& memory_;
  TransportState own_ = {};  // until attach()
  TransportState* s_ = &own_;
  // InterruptStatus bits raised since the driver last read it. The guest's
  // write to InterruptAck is posted: the server applies it some time after
  // the guest made it, and an event in between must not be acknowledged by
  // it. A driver acknowledges what it read (Linux's does, then looks at its
  // queues), so bits raised after that read stay set and keep the line up.
  uint32_t raised_since_read_ = 0;
  Virtqueue virtqueues_[kMaxQueues];
};

}  // namespace hyp::virtio
