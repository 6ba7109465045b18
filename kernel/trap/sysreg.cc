#include "kernel/trap/sysreg.h"

#include "kernel/arch/vcpu.h"

namespace hyp {
namespace {

constexpr uint64_t field(int shift) { return uint64_t{0xf} << shift; }

bool is_id_register(const EsrSysreg& e) { return e.op0() == 3 && e.op1() == 0 && e.crn() == 0 && e.crm() >= 1; }

// RAS error records (op0 3, op1 0, CRn 5, CRm 3..5; HCR_EL2.TERR): a CPU
// with no error records for partitions, so ERRIDR_EL1.NUM reads as zero and
// the rest read as zero and ignore writes (Arm ARM D17.2, "RAS registers").
bool is_ras_record_register(const EsrSysreg& e) {
  return e.op0() == 3 && e.op1() == 0 && e.crn() == 5 && e.crm() >= 3 && e.crm() <= 5;
}

// Caps a 4-bit ID field at `max`.
uint64_t at_most(uint64_t v, int shift, uint64_t max) {
  return ((v >> shift) & 0xf) > max ? (v & ~field(shift)) | (max << shift) : v;
}

}  // namespace

uint64_t sanitize_id_register(uint32_t key, uint64_t v) {
  switch (key) {
    case sysreg::kIdAa64Pfr0:
      // SVE [35:32], MPAM [43:40], AMU [47:44], RME [55:52]; CSV2 [59:56]
      // at most 1 (CSV2_2 would promise SCXTNUM_ELx, which trap).
      return at_most(v & ~(field(32) | field(40) | field(44) | field(52)), 56, 1);
    case sysreg::kIdAa64Pfr1:
      // MTE [11:8], MPAM_frac [19:16], SME [27:24], CSV2_frac [35:32],
      // NMI [39:36], MTE_frac [43:40], GCS [47:44], THE [51:48],
      // MTEX [55:52], DF2 [59:56], PFAR [63:60].
      return v & ~(field(8) | field(16) | field(24) | field(32) | field(36) | field(40) | field(44) | field(48) |
                   field(52) | field(56) | field(60));
    case sysreg::kIdAa64Zfr0:
    case sysreg::kIdAa64Smfr0:
    case sysreg::kIdAa64Pfr2:   // MTE store-only, FPMR, ...
    case sysreg::kIdAa64Dfr1:   // further debug and PMU features
    case sysreg::kIdAa64Mmfr3:  // TCR2, SCTLR2, S1PIE, S1POE, AIE, MEC, D128...: all trap
    case sysreg::kIdAa64Mmfr4:
      return 0;
    case sysreg::kIdAa64Dfr0:
      // PMUVer [11:8], TraceVer [7:4], PMSVer [35:32], TraceFilt [43:40],
      // TraceBuffer [47:44], MTPMU [51:48], BRBE [55:52], HPMN0 [63:60];
      // keep DebugVer [3:0] and the breakpoint counts (accesses to them
      // read as zero, see the rule above).
      return v & ~(field(8) | field(4) | field(32) | field(40) | field(44) | field(48) | field(52) | field(60));
    case sysreg::kIdAa64Isar1:
      // LS64 [63:60]: its instructions and ACCDATA_EL1 trap (HCRX_EL2).
      return v & ~field(60);
    case sysreg::kIdAa64Isar2:
      // MOPS [19:16] (HCRX_EL2.MSCEn is clear), SYSREG_128 [35:32],
      // SYSINSTR_128 [39:36].
      return v & ~(field(16) | field(32) | field(36));
    case sysreg::kIdAa64Mmfr0:
      // FGT [59:56]: partitions have no EL2 to use it.
      return v & ~field(56);
    case sysreg::kIdAa64Mmfr1:
      // HCX [43:40]: as FGT.
      return v & ~field(40);
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
  if (esr.key() == sysreg::kIccSreEl1) {
    // System-register interface only, IRQ and FIQ bypass disabled (GICv3
    // 12.2.x): what the virtual CPU interface offers; writes change nothing.
    return {SysregOutcome::kEmulated, esr.read() ? kIccSreEl1Value : 0};
  }
  if (is_ras_record_register(esr)) return {SysregOutcome::kEmulated, 0};
  return {SysregOutcome::kUndefined, 0};
}

}  // namespace hyp
