// System register access for AArch64 code.
#pragma once

#include <cstdint>

#define HYP_READ_SYSREG(name)                        \
  ({                                                 \
    uint64_t hyp_sysreg_value_;                      \
    asm volatile("mrs %0, " #name : "=r"(hyp_sysreg_value_)); \
    hyp_sysreg_value_;                               \
  })

#define HYP_WRITE_SYSREG(name, value) asm volatile("msr " #name ", %0" ::"r"(static_cast<uint64_t>(value)))

namespace hyp::arch {

inline void isb() { asm volatile("isb" ::: "memory"); }
inline void dsb_ish() { asm volatile("dsb ish" ::: "memory"); }
inline void dsb_ishst() { asm volatile("dsb ishst" ::: "memory"); }

}  // namespace hyp::arch
