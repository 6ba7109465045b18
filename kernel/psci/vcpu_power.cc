#include "kernel/psci/vcpu_power.h"

namespace hyp::vpsci {
namespace {

// MPIDR_EL1 affinity fields: Aff3 [39:32], Aff2 [23:16], Aff1 [15:8], Aff0 [7:0].
constexpr uint64_t kAffinityMask = 0xff'00ff'ffffull;

uint64_t affinity_of(const Vcpu& v) { return v.ctx.el2.vmpidr_el2 & kAffinityMask; }

// The affinity bits that matter at `level` and above.
uint64_t mask_from_level(uint64_t level) {
  switch (level) {
    case 0: return kAffinityMask;
    case 1: return 0xff'00ff'ff00ull;
    case 2: return 0xff'00ff'0000ull;
    default: return 0xff'0000'0000ull;
  }
}

// SCTLR_EL1.EE (bit 25): data endianness at EL1; E0E (bit 24) at EL0.
constexpr uint64_t kSctlrEndianness = (uint64_t{1} << 25) | (uint64_t{1} << 24);

}  // namespace

Vcpu* find(Partition& p, uint64_t target) {
  if ((target & ~kAffinityMask) != 0) return nullptr;
  for (size_t i = 0; i < p.vcpu_count; ++i) {
    if (affinity_of(p.vcpus[i]) == target) return &p.vcpus[i];
  }
  return nullptr;
}

psci::Ret cpu_on(Vcpu& caller, uint64_t target, uint64_t entry, uint64_t context, Vcpu*& started) {
  started = nullptr;
  Partition& p = *caller.partition;
  Vcpu* t = find(p, target);
  if (t == nullptr) return psci::Ret::kInvalidParameters;
  // An AArch64 entry point is word-aligned and must be memory the partition
  // may execute from: its RAM.
  if ((entry & 3) != 0 || !p.translate(Ipa(entry), false).ok()) return psci::Ret::kInvalidAddress;
  VcpuPower expected = VcpuPower::kOff;
  // The one caller that moves kOff to kOnPending owns the target's context
  // until it makes the target runnable; everyone else only reads `power`.
  // A target another caller has started counts as on, whether it has run
  // yet or not, as KVM answers: callers racing to start one CPU hear
  // SUCCESS once and ALREADY_ON otherwise, which is what test software
  // for this race checks (AFFINITY_INFO still tells ON_PENDING apart).
  if (!t->power.compare_exchange_strong(expected, VcpuPower::kOnPending, std::memory_order_acq_rel)) {
    return psci::Ret::kAlreadyOn;
  }
  // Everything but the EL2 controls, which are the vCPU's for good (and
  // which other callers read, for its MPIDR, while this one writes).
  const uint64_t endianness = caller.ctx.el1.sctlr_el1 & kSctlrEndianness;
  for (uint64_t& x : t->ctx.x) x = 0;
  t->ctx.el1 = El1Sysregs{};
  t->ctx.vgic = VgicCpuState{};
  t->ctx.fp = FpState{};
  t->ctx.pc = entry;
  t->ctx.x[0] = context;
  t->ctx.pstate = kPstateEl1h | kPstateDaif;
  t->ctx.el1.sctlr_el1 = kSctlrEl1Reset | endianness;
  t->faults_logged = 0;
  t->waiting = VcpuWait::kNothing;
  t->wake_at = 0;
  t->kicked.store(false, std::memory_order_relaxed);
  started = t;
  return psci::Ret::kSuccess;
}

void mark_running(Vcpu& v) {
  VcpuPower expected = VcpuPower::kOnPending;
  (void)v.power.compare_exchange_strong(expected, VcpuPower::kOn, std::memory_order_acq_rel);
}

void mark_off(Vcpu& v) { v.power.store(VcpuPower::kOff, std::memory_order_release); }

int64_t affinity_info(Vcpu& caller, uint64_t target, uint64_t lowest_level) {
  constexpr int64_t kOn = 0;
  constexpr int64_t kOffState = 1;
  constexpr int64_t kPending = 2;
  if (lowest_level > 3 || (target & ~kAffinityMask) != 0) return static_cast<int64_t>(psci::Ret::kInvalidParameters);
  const uint64_t mask = mask_from_level(lowest_level);
  Partition& p = *caller.partition;
  bool any = false;
  bool pending = false;
  for (size_t i = 0; i < p.vcpu_count; ++i) {
    if ((affinity_of(p.vcpus[i]) & mask) != (target & mask)) continue;
    any = true;
    const VcpuPower power = p.vcpus[i].power.load(std::memory_order_acquire);
    if (power == VcpuPower::kOn) return kOn;
    pending |= power == VcpuPower::kOnPending;
  }
  if (!any) return static_cast<int64_t>(psci::Ret::kInvalidParameters);
  return pending ? kPending : kOffState;
}

psci::Ret check_power_state(uint64_t power_state) {
  // StateID [15:0], StateType [16], PowerLevel [25:24]; the rest is zero.
  constexpr uint64_t kDefined = 0xffff | (uint64_t{1} << 16) | (uint64_t{3} << 24);
  return (power_state & ~kDefined) == 0 ? psci::Ret::kSuccess : psci::Ret::kInvalidParameters;
}

}  // namespace hyp::vpsci
