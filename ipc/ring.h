// Single-producer single-consumer rings in memory shared between the kernel
// and a partition (a device server), after sDDF's queues: the producer owns
// the tail and the consumer the head; each side keeps its own index
// privately and only publishes it, so a peer that scribbles on the shared
// page can make the ring report kCorrupt but never make this side read or
// write outside the entries.
//
// Memory ordering, pair by pair:
//  (1) the producer writes an entry, then stores `tail` with release;
//      the consumer loads `tail` with acquire, then reads the entry.
//  (2) the consumer reads an entry out, then stores `head` with release;
//      the producer loads `head` with acquire, then reuses the slot.
//
// Waking a side that waits is not the ring's business: the kernel sends the
// CPU event when it completes a waiter (kernel/server/channel.h), and
// servers are run by the kernel when their ring has work.
//
// Freestanding: used by the kernel, servers and host tests alike. Entries
// are copied with __builtin_memcpy so that freestanding builds (no builtin
// memcpy) still copy a fixed-size entry inline.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace hyp::ipc {

enum class RingStatus : uint8_t {
  kOk,
  kEmpty,    // pop: nothing to take
  kFull,     // push: no free slot
  kCorrupt,  // the peer published an index that no correct peer could
};

// The shared part. Lives in a page both sides map; zero-initialized memory
// is an empty ring.
template <typename T, uint32_t kCapacity>
struct alignas(64) Ring {
  static_assert(kCapacity != 0 && (kCapacity & (kCapacity - 1)) == 0, "capacity must be a power of two");
  static_assert(std::is_trivially_copyable_v<T>);

  alignas(64) std::atomic<uint32_t> tail;  // written by the producer only
  alignas(64) std::atomic<uint32_t> head;  // written by the consumer only
  alignas(64) T entries[kCapacity];
};

template <typename T, uint32_t kCapacity>
class RingProducer {
 public:
  // `tail` is where this side resumes (0 for a new ring; the kernel keeps it
  // across a server restart).
  constexpr explicit RingProducer(Ring<T, kCapacity>* ring, uint32_t tail = 0) : ring_(ring), tail_(tail) {}

  // Producer side. Copies `item` into the ring and publishes it.
  RingStatus push(const T& item) {
    const uint32_t head = ring_->head.load(std::memory_order_acquire);  // pairs with (2)
    const uint32_t used = tail_ - head;
    if (used > kCapacity) return RingStatus::kCorrupt;
    if (used == kCapacity) return RingStatus::kFull;
    __builtin_memcpy(&ring_->entries[tail_ & (kCapacity - 1)], &item, sizeof(T));
    ++tail_;
    ring_->tail.store(tail_, std::memory_order_release);  // pairs with (1)
    return RingStatus::kOk;
  }

  uint32_t tail() const { return tail_; }

 private:
  Ring<T, kCapacity>* ring_;
  uint32_t tail_;
};

template <typename T, uint32_t kCapacity>
class RingConsumer {
 public:
  constexpr explicit RingConsumer(Ring<T, kCapacity>* ring, uint32_t head = 0) : ring_(ring), head_(head) {}

  // Consumer side. Copies the oldest entry out and frees its slot.
  RingStatus pop(T& out) {
    const uint32_t tail = ring_->tail.load(std::memory_order_acquire);  // pairs with (1)
    const uint32_t available = tail - head_;
    if (available > kCapacity) return RingStatus::kCorrupt;
    if (available == 0) return RingStatus::kEmpty;
    __builtin_memcpy(&out, &ring_->entries[head_ & (kCapacity - 1)], sizeof(T));
    ++head_;
    ring_->head.store(head_, std::memory_order_release);  // pairs with (2)
    return RingStatus::kOk;
  }

  uint32_t head() const { return head_; }

 private:
  Ring<T, kCapacity>* ring_;
  uint32_t head_;
};

}  // namespace hyp::ipc
