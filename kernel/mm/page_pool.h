// A pool of physical pages for translation tables. The free list is threaded
// through the free pages themselves, so the pool needs no memory of its own.
//
// Every partition's tables draw on one pool, and tables change while
// partitions run (FF-A calls on any CPU): alloc(), free() and add() take the
// pool's lock. A PageTable operation holds it from its count of the pages it
// needs to its last allocation (so that what it counted is still there), and
// allocates with the *_held() forms meanwhile.
#pragma once

#include <atomic>
#include <cstddef>

#include "base/addr.h"
#include "base/spinlock.h"
#include "base/status.h"

namespace hyp {

class PagePool {
 public:
  constexpr PagePool() = default;
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  // Adds `pages` pages starting at the page-aligned `base`.
  void add(Pa base, size_t pages);

  // A zeroed page, or kNoMemory.
  Result<Pa> alloc();
  void free(Pa page);

  size_t free_pages() const { return free_pages_.load(std::memory_order_relaxed); }

  // For a caller that holds lock() across several steps.
  SpinLock& lock() HYP_RETURN_CAPABILITY(lock_) { return lock_; }
  Result<Pa> alloc_held() HYP_REQUIRES(lock_);
  void free_held(Pa page) HYP_REQUIRES(lock_);

 private:
  SpinLock lock_;
  Pa head_ HYP_GUARDED_BY(lock_){};
  bool empty_ HYP_GUARDED_BY(lock_) = true;
  std::atomic<size_t> free_pages_{0};  // written under lock_
};

}  // namespace hyp
