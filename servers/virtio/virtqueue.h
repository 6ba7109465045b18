// A split virtqueue (virtio 1.x, "Split Virtqueues") as a device sees it:
// the driver's descriptor table and available ring, and the device's used
// ring, all in guest memory the guest controls and may change at any time,
// from any of its vCPUs. Every value is read once, checked, and only the
// checked copy is used:
//  - the available index may run at most the queue size ahead of what the
//    device took;
//  - a head and every `next` are below the queue size;
//  - a chain visits at most the queue size of descriptors (a loop is
//    caught there), an indirect table at most its own length;
//  - an indirect descriptor ends its chain (no NEXT), its table whole
//    16-byte descriptors in guest memory, none of them indirect again;
//  - every buffer lies wholly in granted memory, with no buffer the device
//    reads after one it writes, and the lengths sum below 4 GiB.
// A chain that breaks a rule is refused (kBroken): the queue is then broken
// for good, and the transport says DEVICE_NEEDS_RESET; nothing outside the
// granted memory is ever read or written.
#pragma once

#include <cstddef>
#include <cstdint>

#include "servers/virtio/guest_memory.h"

namespace hyp::virtio {

inline constexpr uint16_t kDescNext = 1;
inline constexpr uint16_t kDescWrite = 2;
inline constexpr uint16_t kDescIndirect = 4;
inline constexpr uint16_t kAvailNoInterrupt = 1;  // avail.flags, without VIRTIO_F_EVENT_IDX
inline constexpr uint16_t kUsedNoNotify = 1;      // used.flags, likewise

inline constexpr uint32_t kMaxQueueSize = 32768;

// One buffer of a chain: guest memory the device reads (write false) or
// writes, already checked against the granted memory.
struct Buffer {
  uint64_t ipa = 0;
  uint32_t len = 0;
  bool write = false;
};

// A chain taken from the available ring. Devices take at most
// kMaxChainBuffers buffers in a chain (their own limit, which a block
// device advertises as seg_max); a longer chain is refused.
inline constexpr size_t kMaxChainBuffers = 64;
struct Chain {
  uint16_t head = 0;
  uint32_t count = 0;
  Buffer buffers[kMaxChainBuffers];
  uint32_t readable = 0;  // bytes in the device-readable buffers
  uint32_t writable = 0;  // bytes in the device-writable ones
};

enum class Take {
  kChain,   // `chain` holds the next chain
  kEmpty,   // nothing available
  kBroken,  // the driver broke a rule: the queue is unusable until reset
};

class Virtqueue {
 public:
  // The queue as the driver set it up (the transport checked nothing but
  // what it stores): `size` (a power of 2, 1..kMaxQueueSize), the guest
  // addresses of its three parts, and whether VIRTIO_F_EVENT_IDX and
  // VIRTIO_F_INDIRECT_DESC were negotiated. False, with the queue not
  // usable, if the size is not one or a part is not wholly in granted
  // memory or not aligned as the spec requires (16, 2 and 4 bytes).
  bool setup(const GuestMemory* memory, uint32_t size, uint64_t desc, uint64_t avail, uint64_t used, bool event_idx,
             bool indirect);
  void reset() { *this = Virtqueue{}; }
  bool ready() const { return memory_ != nullptr; }
  bool broken() const { return broken_; }
  uint32_t size() const { return size_; }

  // The next available chain.
  Take take(Chain& chain);

  // Puts `head` in the used ring with `written` bytes (what the device wrote
  // into the chain's writable buffers), publishing it after the bytes.
  // Returns whether the driver wants an interrupt for it (its
  // VIRTQ_AVAIL_F_NO_INTERRUPT flag, or its used_event with EVENT_IDX).
  bool put(uint16_t head, uint32_t written);

  // Where the device's own state stands: the available index it has taken
  // up to and the used index it has published (kept across a server
  // restart, so no chain is taken or completed twice).
  uint16_t next_avail() const { return next_avail_; }
  uint16_t next_used() const { return next_used_; }
  // The used index as published in guest memory (what the driver sees).
  uint16_t published_used() const;
  void resume(uint16_t next_avail, uint16_t next_used) {
    next_avail_ = next_avail;
    next_used_ = next_used;
  }

 private:
  struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
  };
  Desc read_desc(const uint8_t* table, uint32_t index) const;
  bool add_buffer(Chain& chain, const Desc& d, bool& seen_write) const;
  Take fail() {
    broken_ = true;
    return Take::kBroken;
  }

  const GuestMemory* memory_ = nullptr;
  uint32_t size_ = 0;
  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  bool event_idx_ = false;
  bool indirect_ = false;
  bool broken_ = false;
  uint16_t next_avail_ = 0;
  uint16_t next_used_ = 0;
};

}  // namespace hyp::virtio
