#include "kernel/vtimer/ptimer.h"

namespace hyp::ptimer {

bool level(const State& t, uint64_t now) { return (t.ctl & (kEnable | kMask)) == kEnable && now >= t.cval; }

uint64_t deadline(const State& t, uint64_t now) {
  if ((t.ctl & (kEnable | kMask)) != kEnable || now >= t.cval) return 0;
  return t.cval;
}

uint64_t read(const State& t, Register r, uint64_t now) {
  switch (r) {
    case Register::kCtl:
      // ISTATUS says the condition whether or not IMASK hides it.
      return (t.ctl & (kEnable | kMask)) | ((t.ctl & kEnable) != 0 && now >= t.cval ? kStatus : 0);
    case Register::kCval:
      return t.cval;
    case Register::kTval:
      // The low 32 bits of CVAL - count, read as a signed value: negative
      // once the deadline has passed (Arm ARM D11.2.4).
      return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(t.cval - now))));
  }
  return 0;
}

void write(State& t, Register r, uint64_t value, uint64_t now) {
  switch (r) {
    case Register::kCtl:
      t.ctl = value & (kEnable | kMask);
      return;
    case Register::kCval:
      t.cval = value;
      return;
    case Register::kTval:
      // CVAL = count + TVAL, TVAL a signed 32-bit value.
      t.cval = now + static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(value))));
      return;
  }
}

}  // namespace hyp::ptimer
