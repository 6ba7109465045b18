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

// HVC #0 with x0..x7 = r, returning x0..x7. Inline, so that a loop
// answering requests keeps them in registers.
inline Regs call(const Regs& r) {
  register uint64_t x0 asm("x0") = r.x[0];
  register uint64_t x1 asm("x1") = r.x[1];
  register uint64_t x2 asm("x2") = r.x[2];
  register uint64_t x3 asm("x3") = r.x[3];
  register uint64_t x4 asm("x4") = r.x[4];
  register uint64_t x5 asm("x5") = r.x[5];
  register uint64_t x6 asm("x6") = r.x[6];
  register uint64_t x7 asm("x7") = r.x[7];
  asm volatile("hvc #0"
               : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(x6), "+r"(x7)
               :
               : "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "memory");
  return Regs{{x0, x1, x2, x3, x4, x5, x6, x7}};
}

inline Regs call(uint64_t x0, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0, uint64_t x4 = 0, uint64_t x5 = 0,
                 uint64_t x6 = 0, uint64_t x7 = 0) {
  return call(Regs{{x0, x1, x2, x3, x4, x5, x6, x7}});
}

inline bool succeeded(const Regs& r) { return r.x[0] == hyp::ffa::kSuccess32 || r.x[0] == hyp::ffa::kSuccess64; }
// The FF-A error of an FFA_ERROR answer (0 for anything else).
inline int32_t error(const Regs& r) { return r.x[0] == hyp::ffa::kError ? static_cast<int32_t>(r.x[2]) : 0; }
inline int32_t code(hyp::ffa::Error e) { return static_cast<int32_t>(e); }

}  // namespace guest::ffa
