#include "kernel/arch/vcpu.h"

#include "kernel/arch/aarch64/sysreg.h"
#include "kernel/vcpu/context.h"

namespace hyp::arch {

El1ExceptionRegs read_el1_exception_regs() {
  return {
      .vbar_el1 = HYP_READ_SYSREG(vbar_el1),
      .elr_el1 = HYP_READ_SYSREG(elr_el1),
      .spsr_el1 = HYP_READ_SYSREG(spsr_el1),
      .esr_el1 = HYP_READ_SYSREG(esr_el1),
      .far_el1 = HYP_READ_SYSREG(far_el1),
  };
}

void write_el1_exception_regs(const El1ExceptionRegs& regs) {
  HYP_WRITE_SYSREG(elr_el1, regs.elr_el1);
  HYP_WRITE_SYSREG(spsr_el1, regs.spsr_el1);
  HYP_WRITE_SYSREG(esr_el1, regs.esr_el1);
  HYP_WRITE_SYSREG(far_el1, regs.far_el1);
}

// The ID register space op0 = 3, op1 = 0, CRn = 0, CRm = 1..7, op2 = 0..7:
// MRS needs the encoding as an immediate, hence one case per register.
uint64_t read_id_register(uint32_t key) {
  switch (key) {
#define HYP_ID_CASE(crm, op2)                      \
  case (3u << 20) | (op2 << 17) | (crm << 1):      \
    return HYP_READ_SYSREG(S3_0_C0_C##crm##_##op2);
#define HYP_ID_ROW(crm) \
  HYP_ID_CASE(crm, 0) HYP_ID_CASE(crm, 1) HYP_ID_CASE(crm, 2) HYP_ID_CASE(crm, 3) \
  HYP_ID_CASE(crm, 4) HYP_ID_CASE(crm, 5) HYP_ID_CASE(crm, 6) HYP_ID_CASE(crm, 7)
    HYP_ID_ROW(1)
    HYP_ID_ROW(2)
    HYP_ID_ROW(3)
    HYP_ID_ROW(4)
    HYP_ID_ROW(5)
    HYP_ID_ROW(6)
    HYP_ID_ROW(7)
#undef HYP_ID_ROW
#undef HYP_ID_CASE
    default:
      return 0;
  }
}

}  // namespace hyp::arch

extern "C" void fp_save(hyp::FpState* state);
extern "C" void fp_restore(const hyp::FpState* state);

namespace hyp::arch {
namespace {

// VTCR_EL2 (Arm ARM D17.2.186): 40-bit IPA (T0SZ 24) walked from level 0
// (SL0 = 2), 4 KiB granule, inner-shareable write-back walks, 8-bit VMIDs;
// bit 31 is RES1. PS is the CPU's physical address size: a level-0 start
// with the 4 KiB granule is only valid with an output size of at least 44
// bits, so PS must not be narrowed to the 40 bits the tables use.
constexpr uint64_t kVtcrFixed = (uint64_t{1} << 31) | (uint64_t{0} << 14) | (uint64_t{3} << 12) |
                                (uint64_t{1} << 10) | (uint64_t{1} << 8) | (uint64_t{2} << 6) | 24;

uint64_t vtcr() {
  uint64_t pa_range = HYP_READ_SYSREG(id_aa64mmfr0_el1) & 0xf;
  if (pa_range > 5) pa_range = 5;  // 48 bits: the largest PS without FEAT_LPA
  return kVtcrFixed | (pa_range << 16);
}

// CNTHCTL_EL2 (non-VHE): EL1PCTEN (bit 0) lets partitions read the physical
// counter; EL1PCEN (bit 1) clear traps the EL1 physical timer, which
// partitions do not get: they use the virtual timer.
constexpr uint64_t kCnthctl = 1;

}  // namespace

uint64_t host_midr() { return HYP_READ_SYSREG(midr_el1); }

uint64_t host_pmu_counters() { return HYP_READ_SYSREG(mdcr_el2) & 0x1f; }

TrapSyndrome read_trap_syndrome() {
  return {HYP_READ_SYSREG(esr_el2), HYP_READ_SYSREG(far_el2), HYP_READ_SYSREG(hpfar_el2)};
}

void vcpu_load(const VcpuContext& ctx, Scope scope) {
  const El2Controls& c = ctx.el2;
  HYP_WRITE_SYSREG(vtcr_el2, vtcr());
  HYP_WRITE_SYSREG(cnthctl_el2, kCnthctl);
  HYP_WRITE_SYSREG(hcr_el2, c.hcr_el2);
  HYP_WRITE_SYSREG(vttbr_el2, c.vttbr_el2);
  HYP_WRITE_SYSREG(vmpidr_el2, c.vmpidr_el2);
  HYP_WRITE_SYSREG(vpidr_el2, c.vpidr_el2);
  HYP_WRITE_SYSREG(cntvoff_el2, c.cntvoff_el2);
  HYP_WRITE_SYSREG(mdcr_el2, c.mdcr_el2);
  HYP_WRITE_SYSREG(cptr_el2, c.cptr_el2);
  isb();

  const El1Sysregs& r = ctx.el1;
  HYP_WRITE_SYSREG(sctlr_el1, r.sctlr_el1);
  HYP_WRITE_SYSREG(actlr_el1, r.actlr_el1);
  HYP_WRITE_SYSREG(cpacr_el1, r.cpacr_el1);
  HYP_WRITE_SYSREG(ttbr0_el1, r.ttbr0_el1);
  HYP_WRITE_SYSREG(ttbr1_el1, r.ttbr1_el1);
  HYP_WRITE_SYSREG(tcr_el1, r.tcr_el1);
  HYP_WRITE_SYSREG(mair_el1, r.mair_el1);
  HYP_WRITE_SYSREG(amair_el1, r.amair_el1);
  HYP_WRITE_SYSREG(vbar_el1, r.vbar_el1);
  HYP_WRITE_SYSREG(contextidr_el1, r.contextidr_el1);
  HYP_WRITE_SYSREG(tpidr_el0, r.tpidr_el0);
  HYP_WRITE_SYSREG(tpidrro_el0, r.tpidrro_el0);
  HYP_WRITE_SYSREG(tpidr_el1, r.tpidr_el1);
  HYP_WRITE_SYSREG(sp_el0, r.sp_el0);
  HYP_WRITE_SYSREG(sp_el1, r.sp_el1);
  HYP_WRITE_SYSREG(elr_el1, r.elr_el1);
  HYP_WRITE_SYSREG(spsr_el1, r.spsr_el1);
  HYP_WRITE_SYSREG(esr_el1, r.esr_el1);
  HYP_WRITE_SYSREG(far_el1, r.far_el1);
  HYP_WRITE_SYSREG(afsr0_el1, r.afsr0_el1);
  HYP_WRITE_SYSREG(afsr1_el1, r.afsr1_el1);
  HYP_WRITE_SYSREG(par_el1, r.par_el1);
  HYP_WRITE_SYSREG(csselr_el1, r.csselr_el1);
  HYP_WRITE_SYSREG(mdscr_el1, r.mdscr_el1);
  HYP_WRITE_SYSREG(cntkctl_el1, r.cntkctl_el1);
  HYP_WRITE_SYSREG(cntv_cval_el0, r.cntv_cval_el0);
  HYP_WRITE_SYSREG(cntv_ctl_el0, r.cntv_ctl_el0);
  if (scope == Scope::kServer) {
    isb();
    return;
  }
  // Pointer-authentication keys, by encoding (APIAKeyLo_EL1 is S3_0_C2_C1_0).
  HYP_WRITE_SYSREG(S3_0_C2_C1_0, r.apiakey_lo);
  HYP_WRITE_SYSREG(S3_0_C2_C1_1, r.apiakey_hi);
  HYP_WRITE_SYSREG(S3_0_C2_C1_2, r.apibkey_lo);
  HYP_WRITE_SYSREG(S3_0_C2_C1_3, r.apibkey_hi);
  HYP_WRITE_SYSREG(S3_0_C2_C2_0, r.apdakey_lo);
  HYP_WRITE_SYSREG(S3_0_C2_C2_1, r.apdakey_hi);
  HYP_WRITE_SYSREG(S3_0_C2_C2_2, r.apdbkey_lo);
  HYP_WRITE_SYSREG(S3_0_C2_C2_3, r.apdbkey_hi);
  HYP_WRITE_SYSREG(S3_0_C2_C3_0, r.apgakey_lo);
  HYP_WRITE_SYSREG(S3_0_C2_C3_1, r.apgakey_hi);
  fp_restore(&ctx.fp);
  isb();
}

void vcpu_save(VcpuContext& ctx, Scope scope) {
  El1Sysregs& r = ctx.el1;
  r.sctlr_el1 = HYP_READ_SYSREG(sctlr_el1);
  r.actlr_el1 = HYP_READ_SYSREG(actlr_el1);
  r.cpacr_el1 = HYP_READ_SYSREG(cpacr_el1);
  r.ttbr0_el1 = HYP_READ_SYSREG(ttbr0_el1);
  r.ttbr1_el1 = HYP_READ_SYSREG(ttbr1_el1);
  r.tcr_el1 = HYP_READ_SYSREG(tcr_el1);
  r.mair_el1 = HYP_READ_SYSREG(mair_el1);
  r.amair_el1 = HYP_READ_SYSREG(amair_el1);
  r.vbar_el1 = HYP_READ_SYSREG(vbar_el1);
  r.contextidr_el1 = HYP_READ_SYSREG(contextidr_el1);
  r.tpidr_el0 = HYP_READ_SYSREG(tpidr_el0);
  r.tpidrro_el0 = HYP_READ_SYSREG(tpidrro_el0);
  r.tpidr_el1 = HYP_READ_SYSREG(tpidr_el1);
  r.sp_el0 = HYP_READ_SYSREG(sp_el0);
  r.sp_el1 = HYP_READ_SYSREG(sp_el1);
  r.elr_el1 = HYP_READ_SYSREG(elr_el1);
  r.spsr_el1 = HYP_READ_SYSREG(spsr_el1);
  r.esr_el1 = HYP_READ_SYSREG(esr_el1);
  r.far_el1 = HYP_READ_SYSREG(far_el1);
  r.afsr0_el1 = HYP_READ_SYSREG(afsr0_el1);
  r.afsr1_el1 = HYP_READ_SYSREG(afsr1_el1);
  r.par_el1 = HYP_READ_SYSREG(par_el1);
  r.csselr_el1 = HYP_READ_SYSREG(csselr_el1);
  r.mdscr_el1 = HYP_READ_SYSREG(mdscr_el1);
  r.cntkctl_el1 = HYP_READ_SYSREG(cntkctl_el1);
  r.cntv_cval_el0 = HYP_READ_SYSREG(cntv_cval_el0);
  r.cntv_ctl_el0 = HYP_READ_SYSREG(cntv_ctl_el0);
  if (scope == Scope::kServer) return;
  r.apiakey_lo = HYP_READ_SYSREG(S3_0_C2_C1_0);
  r.apiakey_hi = HYP_READ_SYSREG(S3_0_C2_C1_1);
  r.apibkey_lo = HYP_READ_SYSREG(S3_0_C2_C1_2);
  r.apibkey_hi = HYP_READ_SYSREG(S3_0_C2_C1_3);
  r.apdakey_lo = HYP_READ_SYSREG(S3_0_C2_C2_0);
  r.apdakey_hi = HYP_READ_SYSREG(S3_0_C2_C2_1);
  r.apdbkey_lo = HYP_READ_SYSREG(S3_0_C2_C2_2);
  r.apdbkey_hi = HYP_READ_SYSREG(S3_0_C2_C2_3);
  r.apgakey_lo = HYP_READ_SYSREG(S3_0_C2_C3_0);
  r.apgakey_hi = HYP_READ_SYSREG(S3_0_C2_C3_1);
  fp_save(&ctx.fp);
}

}  // namespace hyp::arch
