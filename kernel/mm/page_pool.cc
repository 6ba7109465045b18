#include "kernel/mm/page_pool.h"

#include "kernel/arch/mm.h"

namespace hyp {
namespace {

// The first word of a free page holds the next free page's address plus one
// (so that zero means "end of list" even for a page at physical address 0).
uint64_t* link(Pa page) { return arch::mm::table_from_pa(page); }

}  // namespace

void PagePool::add(Pa base, size_t pages) {
  SpinLockGuard guard(lock_);
  for (size_t i = 0; i < pages; ++i) free_held(base.offset(i * kPageSize));
}

void PagePool::free(Pa page) {
  SpinLockGuard guard(lock_);
  free_held(page);
}

Result<Pa> PagePool::alloc() {
  SpinLockGuard guard(lock_);
  return alloc_held();
}

void PagePool::free_held(Pa page) {
  *link(page) = empty_ ? 0 : head_.value() + 1;
  head_ = page;
  empty_ = false;
  free_pages_.store(free_pages_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

Result<Pa> PagePool::alloc_held() {
  if (empty_) return Status::kNoMemory;
  const Pa page = head_;
  const uint64_t next = *link(page);
  empty_ = next == 0;
  head_ = Pa(empty_ ? 0 : next - 1);
  free_pages_.store(free_pages_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  uint64_t* words = link(page);
  for (size_t i = 0; i < kPageSize / sizeof(uint64_t); ++i) words[i] = 0;
  return page;
}

}  // namespace hyp
