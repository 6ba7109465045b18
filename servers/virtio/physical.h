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
  static constexpr uint32_t kMaxSlots = 128;    // requests in flight

  enum class Start {
    kOk,
    kNoDevice,     // no virtio-mmio version 2 transport there, or no device on it
    kWrongDevice,  // another device ID
    kFeatures,     // VERSION_1 (or another feature asked for as required) not accepted
    kQueue,        // queue 0 missing, or already in use after a reset
    kMemory,       // the DMA memory is too small
  };

  // Resets the device at `regs` and brings it up as device `device_id`
  // with queue 0: negotiates VERSION_1 and INDIRECT_DESC (both required)
  // and whatever of `optional` the device offers, and places the queue, of
  // up to `slots` requests (a power of 2 up to kMaxSlots; the device may
  // allow fewer), and their indirect tables (1,088 bytes a slot) in
  // `memory`, carved from it. After kOk the device is live.
  Start start(Registers& regs, uint32_t device_id, uint64_t optional, uint32_t slots, DmaMemory& memory);
  // Resets the device: it stops touching memory (the reset waits for it).
  void stop();
  bool live() const { return regs_ != nullptr; }

  // The negotiated features.
  uint64_t features() const { return features_; }
  // Requests that can be in flight at once.
  uint32_t slots() const { return size_; }
  uint32_t in_flight() const { return in_flight_; }
  // A configuration field of 1, 2, 4 or 8 bytes, read until the device's
  // ConfigGeneration says it is consistent.
  uint64_t config(uint32_t offset, unsigned width);

  // Queues a request of `count` segments (readable first), in slot `slot`;
  // false if none is free, `count` is 0 or above kMaxSegments, or a
  // readable segment follows a writable one. The device is told at kick().
  bool submit(const Segment* segments, uint32_t count, uint16_t& slot);
  void kick();
  // The next request the device completed: its slot and the bytes it
  // wrote. False if there is none.
  bool complete(uint16_t& slot, uint32_t& written);
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
  Registers* regs_ = nullptr;
  uint64_t features_ = 0;
  uint32_t size_ = 0;
  Desc* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  DmaMemory tables_;  // slot i's indirect table at i * kMaxSegments descriptors
  uint16_t avail_idx_ = 0;
  uint16_t used_seen_ = 0;
  uint32_t in_flight_ = 0;
  uint64_t bogus_ = 0;
  uint16_t free_[kMaxSlots] = {};
  uint32_t free_count_ = 0;
  bool busy_[kMaxSlots] = {};
};

// What a start result means, for log lines.
const char* describe(PhysicalDevice::Start s);

}  // namespace hyp::virtio
