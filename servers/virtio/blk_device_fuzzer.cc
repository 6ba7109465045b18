// A guest driving the virtio-blk model at random through the transport:
// rings, descriptors, headers and data from the input, notifications,
// resets and the disk's completions in an order the input chooses. The
// backend checks every request the model hands it: a known type, data
// wholly in guest memory and in whole sectors inside the disk, nothing
// written to a read-only disk, discards inside the disk, and no tag
// handed out twice or finished that is not out. AddressSanitizer checks
// that nothing outside guest memory is touched.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "servers/virtio/blk_device.h"

namespace {

using namespace hyp::virtio;

constexpr uint64_t kRam = 0x4000'0000;
constexpr size_t kRamSize = 16 * 1024;
constexpr uint64_t kSectors = 128;

class CheckingDisk final : public BlockBackend {
 public:
  CheckingDisk(const GuestMemory& memory, bool read_only) : memory_(memory), read_only_(read_only) {}

  bool submit(uint16_t tag, const BlockRequest& r) override {
    if (tag >= BlkDevice::kQueueMax || out_[tag]) __builtin_trap();
    if (count_ == room) return false;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < r.count; ++i) {
      if (r.data[i].len == 0 || memory_.translate(r.data[i].ipa, r.data[i].len) == nullptr) __builtin_trap();
      bytes += r.data[i].len;
    }
    if (bytes != r.bytes) __builtin_trap();
    switch (r.type) {
      case blk::kIn:
      case blk::kOut:
        if (bytes == 0 || bytes % blk::kSectorSize != 0 || r.sector > kSectors ||
            bytes / blk::kSectorSize > kSectors - r.sector) {
          __builtin_trap();
        }
        if (r.type == blk::kOut && read_only_) __builtin_trap();
        for (uint32_t i = 0; i < r.count; ++i) {
          if (r.data[i].write != (r.type == blk::kIn)) __builtin_trap();
        }
        break;
      case blk::kFlush:
        if (r.count != 0) __builtin_trap();
        break;
      case blk::kDiscard:
        if (read_only_ || r.discards == 0 || r.discards > blk::kMaxDiscardSegments) __builtin_trap();
        for (uint32_t i = 0; i < r.discards; ++i) {
          const blk::DiscardSegment& d = r.discard[i];
          if (d.sectors == 0 || d.sector > kSectors || d.sectors > kSectors - d.sector) __builtin_trap();
        }
        break;
      default:
        __builtin_trap();  // GET_ID is the model's own; anything else is refused before
    }
    out_[tag] = true;
    order_[count_++] = tag;
    return true;
  }
  bool finished(uint16_t& tag, uint8_t& status) override {
    if (done_count_ == 0) return false;
    tag = done_[--done_count_];
    status = tag % 5 == 0 ? blk::kIoError : blk::kOk;
    return true;
  }
  void cancel() override {
    for (bool& b : out_) b = false;
    count_ = done_count_ = 0;
  }
  // The disk finishes its `pick`-th request out (writing reads' data).
  void finish(uint32_t pick) {
    if (count_ == 0) return;
    const uint32_t i = pick % count_;
    const uint16_t tag = order_[i];
    order_[i] = order_[--count_];
    out_[tag] = false;
    done_[done_count_++] = tag;
  }
  uint32_t room = BlkDevice::kQueueMax;

 private:
  const GuestMemory& memory_;
  bool read_only_;
  bool out_[BlkDevice::kQueueMax] = {};
  uint16_t order_[BlkDevice::kQueueMax] = {};
  uint32_t count_ = 0;
  uint16_t done_[BlkDevice::kQueueMax] = {};
  uint32_t done_count_ = 0;
};

}  // namespace

