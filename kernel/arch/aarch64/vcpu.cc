#include "kernel/arch/vcpu.h"

#include "kernel/arch/aarch64/sysreg.h"
#include "kernel/vcpu/context.h"

// Two registers at a time, next to each other in the context, so that the
// compiler moves both with one load or store pair.
#define HYP_SAVE_PAIR(ctx, a, b)                  \
  do {                                            \
    const uint64_t hyp_first_ = HYP_READ_SYSREG(a);  \
    const uint64_t hyp_second_ = HYP_READ_SYSREG(b); \
    (ctx).a = hyp_first_;                         \
    (ctx).b = hyp_second_;                        \
  } while (0)
#define HYP_LOAD_PAIR(ctx, a, b)          \
  do {                                    \
    const uint64_t hyp_first_ = (ctx).a;  \
    const uint64_t hyp_second_ = (ctx).b; \
    HYP_WRITE_SYSREG(a, hyp_first_);      \
    HYP_WRITE_SYSREG(b, hyp_second_);     \
  } while (0)

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

// ICH_LR<n>_EL2 (GICv3 12.5.x): MSR needs the encoding as an immediate.
void write_list_register(uint32_t n, uint64_t value) {
  switch (n) {
#define HYP_LR_CASE(i, crm, op2) \
  case i:                        \
    HYP_WRITE_SYSREG(S3_4_C12_C##crm##_##op2, value); \
    break;
    HYP_LR_CASE(0, 12, 0) HYP_LR_CASE(1, 12, 1) HYP_LR_CASE(2, 12, 2) HYP_LR_CASE(3, 12, 3)
    HYP_LR_CASE(4, 12, 4) HYP_LR_CASE(5, 12, 5) HYP_LR_CASE(6, 12, 6) HYP_LR_CASE(7, 12, 7)
    HYP_LR_CASE(8, 13, 0) HYP_LR_CASE(9, 13, 1) HYP_LR_CASE(10, 13, 2) HYP_LR_CASE(11, 13, 3)
    HYP_LR_CASE(12, 13, 4) HYP_LR_CASE(13, 13, 5) HYP_LR_CASE(14, 13, 6) HYP_LR_CASE(15, 13, 7)
#undef HYP_LR_CASE
    default:
      break;
  }
}

// CNTHCTL_EL2 (non-VHE): EL1PCTEN (bit 0) lets partitions read the physical
// counter; EL1PCEN (bit 1) clear traps the EL1 physical timer, which
// partitions do not get: they use the virtual timer.
constexpr uint64_t kCnthctl = 1;

}  // namespace

