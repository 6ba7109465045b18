// virtio-blk (virtio 1.x, "Block Device"): one request queue; each chain
// is a request header the device reads (type, sector), data, and a status
// byte the device writes last. The device checks every request before any
// data moves:
//  - the header is the first 16 readable bytes (wherever the driver split
//    them), the status the last writable byte;
//  - reads have only writable data, writes and discards only readable,
//    flushes none; data comes in whole sectors, inside the disk;
//  - writes and discards on a read-only disk, flushes and discards the
//    disk does not offer, and unknown types are refused with their status
//    (IOERR or UNSUPP) and complete like any other request.
// The work is a backend's (BlockBackend: in the block server, the physical
// disk), which gets checked requests, each with the guest ranges of its
// data, and finishes them in any order; the device completes them to the
// guest in the order it took them, so a new server instance resumes the
// queue at its used index (TransportState): a request taken but not
// completed is issued again, and none is completed twice. Reads and writes
// of the same sectors give the same result issued once or twice, as long
// as the guest has not been told of completion, which it has not.
#pragma once

#include <cstddef>
#include <cstdint>

#include "servers/virtio/guest_memory.h"
#include "servers/virtio/mmio_transport.h"
#include "servers/virtio/virtqueue.h"

namespace hyp::virtio {

namespace blk {
// Request types and statuses (virtio 1.x, 5.2.6).
inline constexpr uint32_t kIn = 0;
inline constexpr uint32_t kOut = 1;
inline constexpr uint32_t kFlush = 4;
inline constexpr uint32_t kGetId = 8;
inline constexpr uint32_t kDiscard = 11;
inline constexpr uint8_t kOk = 0;
inline constexpr uint8_t kIoError = 1;
inline constexpr uint8_t kUnsupported = 2;
// Feature bits.
inline constexpr uint64_t kFeatureSizeMax = uint64_t{1} << 1;
inline constexpr uint64_t kFeatureSegMax = uint64_t{1} << 2;
inline constexpr uint64_t kFeatureRo = uint64_t{1} << 5;
inline constexpr uint64_t kFeatureBlkSize = uint64_t{1} << 6;
inline constexpr uint64_t kFeatureFlush = uint64_t{1} << 9;
inline constexpr uint64_t kFeatureDiscard = uint64_t{1} << 13;
inline constexpr uint32_t kSectorSize = 512;
inline constexpr uint32_t kIdBytes = 20;
inline constexpr uint32_t kMaxDiscardSegments = 8;
// A discard segment as the driver writes it.
struct DiscardSegment {
  uint64_t sector;
  uint32_t sectors;
  uint32_t flags;
};
}  // namespace blk

// The disk as the backend describes it.
struct DiskInfo {
  uint64_t sectors = 0;  // capacity in 512-byte sectors
  bool read_only = false;
  bool flush = false;    // it has a volatile cache that a flush writes out
  bool discard = false;
  uint32_t max_discard_sectors = 0;
  uint32_t max_discard_segments = 0;  // per request, up to blk::kMaxDiscardSegments
  uint32_t discard_alignment = 0;     // in sectors
  uint32_t size_max = 0;           // the longest data buffer it takes, 0: any
  uint32_t blk_size = 0;           // its logical block size, 0: 512
};

// A checked request: its data as guest ranges, in the chain's order
// (trimmed of the header and status), with discard segments copied out.
struct BlockRequest {
  uint32_t type = 0;
  uint64_t sector = 0;
  uint32_t count = 0;
  Buffer data[kMaxChainBuffers] = {};
  uint64_t bytes = 0;  // data bytes in all
  uint32_t discards = 0;
  blk::DiscardSegment discard[blk::kMaxDiscardSegments] = {};
};

class BlockBackend {
 public:
  // Starts request `tag` (below the device's queue maximum); false if it
  // cannot take one now (the device asks again after a completion).
  virtual bool submit(uint16_t tag, const BlockRequest& request) = 0;
  // The next request it finished: its tag and status (blk::kOk or
  // blk::kIoError). False if there is none.
  virtual bool finished(uint16_t& tag, uint8_t& status) = 0;
  // Drops every request: when this returns, none touches guest memory any
  // more and none is reported finished (the driver reset the device).
  virtual void cancel() = 0;

 protected:
  ~BlockBackend() = default;
};

class BlkDevice final : public VirtioDevice {
 public:
  static constexpr uint32_t kDeviceId = 2;
  static constexpr uint32_t kQueueMax = 128;
  static constexpr uint32_t kSegMax = kMaxChainBuffers - 2;  // a header and a status besides
  static constexpr uint32_t kConfigSize = 60;

  constexpr BlkDevice(const GuestMemory& memory, BlockBackend& backend, const char* serial)
      : memory_(memory), backend_(backend), serial_(serial) {}
  // The disk behind it (before the guest sees the device).
  void set_disk(const DiskInfo& disk) { disk_ = disk; }
  const DiskInfo& disk() const { return disk_; }

  uint32_t device_id() const override { return kDeviceId; }
  uint64_t features() const override;
  uint32_t queue_count() const override { return 1; }
  uint32_t queue_max(uint32_t) const override { return kQueueMax; }
  uint32_t config_size() const override { return kConfigSize; }
  uint64_t config_read(uint32_t offset, unsigned width) override;
  void config_write(uint32_t, unsigned, uint64_t) override {}
  void reset() override;
  void queue_stopped(uint32_t) override { reset(); }
  bool notify(uint32_t queue, Virtqueue& q, uint64_t features) override;

  // Requests taken and not yet completed to the guest.
  uint32_t in_flight() const { return count_; }

 private:
  enum class State : uint8_t { kUnsubmitted, kSubmitted, kDone };
  struct Slot {
    uint16_t head = 0;
    State state = State::kDone;
    uint8_t status = 0;
    uint64_t status_ipa = 0;  // where the status byte goes
    uint32_t written = 0;     // bytes the device wrote into the chain, status included
    BlockRequest request;
  };
  // Checks chain `c` into slot `s`: its request, or its status if it is
  // refused (then it is done).
  void check(const Chain& c, Slot& s) const;
  uint32_t discard_segments() const {
    const uint32_t n = disk_.max_discard_segments;
    return n == 0 || n > blk::kMaxDiscardSegments ? blk::kMaxDiscardSegments : n;
  }
  // What the device does itself (GET_ID): done at once.
  void serve_locally(Slot& s);

  const GuestMemory& memory_;
  BlockBackend& backend_;
  const char* serial_;
  DiskInfo disk_;
  uint64_t features_ = 0;  // negotiated, as of the last notification
  // Requests in the order taken: slots first_, first_ + 1, ... (mod kQueueMax).
  Slot slots_[kQueueMax];
  uint32_t first_ = 0;
  uint32_t count_ = 0;
};

}  // namespace hyp::virtio
