// The EL0/EL1 registers that a guest and a device server on the same CPU
// must each keep to themselves, as the EL1-state test reads and writes
// them: every register the kernel switches (docs/vcpu.md, "Every register
// EL1 can reach"), with a value each side writes. Shared by the test guest
// (guests/el1_state) and the test server (servers/el1_state).
#pragma once

#include <cstddef>
#include <cstdint>

namespace el1_state {

// X(name, register as MRS/MSR spell it, guest's value, server's value, server writes it)
// The server leaves its own translation registers alone (its MMU is on).
// Each guest value is one the server cannot come by on its own: SPSR_EL1's
// says EL0t, which the server's own exceptions (taken from EL1h) never save.
#define EL1_STATE_REGISTERS(X)                                                                             \
  X(tpidr_el0, tpidr_el0, 0x6a11'0000'0000'0001, 0x5e11'0000'0000'0001, true)                              \
  X(tpidrro_el0, tpidrro_el0, 0x6a12'0000'0000'0002, 0x5e12'0000'0000'0002, true)                          \
  X(tpidr_el1, tpidr_el1, 0x6a13'0000'0000'0003, 0x5e13'0000'0000'0003, true)                              \
  X(tpidr2_el0, S3_3_C13_C0_5, 0x6a14'0000'0000'0004, 0x5e14'0000'0000'0004, true)                         \
  X(contextidr_el1, contextidr_el1, 0x6a15'0005, 0x5e15'0005, true)                                        \
  X(far_el1, far_el1, 0x6a16'0000'0000'0006, 0x5e16'0000'0000'0006, true)                                  \
  X(esr_el1, esr_el1, 0x5a00'1234, 0x9600'4321, true)                                                      \
  X(elr_el1, elr_el1, 0x6a18'0000'0000'0008, 0x5e18'0000'0000'0008, true)                                  \
  X(spsr_el1, spsr_el1, 0x9000'0100, 0x6000'0004, true)                                                    \
  X(sp_el0, sp_el0, 0x6a1a'0000'0000'0010, 0x5e1a'0000'0000'0010, true)                                    \
  X(cntkctl_el1, cntkctl_el1, 0x3, 0x1, true)                                                              \
  X(cntv_cval_el0, cntv_cval_el0, 0x7a1d'0000'0000'0000, 0x7e1d'0000'0000'0000, true)                      \
  X(cntv_ctl_el0, cntv_ctl_el0, 0x3, 0x2, true)                                                            \
  X(csselr_el1, csselr_el1, 0x1, 0x0, true)                                                                \
  X(par_el1, par_el1, 0xff00'0000'4123'4380, 0x4400'0000'4321'0180, true)                                  \
  X(ttbr1_el1, ttbr1_el1, 0x0002'0000'4010'0000, 0x0003'0000'4020'0000, true)                              \
  X(cpacr_el1, cpacr_el1, 0x1030'0000, 0x1000'0000, true)                                                  \
  X(mair_el1, mair_el1, 0x4444'ff00'bb44'ff04, 0, false)                                                   \
  X(tcr_el1, tcr_el1, 0x0000'0032'0051'0019, 0, false)                                                     \
  X(ttbr0_el1, ttbr0_el1, 0x0001'0000'4000'0000, 0, false)                                                 \
  X(disr_el1, S3_0_C12_C1_1, 0x8000'0011, 0x0000'0022, true)                                               \
  X(icc_pmr_el1, S3_0_C4_C6_0, 0xf0, 0x80, true)                                                           \
  X(icc_bpr0_el1, S3_0_C12_C8_3, 0x3, 0x5, true)                                                           \
  X(icc_bpr1_el1, S3_0_C12_C12_3, 0x6, 0x4, true)                                                          \
  X(icc_igrpen0_el1, S3_0_C12_C12_6, 0x1, 0x0, true)                                                       \
  X(icc_igrpen1_el1, S3_0_C12_C12_7, 0x1, 0x0, true)                                                       \
  X(icc_ap0r0_el1, S3_0_C12_C8_4, 0x2, 0x4, true)                                                          \
  X(icc_ap1r0_el1, S3_0_C12_C9_0, 0x8001, 0x10'0000, true)                                                 \
  X(icc_ctlr_el1, S3_0_C12_C12_4, 0x2, 0x0, true) /* not CBPR: it would alias BPR1 to BPR0 */

#define EL1_STATE_INDEX(name, reg, g, s, w) k_##name,
enum Register : uint32_t { EL1_STATE_REGISTERS(EL1_STATE_INDEX) kCount };
#undef EL1_STATE_INDEX

struct Info {
  const char* name;
  uint64_t guest_value;
  uint64_t server_value;
  bool server_writes;
};

#define EL1_STATE_INFO(name, reg, g, s, w) {#name, g, s, w},
inline constexpr Info kInfo[kCount] = {EL1_STATE_REGISTERS(EL1_STATE_INFO)};
#undef EL1_STATE_INFO

inline uint64_t read(uint32_t r) {
  uint64_t v = 0;
  switch (r) {
#define EL1_STATE_READ(name, reg, g, s, w) \
  case k_##name:                           \
    asm volatile("mrs %0, " #reg : "=r"(v)); \
    break;
    EL1_STATE_REGISTERS(EL1_STATE_READ)
#undef EL1_STATE_READ
    default:
      break;
  }
  return v;
}

inline void write(uint32_t r, uint64_t v) {
  switch (r) {
#define EL1_STATE_WRITE(name, reg, g, s, w) \
  case k_##name:                            \
    asm volatile("msr " #reg ", %0\n\tisb" ::"r"(v) : "memory"); \
    break;
    EL1_STATE_REGISTERS(EL1_STATE_WRITE)
#undef EL1_STATE_WRITE
    default:
      break;
  }
}

// The test server's register window (device 0):
//   0x000 + 8 * r   read: the value of register r as the server finds it;
//                   the server then writes its own value into r
//   0x800 + 8 * r   read: what r read back after the server's last write
//   0xff8           read: kCount
inline constexpr uint64_t kSeenBase = 0x000;
inline constexpr uint64_t kOwnBase = 0x800;
inline constexpr uint64_t kCountReg = 0xff8;
// Returned for a register the server cannot reach (UNDEFINED there).
inline constexpr uint64_t kAbsent = 0xab5e'0000'0000'ab5e;

}  // namespace el1_state
