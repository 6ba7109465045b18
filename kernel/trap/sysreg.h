// The rule for trapped system-register accesses (docs/vcpu.md):
//  - ID registers (op0 3, op1 0, CRn 0, CRm 1-7; HCR_EL2.TID3) read the host's
//    value with the features partitions do not get cleared (SVE, SME, MTE,
//    AMU, MPAM, PMU, statistical profiling, trace); writes are undefined;
//  - debug registers (op0 2, and MDSCR_EL1; MDCR_EL2.TDA/TDOSA/TDRA) read as
//    zero and ignore writes: partitions get no self-hosted debug;
//  - ICC_SRE_EL1 (trapped: ICC_SRE_EL2.Enable clear) reads as SRE, DFB and
//    DIB set and ignores writes; RAS error-record registers (HCR_EL2.TERR)
//    read as zero (no records) and ignore writes;
//  - anything else that traps is undefined: the vCPU takes an UNDEFINED
//    exception at EL1.
#pragma once

#include <cstdint>

#include "kernel/trap/esr.h"

namespace hyp {

enum class SysregOutcome : uint8_t { kEmulated, kUndefined };

struct SysregAccess {
  SysregOutcome outcome;
  uint64_t read_value;  // for emulated reads
};

// The value a partition reads from ID register `key`, given the host's.
uint64_t sanitize_id_register(uint32_t key, uint64_t host_value);

// Applies the rule. `write_value` is the value of Rt for writes.
SysregAccess emulate_sysreg(EsrSysreg esr, uint64_t write_value);

// Register keys (sysreg_key) used by the rule and its tests.
namespace sysreg {
inline constexpr uint32_t kIdAa64Pfr0 = sysreg_key(3, 0, 0, 4, 0);
inline constexpr uint32_t kIdAa64Pfr1 = sysreg_key(3, 0, 0, 4, 1);
inline constexpr uint32_t kIdAa64Pfr2 = sysreg_key(3, 0, 0, 4, 2);
inline constexpr uint32_t kIdAa64Zfr0 = sysreg_key(3, 0, 0, 4, 4);
inline constexpr uint32_t kIdAa64Smfr0 = sysreg_key(3, 0, 0, 4, 5);
inline constexpr uint32_t kIdAa64Dfr0 = sysreg_key(3, 0, 0, 5, 0);
inline constexpr uint32_t kIdAa64Dfr1 = sysreg_key(3, 0, 0, 5, 1);
inline constexpr uint32_t kIdAa64Isar0 = sysreg_key(3, 0, 0, 6, 0);
inline constexpr uint32_t kIdAa64Isar1 = sysreg_key(3, 0, 0, 6, 1);
inline constexpr uint32_t kIdAa64Isar2 = sysreg_key(3, 0, 0, 6, 2);
inline constexpr uint32_t kIdAa64Mmfr0 = sysreg_key(3, 0, 0, 7, 0);
inline constexpr uint32_t kIdAa64Mmfr1 = sysreg_key(3, 0, 0, 7, 1);
inline constexpr uint32_t kIdAa64Mmfr3 = sysreg_key(3, 0, 0, 7, 3);
inline constexpr uint32_t kIdAa64Mmfr4 = sysreg_key(3, 0, 0, 7, 4);
inline constexpr uint32_t kIccSreEl1 = sysreg_key(3, 0, 12, 12, 5);
// SGI generation (GICv3 12.2): trapped while HCR_EL2.IMO/FMO are set.
inline constexpr uint32_t kIccSgi1rEl1 = sysreg_key(3, 0, 12, 11, 5);
inline constexpr uint32_t kIccAsgi1rEl1 = sysreg_key(3, 1, 12, 11, 6);
inline constexpr uint32_t kIccSgi0rEl1 = sysreg_key(3, 2, 12, 11, 7);
// The EL1 physical timer (CNTHCTL_EL2.EL1PCEN clear: trapped, emulated).
inline constexpr uint32_t kCntpTvalEl0 = sysreg_key(3, 3, 14, 2, 0);
inline constexpr uint32_t kCntpCtlEl0 = sysreg_key(3, 3, 14, 2, 1);
inline constexpr uint32_t kCntpCvalEl0 = sysreg_key(3, 3, 14, 2, 2);
inline constexpr uint32_t kErridrEl1 = sysreg_key(3, 0, 5, 3, 0);
inline constexpr uint32_t kErxctlrEl1 = sysreg_key(3, 0, 5, 4, 1);
inline constexpr uint32_t kLorcEl1 = sysreg_key(3, 0, 10, 4, 3);
inline constexpr uint32_t kScxtnumEl1 = sysreg_key(3, 0, 13, 0, 7);
inline constexpr uint32_t kTcr2El1 = sysreg_key(3, 0, 2, 0, 3);
inline constexpr uint32_t kMdscrEl1 = sysreg_key(2, 0, 0, 2, 2);
inline constexpr uint32_t kOslarEl1 = sysreg_key(2, 0, 1, 0, 4);
inline constexpr uint32_t kPmcrEl0 = sysreg_key(3, 3, 9, 12, 0);
}  // namespace sysreg

// ICC_SRE_EL1 as partitions read it: SRE, DFB, DIB.
inline constexpr uint64_t kIccSreEl1Value = 0x7;

}  // namespace hyp
