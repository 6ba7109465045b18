#include "kernel/trap/dispatch.h"

#include <array>
#include <atomic>

#include "ffa/abi.h"
#include "ipc/hypercall.h"
#include "kernel/arch/cpu.h"
#include "kernel/arch/mm.h"
#include "kernel/arch/vcpu.h"
#include "kernel/console.h"
#include "kernel/ffa/calls.h"
#include "ipc/psci.h"
#include "kernel/psci/vcpu_power.h"
#include "kernel/sched/scheduler.h"
#include "kernel/trap/esr.h"
#include "kernel/trap/inject.h"
#include "kernel/trap/mmio_access.h"
#include "kernel/trap/sysreg.h"
#include "kernel/vtimer/ptimer.h"

namespace hyp {
namespace {

using Handler = TrapAction (*)(Vcpu&, const TrapInfo&, Esr);

const char* name_of(const Vcpu& v) { return v.partition != nullptr ? v.partition->name.data() : "?"; }

bool from_el0(const VcpuContext& ctx) { return (ctx.pstate & kPstateModeMask) == kPstateEl0t; }

constexpr uint32_t kFaultLogLimit = 16;

// Whether to log another fault of this vCPU; says so once when it stops.
bool log_fault(Vcpu& v) {
  if (v.faults_logged > kFaultLogLimit) return false;
  if (++v.faults_logged > kFaultLogLimit) {
    console::print("hyp: %s: vCPU %u: %u faults reported; further ones are answered without a log line\n",
                   name_of(v), v.index, kFaultLogLimit);
    return false;
  }
  return true;
}

TrapAction undefined(Vcpu& v, const TrapInfo& /*info*/, Esr esr) {
  if (log_fault(v)) {
    console::print("hyp: %s: vCPU %u: undefined instruction at 0x%lx (ESR 0x%lx)\n", name_of(v), v.index, v.ctx.pc,
                   esr.raw());
  }
  inject(v, esr_undefined(esr.il()), nullptr);
  return TrapAction::kResume;
}

// SMCCC results: x0 is the status, sign-extended when negative.
void set_result(Vcpu& v, int64_t status) { v.ctx.x[0] = static_cast<uint64_t>(status); }

// Several vCPUs of a partition may write at once: the line is theirs in turn.
void console_putc(Partition& p, char c) {
  ConsoleLine& line = p.console;
  SpinLockGuard guard(line.lock);
  if (c != '\n' && c != '\r') {
    // Only printable characters and tabs reach the console.
    line.text[line.length++] = (c >= 0x20 && c < 0x7f) || c == '\t' ? c : '?';
  }
  if (c == '\n' || line.length == line.text.size() - 1) {
    line.text[line.length] = '\0';
    console::print("%s| %s\n", p.name.data(), line.text.data());
    line.length = 0;
  }
}

int64_t debug_write(Vcpu& v, uint64_t ipa, uint64_t length) {
  if (length > abi::kHypDebugWriteMax) return -static_cast<int64_t>(Status::kOutOfRange);
  if (ipa + length < ipa) return -static_cast<int64_t>(Status::kInvalidArgument);
  // Validate the whole buffer first, so a bad page prints nothing.
  for (uint64_t page = align_down(ipa, kPageSize); page < ipa + length; page += kPageSize) {
    if (!v.partition->translate(Ipa(page), false).ok()) return -static_cast<int64_t>(Status::kDenied);
  }
  for (uint64_t i = 0; i < length; ++i) {
    // Checked page by page above; checked again here so that no path reads
    // through an unchecked translation.
    const auto pa = v.partition->translate(Ipa(ipa + i), false);
    const auto* byte = pa.ok() ? static_cast<const char*>(arch::mm::phys_to_virt(*pa)) : nullptr;
    if (byte == nullptr) return -static_cast<int64_t>(Status::kDenied);
    console_putc(*v.partition, *byte);
  }
  return 0;
}

bool psci_supported(uint32_t fid) {
  switch (fid) {
    case psci::kVersion:
    case psci::kFeatures:
    case psci::kCpuSuspend32:
    case psci::kCpuSuspend64:
    case psci::kCpuOff:
    case psci::kCpuOn32:
    case psci::kCpuOn64:
    case psci::kAffinityInfo32:
    case psci::kAffinityInfo64:
    case psci::kMigrateInfoType:
    case psci::kSystemOff:
    case psci::kSystemReset:
    case abi::kSmcccVersion:
      return true;
    default:
      return false;
  }
}

// ---- TRNG (Arm DEN0098, TRNG 1.0), backed by RNDR -----------------------

bool trng_available() {
  return (sanitize_id_register(sysreg::kIdAa64Isar0, arch::read_id_register(sysreg::kIdAa64Isar0)) >> 60) != 0;
}

// One 64-bit value from RNDR; the hardware may have none for a moment.
bool random_word(uint64_t& out) {
  constexpr int kAttempts = 16;
  for (int i = 0; i < kAttempts; ++i) {
    if (arch::random64(out)) return true;
  }
  return false;
}

// TRNG_RND32/RND64: `bits` of entropy, right-aligned across x1 (most
// significant) .. x3 (least), in 32-bit words for the SMC32 form.
int64_t trng_rnd(Vcpu& v, bool wide) {
  const uint64_t max_bits = wide ? 192 : 96;
  const uint64_t bits = v.ctx.x[1];
  if (bits == 0 || bits > max_bits) return abi::kTrngInvalidParameters;
  const uint64_t word_bits = wide ? 64 : 32;
  uint64_t words[3] = {};  // x3, x2, x1
  for (uint64_t filled = 0, i = 0; filled < bits; filled += word_bits, ++i) {
    uint64_t r = 0;
    if (!random_word(r)) return abi::kTrngNoEntropy;
    const uint64_t take = bits - filled < word_bits ? bits - filled : word_bits;
    words[i] = take == 64 ? r : r & ((uint64_t{1} << take) - 1);
  }
  v.ctx.x[3] = words[0];
  v.ctx.x[2] = words[1];
  v.ctx.x[1] = words[2];
  return 0;
}

bool trng_function(uint32_t fid) {
  return fid == abi::kTrngVersion || fid == abi::kTrngFeatures || fid == abi::kTrngGetUuid ||
         fid == abi::kTrngRnd32 || fid == abi::kTrngRnd64;
}

// Every TRNG call; NOT_SUPPORTED for all of them on a CPU without RNDR: the
// kernel has no honest source of entropy to offer then.
void trng_call(Vcpu& v, uint32_t fid) {
  if (!trng_available()) {
    v.ctx.x[0] = abi::kSmcccNotSupported;
    return;
  }
  switch (fid) {
    case abi::kTrngVersion:
      set_result(v, abi::kTrngVersion1_0);
      return;
    case abi::kTrngFeatures:
      set_result(v, trng_function(static_cast<uint32_t>(v.ctx.x[1])) ? 0 : -1);
      return;
    case abi::kTrngGetUuid:
      set_result(v, abi::kTrngUuidWords[0]);
      v.ctx.x[1] = abi::kTrngUuidWords[1];
      v.ctx.x[2] = abi::kTrngUuidWords[2];
      v.ctx.x[3] = abi::kTrngUuidWords[3];
      return;
    default:
      set_result(v, trng_rnd(v, fid == abi::kTrngRnd64));
      return;
  }
}

// SMCCC_ARCH_FEATURES: the architecture calls answered here. No firmware
// workaround is offered (SMCCC 1.4, 7.3-7.5: -1, "not supported").
int64_t arch_features(uint64_t fid) {
  return fid == abi::kSmcccVersion || fid == abi::kSmcccArchFeatures ? 0 : -1;
}

// CNTV_CTL_EL0 fields: ENABLE, IMASK, ISTATUS.
constexpr uint64_t kTimerEnable = 1;
constexpr uint64_t kTimerMasked = 2;

// What a vCPU that waits for an interrupt (WFI, CPU_SUSPEND) could be
// woken by while it has no virtual interrupts of its own yet: its virtual
// timer reaching its compare value. Sets wake_at (a physical counter value;
// 0: nothing armed).
TrapAction wait_for_interrupt(Vcpu& v) {
  const arch::VirtualTimer timer = arch::read_virtual_timer();
  v.wake_at = 0;
  if ((timer.ctl & (kTimerEnable | kTimerMasked)) == kTimerEnable) {
    const uint64_t at = timer.cval + v.ctx.el2.cntvoff_el2;
    v.wake_at = at == 0 ? 1 : at;
  }
  // Its physical timer's deadline (the physical count: no offset), if sooner.
  if (const uint64_t p = ptimer::deadline(v.ctx.ptimer, arch::counter_ticks()); p != 0) {
    if (v.wake_at == 0 || p < v.wake_at) v.wake_at = p;
  }
  return TrapAction::kWaitForInterrupt;
}

// The 32-bit calling convention passes 32-bit arguments (SMCCC 1.4, 2.6).
uint64_t arg(const Vcpu& v, size_t i, bool smc32) { return smc32 ? v.ctx.x[i] & 0xffff'ffff : v.ctx.x[i]; }

TrapAction psci_cpu_on(Vcpu& v, bool smc32) {
  Vcpu* started = nullptr;
  const psci::Ret ret = vpsci::cpu_on(v, arg(v, 1, smc32), arg(v, 2, smc32), arg(v, 3, smc32), started);
  set_result(v, static_cast<int64_t>(ret));
  if (ret != psci::Ret::kSuccess) return TrapAction::kResume;
  v.started = started;
  return TrapAction::kCpuOn;
}

// ---- Virtual interrupts of a server's guests ----

// The guest server vCPU `v` serves as its device x1, and the route that
// device is; null if `v` is not a server or the device serves no guest.
Partition* client_of(const Vcpu& v, const Route*& route) {
  const Partition& s = *v.partition;
  const uint64_t device = v.ctx.x[1];
  if (s.kind != PartitionKind::kServer || device >= s.clients.size()) return nullptr;
  route = s.client_routes[device];
  return route != nullptr ? s.clients[device] : nullptr;
}

int64_t error(Status st) { return -static_cast<int64_t>(st); }

// A query from server `sv` found an interrupt in the list registers of a
// vCPU of `guest` in `owners`. If one of them is the vCPU this server
// stands in for on its CPU, its list registers are live here: what its
// CPU interface did is taken into the vGIC now (it refills before it runs
// on), so that a vCPU reading its own interrupts through the server reads
// them exactly. Returns whether it did.
bool sync_stood_in(const Vcpu& sv, Partition& guest, uint32_t owners) {
  for (uint32_t i = 0; owners != 0 && i < guest.vcpu_count; ++i, owners >>= 1) {
    if ((owners & 1) == 0) continue;
    Vcpu& o = guest.vcpus[i];
    if (!sched::running_here(o, sv.cpu)) continue;
    // Read only: the server runs on, with its own ICH_HCR_EL2 (loading the
    // guest's list registers would also load the guest's, and give the
    // server the guest's virtual CPU interface). An entry the sync ends
    // stays in the hardware with no state, where nothing takes it, and is
    // dropped at the guest's next refill.
    arch::save_list_registers(o.ctx);
    guest.vgic.sync(o.index, o.ctx.lrs);
    o.irqs_changed.store(true, std::memory_order_relaxed);
    return true;
  }
  return false;
}

// How long a query waits for a vCPU on another CPU to sync: a CPU running
// a vCPU takes the kick at once (microseconds); one busy in the kernel for
// longer leaves the answer as of that vCPU's last sync. Generous, for
// emulated CPUs that a loaded host runs late (the wait is in EL2, with this
// CPU's interrupts held meanwhile: only as long as the other CPU stalls).
constexpr uint64_t kRemoteSyncUs = 20'000;

// The same, for an owner running on another CPU: it is kicked (its CPU
// interrupted; the run loop syncs its list registers, also when a server
// stands in for it there) and waited for. Returns whether it synced.
bool sync_remote(const Vcpu& sv, Partition& guest, uint32_t owners) {
  bool synced = false;
  for (uint32_t i = 0; owners != 0 && i < guest.vcpu_count; ++i, owners >>= 1) {
    if ((owners & 1) == 0) continue;
    Vcpu& o = guest.vcpus[i];
    if (o.home == sv.cpu || !sched::running_here(o, o.home)) continue;
    o.sync_wanted.store(true, std::memory_order_seq_cst);
    o.irqs_changed.store(true, std::memory_order_seq_cst);
    sched::kick(o, sv.cpu);
    const uint64_t give_up = arch::counter_ticks() + arch::counter_frequency() / 1'000'000 * kRemoteSyncUs;
    while (o.sync_wanted.load(std::memory_order_acquire) && arch::counter_ticks() < give_up) arch::cpu_relax();
    synced = synced || !o.sync_wanted.load(std::memory_order_acquire);
  }
  return synced;
}

// HYP_IRQ_CONFIG, HYP_IRQ_QUERY, HYP_IRQ_SIGNAL. Every argument is the
// server's: the device must serve a guest, configuration and queries are
// for that guest's interrupt controller only, and a device server may
// signal its own device's interrupt and nothing else.
TrapAction irq_call(Vcpu& v, uint32_t fid) {
  const Route* route = nullptr;
  Partition* guest = client_of(v, route);
  if (guest == nullptr) {
    set_result(v, error(Status::kInvalidArgument));
    return TrapAction::kResume;
  }
  // x2, x3 are checked by the vGIC (range) after the narrowing below keeps
  // out-of-range values out of range.
  const uint64_t x2 = v.ctx.x[2];
  const uint64_t x3 = v.ctx.x[3];
  const uint32_t vcpu = x2 > 0xffff ? 0xffff : static_cast<uint32_t>(x2);
  const uint32_t intid = x3 > 0xffff ? 0xffff : static_cast<uint32_t>(x3);
  vgic::Vgic& vg = guest->vgic;
  vgic::Kick kick;
  Status st = Status::kOk;
  if (fid == abi::kHypIrqConfig || fid == abi::kHypIrqQuery) {
    if (!route->irqchip) {
      set_result(v, error(Status::kDenied));
      return TrapAction::kResume;
    }
    if (fid == abi::kHypIrqConfig) {
      const uint64_t w = v.ctx.x[4];
      st = (w >> 24) != 0 || (w & 0xf8) != 0 ? Status::kInvalidArgument
                                             : vg.configure(vcpu, intid, vgic::config_from_word(w), kick);
    } else {
      const Result<vgic::Config> c = vg.config(vcpu, intid);
      Result<vgic::Vgic::State> s = vg.state(vcpu, intid, kick);
      if (s.ok() && kick.vcpus != 0 &&
          (sync_stood_in(v, *guest, kick.vcpus) || sync_remote(v, *guest, kick.vcpus))) {
        s = vg.state(vcpu, intid, kick);
      }
      st = c.ok() ? s.status() : c.status();
      if (st == Status::kOk) {
        v.ctx.x[1] = vgic::word_from_config(*c);
        v.ctx.x[2] = (s->pending ? abi::irq::kPending : 0) | (s->active ? abi::irq::kActive : 0) |
                     (s->line ? abi::irq::kLineHigh : 0);
      }
    }
  } else {
    const uint64_t op = v.ctx.x[4];
    if (!route->irqchip && (intid != route->irq || route->irq == 0 ||
                            op > static_cast<uint64_t>(abi::irq::Op::kSetPending))) {
      set_result(v, error(Status::kDenied));
      return TrapAction::kResume;
    }
    // The same request served again by a restarted server: done already.
    if (op <= static_cast<uint64_t>(abi::irq::Op::kClearActive) && vg.replayed(vcpu, intid, v.ctx.x[5])) {
      set_result(v, 0);
      return TrapAction::kResume;
    }
    switch (static_cast<abi::irq::Op>(op)) {
      case abi::irq::Op::kLower:
        st = vg.set_line(vcpu, intid, false, kick);
        break;
      case abi::irq::Op::kRaise:
        st = vg.set_line(vcpu, intid, true, kick);
        break;
      case abi::irq::Op::kSetPending:
        st = vg.raise(vcpu, intid, kick);
        break;
      case abi::irq::Op::kClearPending:
        st = vg.clear_pending(vcpu, intid, kick);
        break;
      case abi::irq::Op::kSetActive:
      case abi::irq::Op::kClearActive:
        st = vg.set_active(vcpu, intid, op == static_cast<uint64_t>(abi::irq::Op::kSetActive), kick);
        break;
      default:
        st = Status::kInvalidArgument;
        break;
    }
  }
  set_result(v, st == Status::kOk ? 0 : error(st));
  if (kick.vcpus == 0) return TrapAction::kResume;
  v.sent_to = kick.vcpus;
  v.sent_in = guest;
  return TrapAction::kSendInterrupts;
}

// Routes an SMCCC call (HVC, or SMC trapped by HCR_EL2.TSC) by function ID.
TrapAction smccc_call(Vcpu& v) {
  // SMC32/HVC32 IDs occupy w0; the upper half of x0 is not part of the ID.
  const auto fid = static_cast<uint32_t>(v.ctx.x[0]);
  switch (fid) {
    // FF-A's direct messages are on a hot path: straight there.
    case ffa::kMsgSendDirectReq32:
    case ffa::kMsgSendDirectReq64:
    case ffa::kMsgSendDirectResp32:
    case ffa::kMsgSendDirectResp64:
      return ffa_call(v, fid);
    case abi::kSmcccVersion:
      set_result(v, abi::kSmcccVersion1_1);
      return TrapAction::kResume;
    case abi::kSmcccArchFeatures:
      set_result(v, arch_features(static_cast<uint32_t>(v.ctx.x[1])));
      return TrapAction::kResume;
    case psci::kMigrateInfoType:
      set_result(v, psci::kMigrateNotRequired);
      return TrapAction::kResume;
    case abi::kTrngVersion:
    case abi::kTrngFeatures:
    case abi::kTrngGetUuid:
    case abi::kTrngRnd32:
    case abi::kTrngRnd64:
      trng_call(v, fid);
      return TrapAction::kResume;
    case abi::kVendorHypCallCount:
      set_result(v, abi::kHypCallCount);
      return TrapAction::kResume;
    case abi::kVendorHypUid:
      set_result(v, abi::kVendorHypUidWords[0]);
      v.ctx.x[1] = abi::kVendorHypUidWords[1];
      v.ctx.x[2] = abi::kVendorHypUidWords[2];
      v.ctx.x[3] = abi::kVendorHypUidWords[3];
      return TrapAction::kResume;
    case abi::kVendorHypRevision:
      set_result(v, abi::kHypAbiVersion >> 16);
      v.ctx.x[1] = abi::kHypAbiVersion & 0xffff;
      return TrapAction::kResume;
    case psci::kVersion:
      set_result(v, 0x1'0001);  // PSCI 1.1
      return TrapAction::kResume;
    case psci::kFeatures:
      set_result(v, psci_supported(static_cast<uint32_t>(v.ctx.x[1])) ? 0 : static_cast<int64_t>(psci::Ret::kNotSupported));
      return TrapAction::kResume;
    case psci::kCpuOn32:
    case psci::kCpuOn64:
      if (v.partition->kind != PartitionKind::kGuest) break;
      return psci_cpu_on(v, fid == psci::kCpuOn32);
    case psci::kCpuOff:
      if (v.partition->kind != PartitionKind::kGuest) break;
      // Returns only if it fails, which it does not.
      return TrapAction::kCpuOff;
    case psci::kCpuSuspend32:
    case psci::kCpuSuspend64: {
      if (v.partition->kind != PartitionKind::kGuest) break;
      const psci::Ret ret = vpsci::check_power_state(arg(v, 1, fid == psci::kCpuSuspend32));
      set_result(v, static_cast<int64_t>(ret));
      // Every state is entered as a standby: the call returns when the vCPU
      // is woken, with SUCCESS, which PSCI allows for a power-down request.
      return ret == psci::Ret::kSuccess ? wait_for_interrupt(v) : TrapAction::kResume;
    }
    case psci::kAffinityInfo32:
    case psci::kAffinityInfo64: {
      const bool smc32 = fid == psci::kAffinityInfo32;
      set_result(v, vpsci::affinity_info(v, arg(v, 1, smc32), arg(v, 2, smc32)));
      return TrapAction::kResume;
    }
    case psci::kSystemOff:
      return TrapAction::kPartitionOff;
    case psci::kSystemReset:
      return TrapAction::kPartitionReset;
    case abi::kHypVersion:
      set_result(v, 0);
      v.ctx.x[1] = abi::kHypAbiVersion;
      return TrapAction::kResume;
    case abi::kHypDebugPutc:
      console_putc(*v.partition, static_cast<char>(v.ctx.x[1]));
      set_result(v, 0);
      return TrapAction::kResume;
    case abi::kHypDebugWrite:
      set_result(v, debug_write(v, v.ctx.x[1], v.ctx.x[2]));
      return TrapAction::kResume;
    case abi::kHypServerWait:
      if (v.partition->kind != PartitionKind::kServer) break;
      set_result(v, 0);
      return TrapAction::kServerWait;
    case abi::kHypIrqConfig:
    case abi::kHypIrqQuery:
    case abi::kHypIrqSignal:
      return irq_call(v, fid);
    case abi::kHypServerRestart:
    case abi::kHypServerStop:
    case abi::kHypServerStart:
    case abi::kHypControlRead:
    case abi::kHypTraceSet:
      // Which servers its right covers is the run loop's to check.
      if (!v.partition->control) {
        set_result(v, -static_cast<int64_t>(Status::kDenied));
        return TrapAction::kResume;
      }
      return fid == abi::kHypServerRestart ? TrapAction::kServerRestart : TrapAction::kControl;
    default:
      // The rest of FF-A's range (the SVE hint is no part of the ID).
      if (const uint32_t id = fid & ~ffa::kSveHint; ffa::is_ffa(id)) return ffa_call(v, id);
      break;
  }
  v.ctx.x[0] = abi::kSmcccNotSupported;
  return TrapAction::kResume;
}

TrapAction hvc(Vcpu& v, const TrapInfo& /*info*/, Esr esr) {
  // SMCCC uses HVC #0 only; other immediates are not calls.
  if (EsrCall(esr).imm16() != 0) {
    v.ctx.x[0] = abi::kSmcccNotSupported;
    return TrapAction::kResume;
  }
  return smccc_call(v);  // ELR_EL2 already points past the HVC
}

TrapAction smc(Vcpu& v, const TrapInfo& /*info*/, Esr esr) {
  step_over(v.ctx, esr.il());  // a trapped SMC returns to itself (Arm ARM D1.10.4)
  if (EsrCall(esr).imm16() != 0) {
    v.ctx.x[0] = abi::kSmcccNotSupported;
    return TrapAction::kResume;
  }
  return smccc_call(v);
}

// A guest's write to an SGI generation register: the SGI goes to the
// vCPUs it names (the run loop tells them). Write-only registers; device
// servers have no virtual interrupts.
TrapAction send_sgi(Vcpu& v, const TrapInfo& info, Esr esr, uint64_t value, bool group1) {
  const EsrSysreg s(esr);
  if (s.read() || v.partition->kind != PartitionKind::kGuest) return undefined(v, info, esr);
  vgic::Kick kick;
  v.partition->vgic.send_sgi(v.index, value, group1, kick);
  step_over(v.ctx, esr.il());
  if (kick.vcpus == 0) return TrapAction::kResume;
  v.sent_to |= kick.vcpus;
  v.sent_in = v.partition;
  return TrapAction::kSendInterrupts;
}

// A guest's access to its EL1 physical timer, emulated (kernel/vtimer).
// A write may change its interrupt's level or deadline: the run loop looks.
TrapAction physical_timer(Vcpu& v, const TrapInfo& info, Esr esr, ptimer::Register r) {
  const EsrSysreg s(esr);
  if (v.partition->kind != PartitionKind::kGuest) return undefined(v, info, esr);
  const uint64_t now = arch::counter_ticks();
  if (s.read()) {
    if (s.rt() != 31) v.ctx.x[s.rt()] = ptimer::read(v.ctx.ptimer, r, now);
    step_over(v.ctx, esr.il());
    return TrapAction::kResume;
  }
  ptimer::write(v.ctx.ptimer, r, s.rt() == 31 ? 0 : v.ctx.x[s.rt()], now);
  step_over(v.ctx, esr.il());
  return TrapAction::kTimerChanged;
}

TrapAction sysreg_access(Vcpu& v, const TrapInfo& info, Esr esr) {
  const EsrSysreg s(esr);
  const uint64_t rt = s.rt() == 31 ? 0 : v.ctx.x[s.rt()];
  switch (s.key()) {
    case sysreg::kCntpCtlEl0:
      return physical_timer(v, info, esr, ptimer::Register::kCtl);
    case sysreg::kCntpCvalEl0:
      return physical_timer(v, info, esr, ptimer::Register::kCval);
    case sysreg::kCntpTvalEl0:
      return physical_timer(v, info, esr, ptimer::Register::kTval);
    case sysreg::kIccSgi1rEl1:
      return send_sgi(v, info, esr, rt, true);
    case sysreg::kIccSgi0rEl1:
    case sysreg::kIccAsgi1rEl1:  // the other Security state's group 1: group 0 here (DS = 1)
      return send_sgi(v, info, esr, rt, false);
    default:
      break;
  }
  const SysregAccess result = emulate_sysreg(s, rt);
  if (result.outcome == SysregOutcome::kUndefined) return undefined(v, info, esr);
  if (s.read() && s.rt() != 31) v.ctx.x[s.rt()] = result.read_value;
  step_over(v.ctx, esr.il());
  return TrapAction::kResume;
}

TrapAction data_abort(Vcpu& v, const TrapInfo& info, Esr esr) {
  const EsrDataAbort da(esr);
  const Ipa ipa((info.hpfar & 0x0000'0fff'ffff'fff0) << 8 | (info.far & (kPageSize - 1)));
  const auto access = decode_mmio(da, ipa, info.far, (v.ctx.pstate & kPstateAarch32) != 0);
  // A single aligned register access inside a server's range is forwarded;
  // everything else is an access to nothing, answered with a synchronous
  // external abort.
  if (access && (ipa.value() & (access->bytes - 1u)) == 0 && v.partition->route_for(ipa, access->bytes) != nullptr) {
    v.forwarded = *access;
    return TrapAction::kForward;
  }
  if (!log_fault(v)) {
    // Answered below, silently.
  } else if (access) {
    console::print("hyp: %s: vCPU %u: %s of %u bytes at IPA 0x%lx (pc 0x%lx) is unbacked: external abort injected\n",
                   name_of(v), v.index, access->write ? "write" : "read", access->bytes, ipa.value(), v.ctx.pc);
  } else {
    console::print("hyp: %s: vCPU %u: %s without syndrome at IPA 0x%lx (pc 0x%lx) is unbacked: external abort injected\n",
                   name_of(v), v.index, da.write() ? "write" : "read", ipa.value(), v.ctx.pc);
  }
  inject(v, esr_external_data_abort(from_el0(v.ctx), da.write(), esr.il()), da.far_not_valid() ? nullptr : &info.far);
  return TrapAction::kResume;
}

TrapAction instruction_abort(Vcpu& v, const TrapInfo& info, Esr /*esr*/) {
  if (log_fault(v)) {
    console::print("hyp: %s: vCPU %u: instruction fetch from unbacked 0x%lx: external abort injected\n", name_of(v),
                   v.index, info.far);
  }
  inject(v, esr_external_instruction_abort(from_el0(v.ctx)), &info.far);
  return TrapAction::kResume;
}

TrapAction wfx(Vcpu& v, const TrapInfo& /*info*/, Esr esr) {
  // Guests trap WFI (HCR_EL2.TWI): it may block the vCPU. WFE is not
  // trapped (TWE clear); should one arrive, or a WFI from a server, it
  // completes as a no-op, which the architecture permits. A T32 WFI may be
  // a 16-bit instruction. ESR_EL2.ISS.TI [1:0]: 0 is WFI.
  step_over(v.ctx, esr.il());
  if ((esr.raw() & 3) != 0 || v.partition->kind != PartitionKind::kGuest) return TrapAction::kResume;
  return wait_for_interrupt(v);
}

constexpr std::array<Handler, kEcCount> make_table() {
  std::array<Handler, kEcCount> t{};
  for (auto& h : t) h = undefined;
  t[static_cast<size_t>(Ec::kWfx)] = wfx;
  t[static_cast<size_t>(Ec::kHvc64)] = hvc;
  t[static_cast<size_t>(Ec::kSmc64)] = smc;
  t[static_cast<size_t>(Ec::kSysreg)] = sysreg_access;
  t[static_cast<size_t>(Ec::kDataAbortLower)] = data_abort;
  t[static_cast<size_t>(Ec::kInstAbortLower)] = instruction_abort;
  return t;
}

constexpr std::array<Handler, kEcCount> kHandlers = make_table();

}  // namespace

TrapAction handle_trap(Vcpu& vcpu, const TrapInfo& info) {
  const Esr esr(info.esr);
  const auto ec = static_cast<size_t>(esr.ec());
  vcpu.exits[ec].bump();
  return kHandlers[ec](vcpu, info, esr);
}

void inject(Vcpu& v, uint64_t esr, const uint64_t* far) {
  El1ExceptionRegs el1 = arch::read_el1_exception_regs();
  GuestPc at{v.ctx.pc, v.ctx.pstate};
  inject_sync(at, el1, esr, far);
  arch::write_el1_exception_regs(el1);
  v.ctx.pc = at.pc;
  v.ctx.pstate = at.pstate;
}

}  // namespace hyp