namespace {

constexpr uint64_t kDesc = kRam;           // 32 descriptors at most
constexpr uint64_t kAvail = kRam + 0x400;
constexpr uint64_t kUsed = kRam + 0x800;
constexpr uint64_t kBuffers = kRam + 0x1000;  // what descriptors point at

void poke16(uint8_t* ram, uint64_t ipa, uint16_t v) { std::memcpy(ram + (ipa - kRam), &v, 2); }

// Descriptor `i` from 4 input bytes, shaped like a driver's: a buffer in
// guest memory (now and then just outside it), of a length a request
// uses, its flags and next from the input; a 16-byte buffer holds a
// request header of a type and sector the input picks among the
// interesting ones.
void make_desc(uint8_t* ram, uint32_t i, const uint8_t* in) {
  static constexpr uint32_t kLengths[] = {16, 512, 1, 1024, 8, 513, 4096, 32, 0, 20, 16, 16, 1536, 520, 12, 64};
  static constexpr uint32_t kTypes[] = {blk::kIn, blk::kOut, blk::kFlush, blk::kGetId, blk::kDiscard, 99, 0, 1};
  const uint32_t len = kLengths[in[3] % 16];
  uint64_t addr = kBuffers + (uint64_t{in[0]} | uint64_t{in[1]} << 8) % (kRamSize - 0x1000);
  if ((in[3] & 0xf0) == 0xf0) addr = kRam + kRamSize - 8;  // runs past the end
  const uint16_t flags = static_cast<uint16_t>(in[2] & 7);
  const uint16_t next = static_cast<uint16_t>(in[2] >> 3);
  uint8_t* d = ram + (kDesc - kRam) + 16 * i;
  std::memcpy(d, &addr, 8);
  std::memcpy(d + 8, &len, 4);
  std::memcpy(d + 12, &flags, 2);
  std::memcpy(d + 14, &next, 2);
  if (len == 16 && addr + 16 <= kRam + kRamSize) {
    const uint32_t type = kTypes[in[1] % 8];
    const uint64_t sector = in[0] % 8 == 0 ? ~uint64_t{0} : in[0] % (kSectors + 4);
    std::memcpy(ram + (addr - kRam), &type, 4);
    std::memcpy(ram + (addr - kRam) + 8, &sector, 8);
  }
  if (len == 32 && addr + 32 <= kRam + kRamSize) {  // discard segments
    const blk::DiscardSegment seg[2] = {{in[0] % (kSectors + 2), 1u + in[1] % 40, 0}, {in[1] % kSectors, 1, 1}};
    std::memcpy(ram + (addr - kRam), seg, sizeof(seg));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  auto* ram = new uint8_t[kRamSize];
  std::memset(ram, 0, kRamSize);
  // The buffers' bytes from the input (past the first 8), then the
  // descriptors shaped over them.
  const size_t fill = size - 8 < kRamSize - 0x1000 ? size - 8 : kRamSize - 0x1000;
  std::memcpy(ram + 0x1000, data + 8, fill);
  const uint32_t queue_size = 1u << (data[2] % 6);  // 1..32
  GuestMemory memory;
  (void)memory.add(kRam, kRamSize, ram);
  const bool read_only = (data[0] & 2) != 0;
  CheckingDisk disk(memory, read_only);
  disk.room = 1u + data[7] % 8;
  BlkDevice device(memory, disk, "fuzz");
  DiskInfo info;
  info.sectors = kSectors;
  info.read_only = read_only;
  info.flush = (data[0] & 4) != 0;
  info.discard = (data[0] & 8) != 0;
  info.max_discard_sectors = 32;
  device.set_disk(info);
  MmioTransport t(device, memory);
  const uint64_t features = kFeatureVersion1 | (uint64_t{data[1]} & 0x0000'2224) | ((uint64_t{data[1]} & 0x30) << 24);
  // The driver brings the device up: features, queue 0 at its places.
  auto bring_up = [&] {
    t.write(0x070, 4, kStatusAcknowledge | kStatusDriver);
    t.write(0x024, 4, 0);
    t.write(0x020, 4, features & 0xffff'ffff);
    t.write(0x024, 4, 1);
    t.write(0x020, 4, features >> 32);
    t.write(0x070, 4, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    t.write(0x038, 4, queue_size);
    t.write(0x080, 4, kDesc);
    t.write(0x090, 4, kAvail);
    t.write(0x0a0, 4, kUsed);
    t.write(0x044, 4, 1);
    t.write(0x070, 4, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
  };
  bring_up();
  uint16_t avail = 0;
  // Then operations, each from 5 input bytes: a command, and for an offer
  // a descriptor to write and the head to make available.
  for (size_t at = 8; at + 5 <= size && at < 8 + 5 * 600; at += 5) {
    const uint8_t* op = data + at;
    switch (op[0] % 8) {
      case 0:
      case 1:
        make_desc(ram, op[0] / 8 % queue_size, op + 1);
        break;
      case 2:
        poke16(ram, kAvail + 4 + 2 * (avail % queue_size), static_cast<uint16_t>(op[1] % (queue_size + 1)));
        poke16(ram, kAvail + 2, ++avail);
        t.write(0x050, 4, 0);  // a notification
        break;
      case 3:
      case 4:
        disk.finish(op[1]);
        t.run_queue(0);  // the disk's interrupt
        break;
      case 5:
        (void)t.read(0x060, 4);
        t.write(0x064, 4, 3);
        break;
      case 6:
        if (op[1] == 0) {  // now and then a reset, and the driver starts again
          t.write(0x070, 4, 0);
          avail = 0;
          std::memset(ram, 0, 0x1000);
          bring_up();
        }
        break;
      default:
        (void)t.read(0x100 + op[1] % BlkDevice::kConfigSize, 1);
        break;
    }
    if (device.in_flight() > BlkDevice::kQueueMax) __builtin_trap();
  }
  delete[] ram;
  return 0;
}
