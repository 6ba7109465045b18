#include "kernel/arch/smccc.h"

namespace hyp::arch {

SmcResult smc_call(const SmcArgs& args) {
  register uint64_t x0 asm("x0") = args.x[0];
  register uint64_t x1 asm("x1") = args.x[1];
  register uint64_t x2 asm("x2") = args.x[2];
  register uint64_t x3 asm("x3") = args.x[3];
  register uint64_t x4 asm("x4") = args.x[4];
  register uint64_t x5 asm("x5") = args.x[5];
  register uint64_t x6 asm("x6") = args.x[6];
  register uint64_t x7 asm("x7") = args.x[7];
  // x0-x3 carry results. SMCCC 1.0 firmware may also change x4-x17, so they
  // are treated as clobbered whatever version answers.
  asm volatile("smc #0"
               : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(x6), "+r"(x7)
               :
               : "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "memory");
  return SmcResult{{x0, x1, x2, x3}};
}

}  // namespace hyp::arch
