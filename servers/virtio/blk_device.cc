#include "servers/virtio/blk_device.h"

#include <cstring>

namespace hyp::virtio {
namespace {

// Copies `len` bytes from the chain's readable buffers, starting `skip`
// bytes in, into `out`; false if they hold fewer.
bool gather(const GuestMemory& memory, const Chain& c, uint32_t skip, void* out, uint32_t len) {
  auto* dst = static_cast<uint8_t*>(out);
  for (uint32_t i = 0; i < c.count && len != 0; ++i) {
    const Buffer& b = c.buffers[i];
    if (b.write) break;
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    const uint32_t n = b.len - skip < len ? b.len - skip : len;
    const uint8_t* src = memory.translate(b.ipa + skip, n);
    if (src == nullptr) return false;
    // Read once, byte by byte: the guest may be changing it.
    for (uint32_t k = 0; k < n; ++k) dst[k] = static_cast<const volatile uint8_t*>(src)[k];
    dst += n;
    len -= n;
    skip = 0;
  }
  return len == 0;
}

}  // namespace

uint64_t BlkDevice::features() const {
  uint64_t f = blk::kFeatureSegMax | blk::kFeatureBlkSize;
  if (disk_.read_only) f |= blk::kFeatureRo;
  if (disk_.flush) f |= blk::kFeatureFlush;
  if (disk_.discard && !disk_.read_only) f |= blk::kFeatureDiscard;
  if (disk_.size_max != 0) f |= blk::kFeatureSizeMax;
  return f;
}

uint64_t BlkDevice::config_read(uint32_t offset, unsigned width) {
  // The configuration layout (virtio 1.x, 5.2.4), little-endian.
  uint8_t config[kConfigSize] = {};
  auto put = [&](uint32_t at, uint64_t value, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) config[at + i] = static_cast<uint8_t>(value >> (8 * i));
  };
  put(0, disk_.sectors, 8);              // capacity
  put(8, disk_.size_max, 4);             // size_max
  put(12, kSegMax, 4);                   // seg_max
  put(20, disk_.blk_size != 0 ? disk_.blk_size : blk::kSectorSize, 4);  // blk_size
  put(34, 1, 2);                         // num_queues
  put(36, disk_.max_discard_sectors, 4);  // max_discard_sectors
  put(40, discard_segments(), 4);          // max_discard_seg
  put(44, disk_.discard_alignment, 4);    // discard_sector_alignment
  uint64_t value = 0;
  for (unsigned i = 0; i < width; ++i) value |= uint64_t{config[offset + i]} << (8 * i);
  return value;
}

void BlkDevice::reset() {
  if (count_ != 0) backend_.cancel();
  first_ = count_ = 0;
}

void BlkDevice::check(const Chain& c, Slot& s) const {
  s.head = c.head;
  s.state = State::kDone;
  s.status = blk::kIoError;
  s.written = 0;
  s.status_ipa = 0;
  BlockRequest& r = s.request;
  r.count = 0;
  r.bytes = 0;
  r.discards = 0;
  // The status: the last byte of the last buffer, which the device writes.
  // Without one there is nowhere to say anything: the request completes
  // with nothing written (the driver sees a used length of 0).
  if (c.count == 0 || !c.buffers[c.count - 1].write || c.buffers[c.count - 1].len == 0) return;
  const Buffer& last = c.buffers[c.count - 1];
  s.status_ipa = last.ipa + last.len - 1;
  s.written = 1;
  struct {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
  } header;
  if (c.readable < sizeof(header) || !gather(memory_, c, 0, &header, sizeof(header))) return;
  r.type = header.type;
  r.sector = header.sector;
  const uint64_t readable = c.readable - sizeof(header);
  const uint64_t writable = c.writable - 1;
  const bool negotiated_flush = (features_ & blk::kFeatureFlush) != 0;
  const bool negotiated_discard = (features_ & blk::kFeatureDiscard) != 0;
  switch (r.type) {
    case blk::kIn:
    case blk::kOut: {
      const bool in = r.type == blk::kIn;
      if ((in ? readable : writable) != 0) return;  // data goes one way
      const uint64_t bytes = in ? writable : readable;
      if (bytes % blk::kSectorSize != 0) return;
      if (bytes == 0) {  // nothing to move
        s.status = blk::kOk;
        return;
      }
      const uint64_t sectors = bytes / blk::kSectorSize;
      if (r.sector > disk_.sectors || sectors > disk_.sectors - r.sector) return;
      if (!in && disk_.read_only) return;
      break;
    }
    case blk::kFlush:
      if (!negotiated_flush) {
        s.status = blk::kUnsupported;
        return;
      }
      if (readable != 0 || writable != 0) return;
      break;
    case blk::kGetId:
      if (readable != 0 || writable == 0) return;
      break;
    case blk::kDiscard: {
      if (!negotiated_discard || disk_.read_only) {
        s.status = blk::kUnsupported;
        return;
      }
      const uint64_t n = readable / sizeof(blk::DiscardSegment);
      if (writable != 0 || n == 0 || readable % sizeof(blk::DiscardSegment) != 0 || n > discard_segments() ||
          !gather(memory_, c, sizeof(header), r.discard, static_cast<uint32_t>(readable))) {
        return;
      }
      r.discards = static_cast<uint32_t>(n);
      for (uint32_t i = 0; i < r.discards; ++i) {
        const blk::DiscardSegment& d = r.discard[i];
        // Flags (unmap) are a hint; the range must lie inside the disk.
        if (d.sectors == 0 || d.sectors > disk_.max_discard_sectors || d.sector > disk_.sectors ||
            d.sectors > disk_.sectors - d.sector) {
          return;
        }
      }
      s.state = State::kUnsubmitted;
      return;
    }
    default:
      s.status = blk::kUnsupported;
      return;
  }
  // The data: the buffers between the header and the status, trimmed of both.
  uint32_t skip = sizeof(header);
  for (uint32_t i = 0; i < c.count; ++i) {
    Buffer b = c.buffers[i];
    if (!b.write) {
      const uint32_t cut = skip < b.len ? skip : b.len;
      skip -= cut;
      b.ipa += cut;
      b.len -= cut;
    }
    if (i + 1 == c.count) --b.len;  // the status byte
    if (b.len == 0) continue;
    r.data[r.count++] = b;
    r.bytes += b.len;
  }
  s.written = 1 + (r.type == blk::kIn || r.type == blk::kGetId ? static_cast<uint32_t>(r.bytes) : 0);
  s.state = State::kUnsubmitted;
}

