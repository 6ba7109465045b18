// A vCPU's complete architectural state as the kernel keeps it while the
// vCPU is not on a physical CPU: general registers, PC and PSTATE, the EL1
// system registers the guest owns, FP/SIMD, and the per-vCPU EL2 controls.
//
// The first part (through `pstate`) is written by the exception entry code
// in assembly; its offsets live in context_offsets.h and are checked here.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/vcpu/context_offsets.h"
#include "kernel/vtimer/ptimer.h"

namespace hyp {

// EL1/EL0 system registers saved and restored on a vCPU switch. Pointer-
// authentication keys are included: guests may use pointer authentication
// (docs/vcpu.md).
struct El1Sysregs {
  uint64_t sctlr_el1;
  uint64_t actlr_el1;
  uint64_t cpacr_el1;
  uint64_t ttbr0_el1;
  uint64_t ttbr1_el1;
  uint64_t tcr_el1;
  uint64_t mair_el1;
  uint64_t amair_el1;
  uint64_t vbar_el1;
  uint64_t contextidr_el1;
  uint64_t tpidr_el0;
  uint64_t tpidrro_el0;
  uint64_t tpidr_el1;
  uint64_t sp_el0;
  uint64_t sp_el1;
  uint64_t elr_el1;
  uint64_t spsr_el1;
  uint64_t esr_el1;
  uint64_t far_el1;
  uint64_t afsr0_el1;
  uint64_t afsr1_el1;
  uint64_t par_el1;
  uint64_t csselr_el1;
  uint64_t mdscr_el1;
  uint64_t cntkctl_el1;
  uint64_t cntv_ctl_el0;
  uint64_t cntv_cval_el0;
  uint64_t apiakey_lo, apiakey_hi;
  uint64_t apibkey_lo, apibkey_hi;
  uint64_t apdakey_lo, apdakey_hi;
  uint64_t apdbkey_lo, apdbkey_hi;
  uint64_t apgakey_lo, apgakey_hi;
  // Present only with the feature (docs/vcpu.md, "Every register EL1 can
  // reach"); the switch skips those the CPU lacks.
  uint64_t tpidr2_el0;  // FEAT_SME: reachable whatever CPTR_EL2.TSM says
  uint64_t vdisr_el2;   // FEAT_RAS: what the vCPU reads and writes as DISR_EL1 (HCR_EL2.AMO)
};

// The virtual GIC CPU interface state a vCPU's ICC_* accesses reach as ICV_*
// (HCR_EL2.IMO/FMO; GICv3 12.1): priority mask, binary points, group
// enables, EOI mode in ICH_VMCR_EL2, active priorities in ICH_AP0Rn/AP1Rn.
// Up to four active-priority registers per group (7 priority bits).
struct VgicCpuState {
  uint64_t vmcr;
  uint64_t ap0r[4];
  uint64_t ap1r[4];
};

// A guest vCPU's list registers (ICH_LR<n>_EL2) and the ICH_HCR_EL2 bits
// their management sets (kernel/vgic/vgic.h), on top of the vCPU's fixed
// ICH_HCR_EL2 traps (El2Controls). In the hardware while the vCPU runs,
// here otherwise.
inline constexpr uint32_t kMaxListRegisters = 16;
struct ListRegisters {
  uint64_t lr[kMaxListRegisters]{};
  uint64_t hcr = 0;
};

struct FpState {
  alignas(16) uint64_t v[32][2];  // Q0..Q31
  uint64_t fpsr;
  uint64_t fpcr;
};

// Per-vCPU EL2 controls, written when the vCPU is loaded.
struct El2Controls {
  uint64_t hcr_el2;
  uint64_t vmpidr_el2;
  uint64_t vpidr_el2;
  uint64_t cntvoff_el2;
  uint64_t mdcr_el2;
  uint64_t cptr_el2;
  uint64_t vttbr_el2;
  uint64_t ich_hcr_el2;
};

struct VcpuContext {
  uint64_t x[31];
  uint64_t pc;      // ELR_EL2 at entry
  uint64_t pstate;  // SPSR_EL2 at entry
  El1Sysregs el1;
  VgicCpuState vgic;
  ListRegisters lrs;
  FpState fp;
  El2Controls el2;
  ptimer::State ptimer;  // the emulated EL1 physical timer (CNTP_*)
};

static_assert(offsetof(VcpuContext, x) == VCPU_CONTEXT_X0);
static_assert(offsetof(VcpuContext, pc) == VCPU_CONTEXT_PC);
static_assert(offsetof(VcpuContext, pstate) == VCPU_CONTEXT_PSTATE);
static_assert(offsetof(VcpuContext, fp) % 16 == 0, "Q registers are stored with STP of Q pairs");

// PSTATE / SPSR_ELx fields (Arm ARM C5.2.18).
inline constexpr uint64_t kPstateModeMask = 0x1f;
inline constexpr uint64_t kPstateEl0t = 0x0;
inline constexpr uint64_t kPstateEl1t = 0x4;
inline constexpr uint64_t kPstateEl1h = 0x5;
inline constexpr uint64_t kPstateAarch32 = 1u << 4;
inline constexpr uint64_t kPstateDaif = 0xfu << 6;

// SCTLR_EL1 at reset: RES1 bits only (MMU and caches off, little-endian).
inline constexpr uint64_t kSctlrEl1Reset = 0x30d0'0800;

}  // namespace hyp
