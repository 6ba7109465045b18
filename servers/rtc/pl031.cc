#include "servers/rtc/pl031.h"

namespace hyp::server {
namespace {

constexpr uint8_t kIds[8] = {0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

}  // namespace

uint64_t Pl031::read(uint64_t offset, unsigned width) {
  if (width != 4 || offset % 4 != 0) return 0;
  switch (offset) {
    case kDr: return counter();
    case kMr: return mr_;
    case kLr: return lr_;
    case kCr: return cr_;
    case kImsc: return imsc_;
    case kRis: return ris_;
    case kMis: return ris_ & imsc_;
    default: break;
  }
  if (offset >= kIdBase && offset < kIdBase + 0x20) return kIds[(offset - kIdBase) / 4];
  return 0;
}

void Pl031::write(uint64_t offset, unsigned width, uint64_t value) {
  if (width != 4 || offset % 4 != 0) return;
  const auto v = static_cast<uint32_t>(value);
  switch (offset) {
    case kMr:
      mr_ = v;
      rearm();
      break;
    case kLr:
      lr_ = v;
      offset_ = v - (clock_ != nullptr ? clock_->now() : 0);
      rearm();
      break;
    case kCr:
      // Started, it stays started (writing 0 has no effect).
      cr_ |= v & 1;
      break;
    case kImsc:
      imsc_ = v & 1;
      break;
    case kIcr:
      ris_ &= ~(v & 1);
      break;
    default:
      break;
  }
}

void Pl031::reset() {
  mr_ = 0;
  lr_ = 0;
  cr_ = 1;
  imsc_ = 0;
  ris_ = 0;
  rearm();
}

void Pl031::matched() {
  // The clock passed the second it was armed for (the server may see it a
  // little late); a match moved since, or loaded past, is not met.
  if (armed_ && static_cast<int32_t>(counter() - mr_) >= 0) ris_ |= 1;
  rearm();
}

void Pl031::rearm() {
  if (clock_ == nullptr) return;
  // The match in the clock's own seconds; armed while it is ahead (a
  // match passed raises nothing, as on the hardware).
  const uint32_t at = mr_ - offset_;
  armed_ = static_cast<int32_t>(at - clock_->now()) > 0;
  clock_->arm(armed_, at);
}

}  // namespace hyp::server