void BlkDevice::serve_locally(Slot& s) {
  // GET_ID: the serial, NUL-padded, as much as fits.
  char id[blk::kIdBytes] = {};
  for (uint32_t i = 0; i < blk::kIdBytes && serial_[i] != '\0'; ++i) id[i] = serial_[i];
  uint32_t done = 0;
  for (uint32_t i = 0; i < s.request.count && done < blk::kIdBytes; ++i) {
    const Buffer& b = s.request.data[i];
    const uint32_t n = b.len < blk::kIdBytes - done ? b.len : blk::kIdBytes - done;
    uint8_t* p = memory_.translate(b.ipa, n);
    if (p != nullptr) std::memcpy(p, id + done, n);
    done += n;
  }
  s.written = 1 + done;
  s.status = blk::kOk;
  s.state = State::kDone;
}

bool BlkDevice::notify(uint32_t queue, Virtqueue& q, uint64_t features) {
  if (queue != 0) return false;
  features_ = features;
  // What the backend finished.
  uint16_t tag = 0;
  uint8_t status = 0;
  while (backend_.finished(tag, status)) {
    if (tag >= kQueueMax) continue;
    Slot& s = slots_[tag];
    const uint32_t age = (tag + kQueueMax - first_) % kQueueMax;
    if (age >= count_ || s.state != State::kSubmitted) continue;  // not one it has out
    s.status = status == blk::kOk ? blk::kOk : blk::kIoError;
    if (s.status != blk::kOk) s.written = 1;
    s.state = State::kDone;
  }
  bool interrupt = false;
  bool room = true;
  for (;;) {
    // Requests taken but not yet handed to the backend, in order.
    for (uint32_t k = 0; k < count_ && room; ++k) {
      const uint32_t index = (first_ + k) % kQueueMax;
      Slot& s = slots_[index];
      if (s.state != State::kUnsubmitted) continue;
      if (s.request.type == blk::kGetId) {
        serve_locally(s);
      } else if (backend_.submit(static_cast<uint16_t>(index), s.request)) {
        s.state = State::kSubmitted;
      } else {
        room = false;
      }
    }
    // Completions, in the order the requests were taken.
    while (count_ != 0 && slots_[first_].state == State::kDone) {
      const Slot& s = slots_[first_];
      if (s.status_ipa != 0) {
        uint8_t* p = memory_.translate(s.status_ipa, 1);
        if (p != nullptr) *p = s.status;
      }
      interrupt = q.put(s.head, s.status_ipa != 0 ? s.written : 0) || interrupt;
      first_ = (first_ + 1) % kQueueMax;
      --count_;
    }
    if (!room || count_ == kQueueMax) break;
    Chain chain;
    const Take t = q.take(chain);
    if (t != Take::kChain) break;
    Slot& s = slots_[(first_ + count_) % kQueueMax];
    ++count_;
    check(chain, s);
  }
  return interrupt;
}

}  // namespace hyp::virtio