namespace {

// Optional parts of the CPU whose registers EL1 can reach, from the ID
// registers (Arm ARM D17.2): read once, on the boot CPU, before any
// partition runs; every CPU of the machine is assumed to be alike.
struct Features {
  bool sme;            // ID_AA64PFR1_EL1.SME: TPIDR2_EL0
  bool ras;            // ID_AA64PFR0_EL1.RAS: DISR_EL1 / VDISR_EL2, VSESR_EL2
  bool hcx;            // ID_AA64MMFR1_EL1.HCX: HCRX_EL2
  uint32_t fgt;        // ID_AA64MMFR0_EL1.FGT: 1 FEAT_FGT, 2 FEAT_FGT2
  bool ecv;            // ID_AA64MMFR0_EL1.ECV: CNTPOFF_EL2
  bool mpam;           // ID_AA64PFR0_EL1.MPAM or PFR1.MPAM_frac
  bool amu_fgt;        // ID_AA64PFR0_EL1.AMU >= 2 (AMUv1p1) with FGT: HAFGRTR_EL2
  uint32_t lrs;        // ICH_VTR_EL2.ListRegs + 1
  uint32_t aprs;       // active-priority registers per group: 1, 2 or 4
};

constinit Features g_features{};
constinit bool g_features_read = false;
// The optional registers every switch moves, as one value to branch on
// once (the switch is on the guest/server fast path).
constexpr uint8_t kSme = 1;
constexpr uint8_t kRas = 2;
constinit uint8_t g_optional = 0;

constexpr uint64_t id_field(uint64_t reg, int shift) { return (reg >> shift) & 0xf; }

Features read_features() {
  const uint64_t pfr0 = HYP_READ_SYSREG(id_aa64pfr0_el1);
  const uint64_t pfr1 = HYP_READ_SYSREG(id_aa64pfr1_el1);
  const uint64_t mmfr0 = HYP_READ_SYSREG(id_aa64mmfr0_el1);
  const uint64_t mmfr1 = HYP_READ_SYSREG(id_aa64mmfr1_el1);
  const uint64_t vtr = HYP_READ_SYSREG(S3_4_C12_C11_1);  // ICH_VTR_EL2
  Features f{};
  f.sme = id_field(pfr1, 24) != 0;
  f.ras = id_field(pfr0, 28) != 0;
  f.hcx = id_field(mmfr1, 40) != 0;
  f.fgt = static_cast<uint32_t>(id_field(mmfr0, 56));
  f.ecv = id_field(mmfr0, 60) != 0;
  f.mpam = id_field(pfr0, 40) != 0 || id_field(pfr1, 16) != 0;
  f.amu_fgt = id_field(pfr0, 44) >= 2 && f.fgt != 0;
  f.lrs = static_cast<uint32_t>(vtr & 0xf) + 1;
  const uint32_t pri_bits = static_cast<uint32_t>((vtr >> 29) & 7) + 1;
  f.aprs = pri_bits >= 7 ? 4 : pri_bits == 6 ? 2 : 1;  // GICv3 12.4.1, ICH_AP0R<n>_EL2
  return f;
}

// HFGRTR_EL2/HFGWTR_EL2 (FEAT_FGT): every "n" bit (trap when clear) stays
// clear, so registers of features no partition is given trap, except
// nTPIDR2_EL0 (bit 55): TPIDR2_EL0 is switched. Positive trap bits stay
// clear: what they cover is switched or trapped by coarser controls.
constexpr uint64_t kHfgxtr = uint64_t{1} << 55;

// ICC_SRE_EL2: SRE (system registers at EL2), DFB, DIB, and Enable clear:
// EL1's accesses to ICC_SRE_EL1, which is not virtualized, trap (the
// sysreg rule answers them).
constexpr uint64_t kIccSreEl2 = 0x7;

// The registers of optional features, which every switch moves (a server
// and a guest on one CPU included).
void load_optional(const VcpuContext& ctx) {
  const uint8_t o = g_optional;
  if (o == (kSme | kRas)) {
    HYP_WRITE_SYSREG(S3_3_C13_C0_5, ctx.el1.tpidr2_el0);  // TPIDR2_EL0
    HYP_WRITE_SYSREG(S3_4_C12_C1_1, ctx.el1.vdisr_el2);  // VDISR_EL2
    return;
  }
  if ((o & kSme) != 0) HYP_WRITE_SYSREG(S3_3_C13_C0_5, ctx.el1.tpidr2_el0);
  if ((o & kRas) != 0) HYP_WRITE_SYSREG(S3_4_C12_C1_1, ctx.el1.vdisr_el2);
}

// The virtual CPU interface's state. A switch to a server leaves the
// guest's in place: servers trap every ICV_* access (ICH_HCR_EL2).
void load_vgic(const VcpuContext& ctx) {
  const Features& f = g_features;
  const VgicCpuState& g = ctx.vgic;
  HYP_WRITE_SYSREG(S3_4_C12_C11_7, g.vmcr);  // ICH_VMCR_EL2
  HYP_WRITE_SYSREG(S3_4_C12_C8_0, g.ap0r[0]);
  HYP_WRITE_SYSREG(S3_4_C12_C9_0, g.ap1r[0]);
  if (f.aprs >= 2) {
    HYP_WRITE_SYSREG(S3_4_C12_C8_1, g.ap0r[1]);
    HYP_WRITE_SYSREG(S3_4_C12_C9_1, g.ap1r[1]);
  }
  if (f.aprs >= 4) {
    HYP_WRITE_SYSREG(S3_4_C12_C8_2, g.ap0r[2]);
    HYP_WRITE_SYSREG(S3_4_C12_C9_2, g.ap1r[2]);
    HYP_WRITE_SYSREG(S3_4_C12_C8_3, g.ap0r[3]);
    HYP_WRITE_SYSREG(S3_4_C12_C9_3, g.ap1r[3]);
  }
}

void save_optional(VcpuContext& ctx) {
  const uint8_t o = g_optional;
  if (o == (kSme | kRas)) {
    ctx.el1.tpidr2_el0 = HYP_READ_SYSREG(S3_3_C13_C0_5);
    ctx.el1.vdisr_el2 = HYP_READ_SYSREG(S3_4_C12_C1_1);
    return;
  }
  if ((o & kSme) != 0) ctx.el1.tpidr2_el0 = HYP_READ_SYSREG(S3_3_C13_C0_5);
  if ((o & kRas) != 0) ctx.el1.vdisr_el2 = HYP_READ_SYSREG(S3_4_C12_C1_1);
}

void save_vgic(VcpuContext& ctx) {
  const Features& f = g_features;
  VgicCpuState& g = ctx.vgic;
  g.vmcr = HYP_READ_SYSREG(S3_4_C12_C11_7);
  g.ap0r[0] = HYP_READ_SYSREG(S3_4_C12_C8_0);
  g.ap1r[0] = HYP_READ_SYSREG(S3_4_C12_C9_0);
  if (f.aprs >= 2) {
    g.ap0r[1] = HYP_READ_SYSREG(S3_4_C12_C8_1);
    g.ap1r[1] = HYP_READ_SYSREG(S3_4_C12_C9_1);
  }
  if (f.aprs >= 4) {
    g.ap0r[2] = HYP_READ_SYSREG(S3_4_C12_C8_2);
    g.ap1r[2] = HYP_READ_SYSREG(S3_4_C12_C9_2);
    g.ap0r[3] = HYP_READ_SYSREG(S3_4_C12_C8_3);
    g.ap1r[3] = HYP_READ_SYSREG(S3_4_C12_C9_3);
  }
}

}  // namespace

