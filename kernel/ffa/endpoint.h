// A partition as an FF-A endpoint: what its manifest says it does, the
// version it negotiated, its RX/TX buffer pair and its notifications. Part
// of every Partition; the calls that change it are in kernel/ffa/calls.h.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/addr.h"
#include "base/spinlock.h"
#include "bootpkg/format.h"
#include "ffa/abi.h"

namespace hyp {

// The RX/TX buffer pair a partition mapped with FFA_RXTX_MAP: page-aligned,
// in its own RAM, each physically contiguous (inside one memory region).
struct FfaMailbox {
  Ipa tx_ipa;
  Ipa rx_ipa;
  Pa tx;
  Pa rx;
  uint32_t pages = 0;  // of each buffer; 0: none mapped
  // Who may write the RX buffer: the kernel (empty, the producer's) or the
  // partition, once the kernel filled it (full, the consumer's, until
  // FFA_RX_RELEASE or FFA_MSG_WAIT gives it back).
  bool rx_full = false;

  uint64_t bytes() const { return uint64_t{pages} * ffa::kBufferPageSize; }
};

// Notifications for this partition as receiver (FF-A 1.1, 10).
struct FfaNotifications {
  uint64_t bound = 0;     // IDs bound to a sender
  uint64_t per_vcpu = 0;  // of those, bound per-vCPU
  std::array<uint16_t, ffa::kNotificationCount> sender{};  // of each bound ID
  uint64_t pending = 0;   // global ones set and not yet taken
  std::array<uint64_t, package::kMaxVcpus> pending_vcpu{};
  // The framework notification "RX buffer full" (a message arrived from a
  // VM): bit 0 of the hypervisor's framework bitmap.
  bool rx_full = false;

  uint64_t pending_any() const {
    uint64_t all = pending;
    for (uint64_t v : pending_vcpu) all |= v;
    return all;
  }
};

struct FfaEndpoint {
  // From the manifest; fixed for the partition's life.
  uint32_t messaging = 0;  // ffa::properties bits 0..3
  ffa::Uuid uuid;
  std::array<uint16_t, package::kMaxPartitions> targets{};  // direct targets, if limited
  size_t target_count = 0;

  // The version the partition asked for with FFA_VERSION (0: none yet), and
  // whether it is fixed (its first other FF-A call fixes it).
  std::atomic<uint32_t> version{0};
  std::atomic<bool> version_fixed{false};

  // The mailbox and the notifications, changed by the partition's own vCPUs
  // and by senders on any CPU.
  SpinLock lock;
  FfaMailbox mailbox HYP_GUARDED_BY(lock);
  FfaNotifications notifications HYP_GUARDED_BY(lock);

  bool does(uint32_t property) const { return (messaging & property) != 0; }
};

// Two endpoints' locks, taken in a fixed order (by address), so that two
// partitions acting on each other at once cannot deadlock; one lock if it
// is the same endpoint twice.
class HYP_SCOPED_CAPABILITY EndpointPairLock {
 public:
  EndpointPairLock(FfaEndpoint& a, FfaEndpoint& b) HYP_ACQUIRE(a.lock, b.lock) HYP_NO_THREAD_SAFETY_ANALYSIS
      : first_(&a < &b ? a : b),
        second_(&a < &b ? b : a) {
    first_.lock.lock();
    if (&second_ != &first_) second_.lock.lock();
  }
  ~EndpointPairLock() HYP_RELEASE() HYP_NO_THREAD_SAFETY_ANALYSIS {
    if (&second_ != &first_) second_.lock.unlock();
    first_.lock.unlock();
  }
  EndpointPairLock(const EndpointPairLock&) = delete;
  EndpointPairLock& operator=(const EndpointPairLock&) = delete;

 private:
  FfaEndpoint& first_;
  FfaEndpoint& second_;
};

}  // namespace hyp
