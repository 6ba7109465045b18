#include "kernel/trap/sysreg.h"

#include "kernel/arch/vcpu.h"

namespace hyp {
namespace {

constexpr uint64_t field(int shift) { return uint64_t{0xf} << shift; }

bool is_id_register(const EsrSysreg& e) { return e.op0() == 3 && e.op1() == 0 && e.crn() == 0 && e.crm() >= 1; }

}  // namespace

uint64_t sanitize_id_register(uint32_t key, uint64_t v) {
  switch (key) {
    case sysreg::kIdAa64Pfr0:
      // SVE [35:32], MPAM [43:40], AMU [47:44], RME [55:52].
      return v & ~(field(32) | field(40) | field(44) | field(52));
    case sysreg::kIdAa64Pfr1:
      // MTE [11:8], SME [27:24], MPAM_frac [19:16], NMI [39:36].
      return v & ~(field(8) | field(24) | field(16) | field(36));
    case sysreg::kIdAa64Zfr0:
    case sysreg::kIdAa64Smfr0:
      return 0;
    case sysreg::kIdAa64Dfr0:
      // PMUVer [11:8], TraceVer [7:4], PMSVer [35:32], TraceFilt [43:40],
      // TraceBuffer [47:44]; keep DebugVer [3:0] and the breakpoint counts
      // (accesses to them read as zero, see the rule above).
      return v & ~(field(8) | field(4) | field(32) | field(40) | field(44));
    default:
      return v;
  }
}

SysregAccess emulate_sysreg(EsrSysreg esr, uint64_t /*write_value*/) {
  if (is_id_register(esr)) {
    if (!esr.read()) return {SysregOutcome::kUndefined, 0};
    return {SysregOutcome::kEmulated, sanitize_id_register(esr.key(), arch::read_id_register(esr.key()))};
  }
  if (esr.op0() == 2 || esr.key() == sysreg::kMdscrEl1) {
    return {SysregOutcome::kEmulated, 0};  // debug: RAZ/WI
  }
  return {SysregOutcome::kUndefined, 0};
}

}  // namespace hyp