void el2_controls_init() {
  if (!g_features_read) {
    g_features = read_features();
    g_optional = static_cast<uint8_t>((g_features.sme ? kSme : 0) | (g_features.ras ? kRas : 0));
    g_features_read = true;
  }
  const Features& f = g_features;
  HYP_WRITE_SYSREG(S3_4_C12_C9_5, kIccSreEl2);  // ICC_SRE_EL2
  isb();
  HYP_WRITE_SYSREG(S3_4_C12_C11_0, 0);  // ICH_HCR_EL2 until a vCPU loads its own
  for (uint32_t i = 0; i < f.lrs; ++i) write_list_register(i, 0);
  HYP_WRITE_SYSREG(vtcr_el2, vtcr());
  HYP_WRITE_SYSREG(cnthctl_el2, kCnthctl);
  HYP_WRITE_SYSREG(S3_4_C1_C1_3, 0);  // HSTR_EL2: no AArch32 CP15 traps
  HYP_WRITE_SYSREG(S3_4_C1_C1_7, 0);  // HACR_EL2: no IMPLEMENTATION DEFINED traps
  if (f.ras) HYP_WRITE_SYSREG(S3_4_C5_C2_3, 0);  // VSESR_EL2
  // HCRX_EL2: every control clear. Among them TCR2En and SCTLR2En (TCR2_EL1
  // and SCTLR2_EL1 trap), MSCEn (memory copy/set instructions UNDEFINED),
  // GCSEn, EnFPM, EnAS0/EnALS/EnASR: features partitions do not get.
  if (f.hcx) HYP_WRITE_SYSREG(S3_4_C1_C2_2, 0);
  if (f.fgt != 0) {
    HYP_WRITE_SYSREG(S3_4_C1_C1_4, kHfgxtr);  // HFGRTR_EL2
    HYP_WRITE_SYSREG(S3_4_C1_C1_5, kHfgxtr);  // HFGWTR_EL2
    HYP_WRITE_SYSREG(S3_4_C1_C1_6, 0);        // HFGITR_EL2
    HYP_WRITE_SYSREG(S3_4_C3_C1_4, 0);        // HDFGRTR_EL2
    HYP_WRITE_SYSREG(S3_4_C3_C1_5, 0);        // HDFGWTR_EL2
    if (f.amu_fgt) HYP_WRITE_SYSREG(S3_4_C3_C1_6, 0);  // HAFGRTR_EL2
  }
  if (f.fgt >= 2) {
    HYP_WRITE_SYSREG(S3_4_C3_C1_2, 0);  // HFGRTR2_EL2
    HYP_WRITE_SYSREG(S3_4_C3_C1_3, 0);  // HFGWTR2_EL2
    HYP_WRITE_SYSREG(S3_4_C3_C1_7, 0);  // HFGITR2_EL2
    HYP_WRITE_SYSREG(S3_4_C3_C1_0, 0);  // HDFGRTR2_EL2
    HYP_WRITE_SYSREG(S3_4_C3_C1_1, 0);  // HDFGWTR2_EL2
  }
  if (f.ecv) HYP_WRITE_SYSREG(S3_4_C14_C0_6, 0);  // CNTPOFF_EL2
  if (f.mpam) {
    HYP_WRITE_SYSREG(S3_4_C10_C4_0, 0);                                        // MPAMHCR_EL2
    HYP_WRITE_SYSREG(S3_4_C10_C5_0, (uint64_t{1} << 49) | (uint64_t{1} << 48));  // MPAM2_EL2: trap MPAM0/1_EL1
  }
  isb();
}

