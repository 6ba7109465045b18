#include "kernel/mm/phys_alloc.h"

namespace hyp {

Status PhysAllocator::add(Pa base, uint64_t size) {
  if (size == 0) return Status::kOk;
  if (base.value() + size < base.value()) return Status::kInvalidArgument;
  if (count_ == kMaxRanges) return Status::kOutOfRange;
  ranges_[count_++] = {base.value(), base.value() + size};
  return Status::kOk;
}

Status PhysAllocator::reserve(Pa base, uint64_t size) {
  const uint64_t lo = base.value();
  const uint64_t hi = lo + size;
  if (hi < lo) return Status::kInvalidArgument;
  for (size_t i = 0; i < count_; ++i) {
    Range& r = ranges_[i];
    if (hi <= r.start || lo >= r.end) continue;
    if (lo > r.start && hi < r.end) {
      // The reservation splits the range in two.
      if (count_ == kMaxRanges) return Status::kOutOfRange;
      ranges_[count_++] = {hi, r.end};
      r.end = lo;
    } else if (lo <= r.start && hi >= r.end) {
      r.end = r.start;  // wholly reserved: leave it empty
    } else if (lo <= r.start) {
      r.start = hi;
    } else {
      r.end = lo;
    }
  }
  return Status::kOk;
}

Result<Pa> PhysAllocator::alloc(uint64_t size, uint64_t align) {
  if (size == 0 || align == 0 || (align & (align - 1)) != 0) return Status::kInvalidArgument;
  size_t best = kMaxRanges;
  uint64_t best_start = 0;
  for (size_t i = 0; i < count_; ++i) {
    const Range& r = ranges_[i];
    if (r.end - r.start < size) continue;
    const uint64_t start = align_down(r.end - size, align);
    if (start < r.start) continue;
    if (best == kMaxRanges || start > best_start) {
      best = i;
      best_start = start;
    }
  }
  if (best == kMaxRanges) return Status::kNoMemory;
  // Keep what lies above the chunk (alignment slack) free as well.
  const uint64_t slack_start = best_start + size;
  const uint64_t slack_end = ranges_[best].end;
  ranges_[best].end = best_start;
  if (slack_end > slack_start && count_ < kMaxRanges) ranges_[count_++] = {slack_start, slack_end};
  return Pa(best_start);
}

uint64_t PhysAllocator::free_bytes() const {
  uint64_t total = 0;
  for (size_t i = 0; i < count_; ++i) total += ranges_[i].end - ranges_[i].start;
  return total;
}

}  // namespace hyp
