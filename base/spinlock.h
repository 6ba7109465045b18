// A test-and-test-and-set spinlock and its scoped guard. Usable at EL2 with the
// MMU and caches on (exclusives need cacheable memory) and on the host.
#pragma once

#include <atomic>

#include "base/thread_safety.h"

namespace hyp {

class HYP_CAPABILITY("mutex") SpinLock {
 public:
  constexpr SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() HYP_ACQUIRE() {
    for (;;) {
      // Pairs with the release store in unlock().
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
      }
    }
  }

  bool try_lock() HYP_TRY_ACQUIRE(true) { return !locked_.exchange(true, std::memory_order_acquire); }

  void unlock() HYP_RELEASE() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

class HYP_SCOPED_CAPABILITY SpinLockGuard {
 public:
  explicit SpinLockGuard(SpinLock& lock) HYP_ACQUIRE(lock) : lock_(lock) { lock_.lock(); }
  ~SpinLockGuard() HYP_RELEASE() { lock_.unlock(); }
  SpinLockGuard(const SpinLockGuard&) = delete;
  SpinLockGuard& operator=(const SpinLockGuard&) = delete;

 private:
  SpinLock& lock_;
};

}  // namespace hyp
