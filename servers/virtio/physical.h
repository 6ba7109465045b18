// The driver side of virtio, for a device server's physical devices: a
// virtio-mmio transport of the machine (version 2; QEMU's `virt` needs
// `-global virtio-mmio.force-legacy=false`) driven over its registers,
// with one split virtqueue in the server's DMA pool (docs/servers.md,
// "DMA"). The device reads and writes physical addresses only: what a
// request hands it is either in the pool or guest memory whose physical
// address the kernel gave the server (ipc::Grant::pa), after the server
// checked it.
//
// A request is a list of segments (device-readable ones first); it takes
// one descriptor of the ring, which points at the request's own indirect
// table in the pool, so a ring of N descriptors has N requests in flight
// whatever their length. The device is trusted hardware, but what it
// publishes is still checked before use: a used entry naming a slot that
// is not in flight is ignored and counted.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hyp::virtio {

// 32-bit registers of a physical transport.
class Registers {
 public:
  virtual uint32_t read32(uint32_t offset) = 0;
  virtual void write32(uint32_t offset, uint32_t value) = 0;

 protected:
  ~Registers() = default;
};

// Memory the device can reach: `va` in the server, `pa` for the device.
struct DmaMemory {
  uint8_t* va = nullptr;
  uint64_t pa = 0;
  uint64_t size = 0;

  // Takes `bytes` from the front, aligned to `align` (a power of 2), into
  // `out`; false if there is not enough left.
  bool carve(uint64_t bytes, uint64_t align, DmaMemory& out);
};

struct Segment {
  uint64_t pa;
  uint32_t len;
  bool write;  // the device writes it
};

class PhysicalDevice {
 public:
  static constexpr uint32_t kMaxSegments = 68;  // per request
  static constexpr uint32_t kMaxSlots = 128;    // requests in flight, per queue
  static constexpr uint32_t kMaxQueues = 2;

  enum class Start {
    kOk,
    kNoDevice,     // no virtio-mmio version 2 transport there, or no device on it
    kWrongDevice,  // another device ID
    kFeatures,     // VERSION_1 (or another feature asked for as required) not accepted
    kQueue,        // a queue missing, or already in use after a reset
    kMemory,       // the DMA memory is too small
  };

  // Resets the device at `regs` and brings it up as device `device_id`
  // with queues 0 .. `queues` - 1 (at most kMaxQueues): negotiates
  // VERSION_1 and INDIRECT_DESC (both required) and whatever of `optional`
  // the device offers, and places each queue, of up to `slots` requests (a
  // power of 2 up to kMaxSlots; the device may allow fewer), and their
  // indirect tables (1,088 bytes a slot) in `memory`, carved from it.
  // After kOk the device is live.
  Start start(Registers& regs, uint32_t device_id, uint64_t optional, uint32_t slots, DmaMemory& memory,
              uint32_t queues = 1);
  // Resets the device: it stops touching memory (the reset waits for it).
  void stop();
  bool live() const { return regs_ != nullptr; }

  // The negotiated features.
  uint64_t features() const { return features_; }
  // Requests that can be in flight at once on queue `q`.
  uint32_t slots(uint32_t q = 0) const { return q < kMaxQueues ? q_[q].size : 0; }
  uint32_t in_flight(uint32_t q = 0) const { return q < kMaxQueues ? q_[q].in_flight : 0; }
  // A configuration field of 1, 2, 4 or 8 bytes, read until the device's
  // ConfigGeneration says it is consistent.
  uint64_t config(uint32_t offset, unsigned width);

  // Queues a request of `count` segments (readable first) on queue `q`, in
  // slot `slot`; false if none is free, `count` is 0 or above
  // kMaxSegments, or a readable segment follows a writable one. The device
  // is told at kick().
  bool submit(const Segment* segments, uint32_t count, uint16_t& slot, uint32_t q = 0);
  void kick(uint32_t q = 0);
  // The next request the device completed on queue `q`: its slot and the
  // bytes it wrote. False if there is none.
  bool complete(uint16_t& slot, uint32_t& written, uint32_t q = 0);
  // Acknowledges the device's interrupt (its line goes low); what it said.
  uint32_t acknowledge();
  // Used entries that named no request in flight (ignored).
  uint64_t bogus() const { return bogus_; }

 private:
  struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
  };
  struct Queue {
    uint32_t size = 0;
    Desc* desc = nullptr;
    uint8_t* avail = nullptr;
    uint8_t* used = nullptr;
    DmaMemory tables;  // slot i's indirect table at i * kMaxSegments descriptors
    uint16_t avail_idx = 0;
    uint16_t used_seen = 0;
    uint32_t in_flight = 0;
    uint16_t free[kMaxSlots] = {};
    uint32_t free_count = 0;
    bool busy[kMaxSlots] = {};
  };
  Start setup_queue(Registers& regs, uint32_t index, uint32_t slots, DmaMemory& memory);

  Registers* regs_ = nullptr;
  uint64_t features_ = 0;
  uint32_t queues_ = 0;
  Queue q_[kMaxQueues];
  uint64_t bogus_ = 0;
};

// What a start result means, for log lines.
const char* describe(PhysicalDevice::Start s);

}  // namespace hyp::virtio
