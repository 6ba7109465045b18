#include "guests/lib/ffa.h"

namespace guest::ffa {

Regs call(const Regs& r) {
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

}  // namespace guest::ffa