uint32_t list_registers() { return g_features.lrs; }

// The first `n` list registers, straight-line (on the path of every
// interrupt a guest is given).
void save_list_registers(VcpuContext& ctx) {
  uint64_t* lr = ctx.lrs.lr;
  switch (g_features.lrs) {
#define HYP_LR_SAVE(i, crm, op2) \
  case (i) + 1:                  \
    lr[i] = HYP_READ_SYSREG(S3_4_C12_C##crm##_##op2); \
    [[fallthrough]];
    HYP_LR_SAVE(15, 13, 7) HYP_LR_SAVE(14, 13, 6) HYP_LR_SAVE(13, 13, 5) HYP_LR_SAVE(12, 13, 4)
    HYP_LR_SAVE(11, 13, 3) HYP_LR_SAVE(10, 13, 2) HYP_LR_SAVE(9, 13, 1) HYP_LR_SAVE(8, 13, 0)
    HYP_LR_SAVE(7, 12, 7) HYP_LR_SAVE(6, 12, 6) HYP_LR_SAVE(5, 12, 5) HYP_LR_SAVE(4, 12, 4)
    HYP_LR_SAVE(3, 12, 3) HYP_LR_SAVE(2, 12, 2) HYP_LR_SAVE(1, 12, 1) HYP_LR_SAVE(0, 12, 0)
#undef HYP_LR_SAVE
    default:
      break;
  }
}

void load_list_registers(const VcpuContext& ctx) {
  const uint64_t* lr = ctx.lrs.lr;
  switch (g_features.lrs) {
#define HYP_LR_LOAD(i, crm, op2) \
  case (i) + 1:                  \
    HYP_WRITE_SYSREG(S3_4_C12_C##crm##_##op2, lr[i]); \
    [[fallthrough]];
    HYP_LR_LOAD(15, 13, 7) HYP_LR_LOAD(14, 13, 6) HYP_LR_LOAD(13, 13, 5) HYP_LR_LOAD(12, 13, 4)
    HYP_LR_LOAD(11, 13, 3) HYP_LR_LOAD(10, 13, 2) HYP_LR_LOAD(9, 13, 1) HYP_LR_LOAD(8, 13, 0)
    HYP_LR_LOAD(7, 12, 7) HYP_LR_LOAD(6, 12, 6) HYP_LR_LOAD(5, 12, 5) HYP_LR_LOAD(4, 12, 4)
    HYP_LR_LOAD(3, 12, 3) HYP_LR_LOAD(2, 12, 2) HYP_LR_LOAD(1, 12, 1) HYP_LR_LOAD(0, 12, 0)
#undef HYP_LR_LOAD
    default:
      break;
  }
  HYP_WRITE_SYSREG(S3_4_C12_C11_0, ctx.el2.ich_hcr_el2 | ctx.lrs.hcr);  // ICH_HCR_EL2
}

void write_hcr(uint64_t hcr) { HYP_WRITE_SYSREG(hcr_el2, hcr); }

void mask_virtual_timer() {
  HYP_WRITE_SYSREG(cntv_ctl_el0, HYP_READ_SYSREG(cntv_ctl_el0) | 2);  // IMASK
  isb();
}

VirtualTimer read_virtual_timer() {
  return {HYP_READ_SYSREG(cntv_ctl_el0), HYP_READ_SYSREG(cntv_cval_el0)};
}

uint64_t host_midr() { return HYP_READ_SYSREG(midr_el1); }

uint64_t host_pmu_counters() { return HYP_READ_SYSREG(mdcr_el2) & 0x1f; }

TrapSyndrome read_trap_syndrome() {
  return {HYP_READ_SYSREG(esr_el2), HYP_READ_SYSREG(far_el2), HYP_READ_SYSREG(hpfar_el2)};
}

namespace {

// The parts of a switch, shared by the full one and the server one.

void load_el2(const El2Controls& c) {
  // VTCR_EL2 and CNTHCTL_EL2 are the same for every partition: written
  // once per CPU (el2_controls_init()).
  HYP_LOAD_PAIR(c, hcr_el2, vmpidr_el2);
  HYP_LOAD_PAIR(c, vpidr_el2, cntvoff_el2);
  HYP_LOAD_PAIR(c, mdcr_el2, cptr_el2);
  HYP_WRITE_SYSREG(vttbr_el2, c.vttbr_el2);
  // No ISB here: writing EL1's registers from EL2 does not depend on these
  // controls, and the ERET into the partition (or an ISB before the kernel
  // depends on them) orders it all before the partition runs.
}

void load_el1(const El1Sysregs& r) {
  HYP_LOAD_PAIR(r, sctlr_el1, actlr_el1);
  HYP_LOAD_PAIR(r, cpacr_el1, ttbr0_el1);
  HYP_LOAD_PAIR(r, ttbr1_el1, tcr_el1);
  HYP_LOAD_PAIR(r, mair_el1, amair_el1);
  HYP_LOAD_PAIR(r, vbar_el1, contextidr_el1);
  HYP_LOAD_PAIR(r, tpidr_el0, tpidrro_el0);
  HYP_LOAD_PAIR(r, tpidr_el1, sp_el0);
  HYP_LOAD_PAIR(r, sp_el1, elr_el1);
  HYP_LOAD_PAIR(r, spsr_el1, esr_el1);
  HYP_LOAD_PAIR(r, far_el1, afsr0_el1);
  HYP_LOAD_PAIR(r, afsr1_el1, par_el1);
  HYP_LOAD_PAIR(r, csselr_el1, mdscr_el1);
  HYP_WRITE_SYSREG(cntkctl_el1, r.cntkctl_el1);
  // The compare value before the control that may enable the timer.
  HYP_LOAD_PAIR(r, cntv_cval_el0, cntv_ctl_el0);
}

void save_el1(El1Sysregs& r) {
  HYP_SAVE_PAIR(r, sctlr_el1, actlr_el1);
  HYP_SAVE_PAIR(r, cpacr_el1, ttbr0_el1);
  HYP_SAVE_PAIR(r, ttbr1_el1, tcr_el1);
  HYP_SAVE_PAIR(r, mair_el1, amair_el1);
  HYP_SAVE_PAIR(r, vbar_el1, contextidr_el1);
  HYP_SAVE_PAIR(r, tpidr_el0, tpidrro_el0);
  HYP_SAVE_PAIR(r, tpidr_el1, sp_el0);
  HYP_SAVE_PAIR(r, sp_el1, elr_el1);
  HYP_SAVE_PAIR(r, spsr_el1, esr_el1);
  HYP_SAVE_PAIR(r, far_el1, afsr0_el1);
  HYP_SAVE_PAIR(r, afsr1_el1, par_el1);
  HYP_SAVE_PAIR(r, csselr_el1, mdscr_el1);
  r.cntkctl_el1 = HYP_READ_SYSREG(cntkctl_el1);
  HYP_SAVE_PAIR(r, cntv_ctl_el0, cntv_cval_el0);
}

// What every switch (kServer) moves in: EL2 controls, EL1 registers, the
// optional ones, and ICH_HCR_EL2 (a server's traps every ICV_* access).
[[gnu::always_inline]] inline void load_server_scope(const VcpuContext& ctx) {
  load_el2(ctx.el2);
  load_el1(ctx.el1);
  load_optional(ctx);
  HYP_WRITE_SYSREG(S3_4_C12_C11_0, ctx.el2.ich_hcr_el2 | ctx.lrs.hcr);  // ICH_HCR_EL2
}

}  // namespace

void vcpu_load(const VcpuContext& ctx, Scope scope) {
  load_server_scope(ctx);
  if (scope == Scope::kServer) {
    isb();
    return;
  }
  const El1Sysregs& r = ctx.el1;
  load_vgic(ctx);
  load_list_registers(ctx);
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
  save_el1(r);
  save_optional(ctx);
  if (scope == Scope::kServer) return;
  save_vgic(ctx);
  save_list_registers(ctx);
  HYP_WRITE_SYSREG(S3_4_C12_C11_0, 0);  // ICH_HCR_EL2: no maintenance interrupt for a vCPU gone
  HYP_WRITE_SYSREG(cntv_ctl_el0, 0);     // its timer's interrupt drops
  isb();
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

void vcpu_switch(VcpuContext& from, const VcpuContext& to) {
  save_el1(from.el1);
  save_optional(from);
  load_server_scope(to);
  // No ISB: the kernel does nothing that depends on the new state before
  // the ERET into `to`, which synchronizes it.
}

}  // namespace hyp::arch
