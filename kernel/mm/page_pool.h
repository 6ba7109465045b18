// A pool of physical pages for translation tables. The free list is threaded
// through the free pages themselves, so the pool needs no memory of its own.
#pragma once

#include <cstddef>

#include "base/addr.h"
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

  size_t free_pages() const { return free_pages_; }

 private:
  Pa head_{};
  bool empty_ = true;
  size_t free_pages_ = 0;
};

}  // namespace hyp
