#include "servers/virtio/virtqueue.h"

namespace hyp::virtio {
namespace {

// Guest memory is read and written exactly once per use: a value the guest
// changes after the device read it cannot change what the device checked.
uint16_t load16(const uint8_t* p, int order = __ATOMIC_RELAXED) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), order);
}
void store16(uint8_t* p, uint16_t v, int order = __ATOMIC_RELAXED) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, order);
}
void store32(uint8_t* p, uint32_t v) { __atomic_store_n(reinterpret_cast<uint32_t*>(p), v, __ATOMIC_RELAXED); }

uint64_t bytes_le(const uint8_t* p, unsigned n) {
  const volatile uint8_t* v = p;
  uint64_t value = 0;
  for (unsigned i = 0; i < n; ++i) value |= uint64_t{v[i]} << (8 * i);
  return value;
}

// The parts' sizes (spec "Virtqueue Alignment"): 16 bytes a descriptor;
// flags, idx, the ring and used_event / avail_event.
constexpr uint64_t desc_bytes(uint32_t size) { return uint64_t{size} * 16; }
constexpr uint64_t avail_bytes(uint32_t size) { return 4 + uint64_t{size} * 2 + 2; }
constexpr uint64_t used_bytes(uint32_t size) { return 4 + uint64_t{size} * 8 + 2; }

// Whether a driver that asked to be told when the used index passes
// `event` wants to know that it moved from `old` to `now` (the spec's
// vring_need_event).
bool need_event(uint16_t event, uint16_t now, uint16_t old) {
  return static_cast<uint16_t>(now - event - 1) < static_cast<uint16_t>(now - old);
}

}  // namespace

bool Virtqueue::setup(const GuestMemory* memory, uint32_t size, uint64_t desc, uint64_t avail, uint64_t used,
                      bool event_idx, bool indirect) {
  reset();
  if (memory == nullptr || size == 0 || size > kMaxQueueSize || (size & (size - 1)) != 0) return false;
  if (desc % 16 != 0 || avail % 2 != 0 || used % 4 != 0) return false;
  uint8_t* d = memory->translate(desc, desc_bytes(size));
  uint8_t* a = memory->translate(avail, avail_bytes(size));
  uint8_t* u = memory->translate(used, used_bytes(size));
  if (d == nullptr || a == nullptr || u == nullptr) return false;
  memory_ = memory;
  size_ = size;
  desc_ = d;
  avail_ = a;
  used_ = u;
  event_idx_ = event_idx;
  indirect_ = indirect;
  return true;
}

Virtqueue::Desc Virtqueue::read_desc(const uint8_t* table, uint32_t index) const {
  const uint8_t* p = table + uint64_t{index} * 16;
  const uint64_t low = bytes_le(p, 8);
  const uint64_t high = bytes_le(p + 8, 8);
  return {low, static_cast<uint32_t>(high), static_cast<uint16_t>(high >> 32), static_cast<uint16_t>(high >> 48)};
}

bool Virtqueue::add_buffer(Chain& chain, const Desc& d, bool& seen_write) const {
  const bool write = (d.flags & kDescWrite) != 0;
  if (!write && seen_write) return false;  // read after write
  seen_write = seen_write || write;
  if (chain.count == kMaxChainBuffers) return false;
  // An empty buffer carries nothing; it is still a place in the chain.
  if (d.len != 0 && memory_->translate(d.addr, d.len) == nullptr) return false;
  uint32_t& total = write ? chain.writable : chain.readable;
  if (d.len > UINT32_MAX - chain.readable - chain.writable) return false;
  total += d.len;
  chain.buffers[chain.count++] = {d.addr, d.len, write};
  return true;
}

Take Virtqueue::take(Chain& chain) {
  if (!ready() || broken_) return Take::kBroken;
  const uint16_t avail_idx = load16(avail_ + 2, __ATOMIC_ACQUIRE);
  const uint16_t pending = static_cast<uint16_t>(avail_idx - next_avail_);
  if (pending == 0) return Take::kEmpty;
  if (pending > size_) return fail();
  // The ring entry and the descriptors were written before the index
  // (the acquire above pairs with the driver's barrier).
  const uint16_t head = load16(avail_ + 4 + 2 * (next_avail_ % size_));
  if (head >= size_) return fail();
  chain = Chain{};
  chain.head = head;
  bool seen_write = false;
  Desc d = read_desc(desc_, head);
  uint32_t visited = 1;
  for (;;) {
    if ((d.flags & kDescIndirect) != 0) {
      // An indirect table: the last descriptor of its chain (after zero or
      // more direct ones; its own WRITE flag means nothing), of whole
      // descriptors, none indirect, chained within itself.
      if (!indirect_ || (d.flags & kDescNext) != 0 || d.len == 0 || d.len % 16 != 0 ||
          d.len / 16 > kMaxQueueSize) {
        return fail();
      }
      const uint8_t* table = memory_->translate(d.addr, d.len);
      if (table == nullptr) return fail();
      const uint32_t entries = d.len / 16;
      Desc e = read_desc(table, 0);
      for (uint32_t seen = 1;; ++seen) {
        if ((e.flags & kDescIndirect) != 0 || !add_buffer(chain, e, seen_write)) return fail();
        if ((e.flags & kDescNext) == 0) break;
        if (e.next >= entries || seen == entries) return fail();
        e = read_desc(table, e.next);
      }
      break;
    }
    if (!add_buffer(chain, d, seen_write)) return fail();
    if ((d.flags & kDescNext) == 0) break;
    if (d.next >= size_ || visited == size_) return fail();
    d = read_desc(desc_, d.next);
    ++visited;
  }
  ++next_avail_;
  if (event_idx_) {
    // Tell the driver where the device has read up to: it notifies again
    // only for chains after this one.
    store16(used_ + 4 + 8 * uint64_t{size_}, next_avail_, __ATOMIC_RELEASE);
  }
  return Take::kChain;
}

uint16_t Virtqueue::published_used() const { return ready() ? load16(used_ + 2) : 0; }

bool Virtqueue::put(uint16_t head, uint32_t written) {
  if (!ready() || broken_) return false;
  uint8_t* elem = used_ + 4 + 8 * uint64_t{next_used_ % size_};
  store32(elem, head);
  store32(elem + 4, written);
  const uint16_t old = next_used_;
  ++next_used_;
  // The element (and the data the device wrote) before the index.
  store16(used_ + 2, next_used_, __ATOMIC_RELEASE);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);  // the index before reading what the driver wants
  if (event_idx_) {
    const uint16_t used_event = load16(avail_ + 4 + 2 * uint64_t{size_});
    return need_event(used_event, next_used_, old);
  }
  return (load16(avail_) & kAvailNoInterrupt) == 0;
}

}  // namespace hyp::virtio
