// Architecture interface for the running vCPU's live EL1 state and the
// host's identification registers.
#pragma once

#include <cstdint>

#include "kernel/trap/inject.h"
#include "kernel/vcpu/context.h"

namespace hyp::arch {

// The EL1 exception registers of the vCPU loaded on this CPU.
El1ExceptionRegs read_el1_exception_regs();
void write_el1_exception_regs(const El1ExceptionRegs& regs);

// The virtual timer of the vCPU loaded on this CPU (CNTV_CTL_EL0,
// CNTV_CVAL_EL0).
struct VirtualTimer {
  uint64_t ctl;
  uint64_t cval;
};
VirtualTimer read_virtual_timer();

// The host's value of the ID register with sysreg_key() `key` (op0 = 3,
// op1 = 0, CRn = 0). Unallocated encodings read as zero.
uint64_t read_id_register(uint32_t key);

// Puts this CPU's EL2 controls that are the same for every partition in
// their chosen state, each written explicitly rather than left to reset
// values (docs/vcpu.md, "Every register EL1 can reach"): HCRX_EL2 and the
// fine-grained trap registers where the CPU has them, ICC_SRE_EL2, the
// virtual CPU interface's ICH_HCR_EL2 and list registers, VSESR_EL2,
// HSTR_EL2, HACR_EL2, CNTPOFF_EL2, the MPAM traps. Called once per CPU
// before it runs any partition.
void el2_controls_init();

// What a switch moves. Device servers run with FP/SIMD (CPTR_EL2.TFP),
// pointer authentication (HCR_EL2.API/APK clear) and the virtual GIC CPU
// interface (ICH_HCR_EL2 traps) trapped, so a switch between a guest and a
// server on one CPU (kServer) leaves the guest's FP/SIMD registers,
// pointer-authentication keys, ICH_VMCR_EL2 and active priorities where
// they are.
enum class Scope : bool { kServer, kAll };

// How many list registers the virtual CPU interface has
// (ICH_VTR_EL2.ListRegs + 1, at most kMaxListRegisters).
uint32_t list_registers();
// Moves the loaded guest vCPU's list registers between the hardware and
// `ctx.lrs`; loading also writes ICH_HCR_EL2 (the vCPU's fixed bits with
// `ctx.lrs.hcr`). Around the run loop's changes to them while the vCPU is
// on this CPU.
void save_list_registers(VcpuContext& ctx);
void load_list_registers(const VcpuContext& ctx);

// Puts a vCPU's state on this CPU: its EL2 controls (HCR_EL2, VTTBR_EL2,
// VMPIDR_EL2, ...), its EL1 system registers and its FP/SIMD registers.
void vcpu_load(const VcpuContext& ctx, Scope scope = Scope::kAll);
// Takes the EL1 and FP/SIMD state of the vCPU on this CPU into `ctx`. A
// guest taken off for good (kAll) also leaves its list registers in `ctx`,
// its virtual timer quiet (CNTV_CTL_EL0 0, so that its interrupt drops)
// and the virtual CPU interface off: nothing of it signals on this CPU
// after it left.
void vcpu_save(VcpuContext& ctx, Scope scope = Scope::kAll);
// vcpu_save(from, Scope::kServer) then vcpu_load(to, Scope::kServer), in
// one pass: a switch between a guest and a server standing in for it, on
// the way straight back into `to` (no ISB: the ERET synchronizes).
void vcpu_switch(VcpuContext& from, const VcpuContext& to);

// Writes HCR_EL2 for the vCPU loaded here (its traps changed).
void write_hcr(uint64_t hcr);

// Masks the virtual timer's interrupt in CNTV_CTL_EL0 of the vCPU loaded
// here (IMASK): for a device server that set its timer off, which it has
// no use for.
void mask_virtual_timer();

// The host's MIDR_EL1, which partitions see through VPIDR_EL2.
uint64_t host_midr();

// MDCR_EL2.HPMN as reset by the firmware: the number of PMU counters.
uint64_t host_pmu_counters();

// The syndrome registers of the exception being handled.
struct TrapSyndrome {
  uint64_t esr;
  uint64_t far;
  uint64_t hpfar;
};
TrapSyndrome read_trap_syndrome();

}  // namespace hyp::arch
