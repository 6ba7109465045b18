// FF-A from inside a partition (ffa/abi.h has the numbers): a call with
// all eight argument and result registers, and the few shapes test guests
// and test servers use.
#pragma once

#include <cstdint>

#include "ffa/abi.h"

namespace guest::ffa {

struct Regs {
  uint64_t x[8] = {};
};

// HVC #0 with x0..x7 = r, returning x0..x7.
Regs call(const Regs& r);

inline Regs call(uint64_t x0, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0, uint64_t x4 = 0, uint64_t x5 = 0,
                 uint64_t x6 = 0, uint64_t x7 = 0) {
  return call(Regs{{x0, x1, x2, x3, x4, x5, x6, x7}});
}

inline bool succeeded(const Regs& r) { return r.x[0] == hyp::ffa::kSuccess32 || r.x[0] == hyp::ffa::kSuccess64; }
// The FF-A error of an FFA_ERROR answer (0 for anything else).
inline int32_t error(const Regs& r) { return r.x[0] == hyp::ffa::kError ? static_cast<int32_t>(r.x[2]) : 0; }
inline int32_t code(hyp::ffa::Error e) { return static_cast<int32_t>(e); }

}  // namespace guest::ffa
