// A VM's virtual interrupts: the configuration of each (what injection
// needs: enable, priority, group, trigger, target), its pending and active
// state, and the filling of each vCPU's list registers from it (GICv3,
// IHI 0069, 12.5 and chapter 6 "Virtual interrupt handling").
//
// The kernel is authoritative for pending and active state. An interrupt is
// in at most one list register of one vCPU at a time; while it is, that
// list register holds its pending and active bits (the guest's CPU
// interface changes them without exits), and the record here says where it
// is. A vCPU's list registers live in its context (`Lrs`) while it is off
// its CPU and in the hardware while it runs; the run loop copies them out
// around sync() and flush() (kernel/arch/vcpu.h).
//
// Everything a partition controls arrives through the functions below and
// is checked there: an INTID or vCPU out of range is kInvalidArgument, and
// nothing here trusts a list register's contents beyond the INTIDs this
// code wrote into them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/spinlock.h"
#include "base/status.h"
#include "base/thread_safety.h"
#include "ipc/hypercall.h"
#include "kernel/vcpu/context.h"

namespace hyp::vgic {

inline constexpr uint32_t kSgis = 16;
inline constexpr uint32_t kPrivate = abi::irq::kFirstSpi;  // SGIs and PPIs: one bank per vCPU
inline constexpr uint32_t kSpis = abi::irq::kSpiCount;     // shared by the VM's vCPUs
inline constexpr uint32_t kIntidLimit = abi::irq::kIntidLimit;
inline constexpr uint32_t kMaxVcpus = 8;
inline constexpr uint32_t kMaxLrs = kMaxListRegisters;

// PPIs the kernel itself raises for a guest (Arm BSA numbering, as QEMU's
// virt machine and Linux's device tree for it use).
inline constexpr uint32_t kVirtualTimerPpi = 27;
inline constexpr uint32_t kPhysicalTimerPpi = 30;

// Priorities have 5 significant bits in the virtual CPU interface (the
// minimum GICv3 allows, and what QEMU implements): the low 3 bits of a
// priority written by a guest are ignored, as a GIC with 32 levels does.
inline constexpr uint8_t kPriorityMask = 0xf8;

enum class Trigger : uint8_t { kLevel, kEdge };

// One interrupt's configuration, as the GIC server sets it.
struct Config {
  bool enabled = false;
  bool group1 = false;
  Trigger trigger = Trigger::kLevel;
  uint8_t priority = 0;
  uint8_t target = 0;  // SPIs: the vCPU it is delivered to
};

// A configuration as the kernel calls carry it (ipc/hypercall.h, the
// config word); the word's reserved bits are the caller's to check.
Config config_from_word(uint64_t word);
uint64_t word_from_config(const Config& c);

// ICH_LR<n>_EL2 fields.
namespace lr {
inline constexpr uint64_t kIntidMask = 0xffff'ffff;
inline constexpr int kPintidShift = 32;
inline constexpr uint64_t kPintidMask = uint64_t{0x1fff} << kPintidShift;
inline constexpr uint64_t kEoi = uint64_t{1} << 41;  // HW = 0: maintenance on deactivation
inline constexpr int kPriorityShift = 48;
inline constexpr uint64_t kGroup1 = uint64_t{1} << 60;
inline constexpr uint64_t kHw = uint64_t{1} << 61;
inline constexpr int kStateShift = 62;
inline constexpr uint64_t kPending = uint64_t{1} << 62;
inline constexpr uint64_t kActive = uint64_t{1} << 63;
inline constexpr uint64_t kStateMask = kPending | kActive;
}  // namespace lr

// ICH_HCR_EL2 bits this code sets.
inline constexpr uint64_t kHcrEn = 1;            // the virtual CPU interface on
inline constexpr uint64_t kHcrNpie = 1u << 3;    // maintenance while no LR is pending

// One vCPU's list registers and the ICH_HCR_EL2 bits that go with them.
using Lrs = ListRegisters;

// The vCPUs (bit n: vCPU n, of `vcpus`) an ICC_SGI1R_EL1 value written by
// vCPU `self` names: with IRM (bit 40) every vCPU but `self`; otherwise the
// target list [15:0] at Aff3.Aff2.Aff1 [55:48, 39:32, 23:16] with Aff0
// range RS [47:44], which names vCPUs only at affinity 0.0.0.
uint32_t sgi_targets(uint64_t value, uint32_t self, uint32_t vcpus);
inline uint32_t sgi_intid(uint64_t value) { return static_cast<uint32_t>((value >> 24) & 0xf); }

class Vgic;

// What a change of interrupt state asks of the run loop: the vCPUs whose
// list registers must be filled again (bit n: vCPU n), because an
// interrupt became pending for them. Each is kicked off its CPU (or woken,
// if it waits in WFI) to have it done.
struct Kick {
  uint32_t vcpus = 0;
};

class Vgic {
 public:
  // `vcpus`: how many the VM has (at most kMaxVcpus); `lrs`: how many list
  // registers the CPU has (ICH_VTR_EL2.ListRegs + 1, at most kMaxLrs).
  // Everything starts disabled, inactive, not pending, priority 0, group 0,
  // level-triggered except SGIs (edge), SPIs targeted at vCPU 0.
  void init(uint32_t vcpus, uint32_t lrs);

  uint32_t vcpus() const { return vcpus_; }

  // ---- Configuration (the GIC server's kernel calls) ----
  // The whole configuration at once (what HYP_IRQ_CONFIG carries). `vcpu`
  // selects the bank of an SGI or PPI and is ignored for SPIs, whose target
  // it is not (a PPI's target reads as 0). kInvalidArgument: an INTID,
  // vCPU or target out of range, a level-triggered SGI.
  [[nodiscard]] Status configure(uint32_t vcpu, uint32_t intid, const Config& c, Kick& kick);
  [[nodiscard]] Result<Config> config(uint32_t vcpu, uint32_t intid);

  // An interrupt's state as GICD_ISPENDR / ISACTIVER read it: as of the
  // owning vCPU's last sync() for one in a list register. The run loop
  // syncs a vCPU whenever it leaves its CPU or a server stands in for it,
  // so a vCPU reading its own interrupts reads them exactly; one running
  // on another CPU is named in `kick`, so that it syncs at once and a
  // read after this one sees what it did meanwhile.
  struct State {
    bool pending = false;
    bool active = false;
    bool line = false;
  };
  [[nodiscard]] Result<State> state(uint32_t vcpu, uint32_t intid, Kick& kick);
  [[nodiscard]] Result<State> state(uint32_t vcpu, uint32_t intid) {
    Kick ignored;
    return state(vcpu, intid, ignored);
  }

  // ---- State changes ----
  // An edge (or a software set-pending): the interrupt is pending until
  // acknowledged. SGIs name their target vCPU; PPIs the vCPU whose bank.
  [[nodiscard]] Status raise(uint32_t vcpu, uint32_t intid, Kick& kick);
  // A level input changes: a level-triggered interrupt is pending while the
  // line is high (and again after each deactivation while it stays high).
  [[nodiscard]] Status set_line(uint32_t vcpu, uint32_t intid, bool high, Kick& kick);
  // A write of `value` to ICC_SGI1R_EL1 (`group1`) or ICC_SGI0R_EL1 /
  // ICC_ASGI1R_EL1 (not) by vCPU `from`: the SGI is raised for every vCPU
  // it names whose SGI is configured in that group (vCPU n has affinity
  // 0.0.0.n, VMPIDR_EL2).
  void send_sgi(uint32_t from, uint64_t value, bool group1, Kick& kick);
  // GICD_ICPENDR: the pending state ends, except what a level line still
  // high keeps. For an interrupt in a list register the owner's next
  // refill applies it (the owner is told through `kick`); until then
  // state() reads as if done.
  [[nodiscard]] Status clear_pending(uint32_t vcpu, uint32_t intid, Kick& kick);
  // GICD_ISACTIVER / GICD_ICACTIVER: the active state set or cleared. An
  // active interrupt is not delivered again until it is deactivated. One
  // in a list register changes there at the owner's next refill (as for
  // clear_pending); one that is not stays out of the list registers while
  // active, so the guest can end it only through GICD_ICACTIVER.
  [[nodiscard]] Status set_active(uint32_t vcpu, uint32_t intid, bool active, Kick& kick);

  // A signal from a server's request `request` (its sequence number on the
  // channel; 0: none) for this interrupt: true if the last one applied to
  // it came from the same request (served again after the server's
  // restart: not to be applied twice); otherwise records it, false.
  [[nodiscard]] bool replayed(uint32_t vcpu, uint32_t intid, uint64_t request);

  // Whether an interrupt is pending and enabled for the vCPU, in its list
  // registers `lrs` (as synced) or waiting for one: WFI does not block then.
  bool has_pending(uint32_t vcpu, const Lrs& lrs);

  // ---- List registers ----
  // Takes back what the vCPU's CPU interface did since the last flush():
  // acknowledgements, deactivations (a level interrupt whose line is still
  // high is pending again), LRs freed.
  void sync(uint32_t vcpu, Lrs& lrs);
  // Fills the vCPU's free list registers with its highest-priority pending,
  // enabled interrupts (lowest priority value first, then lowest INTID);
  // a pending-only entry of lower priority than one waiting is taken out
  // for it. With more pending than fit, asks for a maintenance interrupt
  // (NPIE) once the guest has taken every pending entry, to fill again.
  // Returns what refresh() does.
  bool flush(uint32_t vcpu, Lrs& lrs);
  // sync() then flush(), under one taking of the lock. Returns whether an
  // interrupt mapped by inject_hw() had its active state cleared by
  // set_active() and so was unmapped: the caller deactivates the physical
  // one.
  [[nodiscard]] bool refresh(uint32_t vcpu, Lrs& lrs);

  // The physical PPI `pintid` (level: a timer), mapped to PPI `intid` of
  // `vcpu`, fired while the vCPU ran, and the kernel only dropped its
  // priority: it stays active, so it cannot fire again, until the guest
  // deactivates the virtual interrupt, whose list register says HW = 1
  // (if the virtual one is disabled, or no list register is free, it waits
  // pending with the physical one still active, until flush() places it).
  // The caller flushes afterwards.
  [[nodiscard]] Status inject_hw(uint32_t vcpu, uint32_t intid, uint32_t pintid, Lrs& lrs);
  // The level source of PPI `intid` (the virtual timer) is found low: its
  // line falls. An entry the guest has not taken is withdrawn, and a
  // mapping by inject_hw() that was only waiting for the guest ends.
  // Returns whether one did: the caller deactivates the physical PPI. The
  // run loop samples the timer whenever it last raised the line, since
  // the guest lowers it without an exit (CNTV_CTL_EL0).
  [[nodiscard]] bool source_low(uint32_t vcpu, uint32_t intid, Lrs& lrs);
  // The vCPU leaves its CPU: an interrupt mapped by inject_hw() is unmapped
  // (an LR with HW = 1 becomes a software entry, its state kept, its line
  // as the source left it), since the physical one is deactivated for the
  // next vCPU there. Returns whether one was mapped: the caller must then
  // deactivate the physical PPI (after quietening its source).
  bool unmap_hw(uint32_t vcpu, Lrs& lrs);
  // The vCPU is turned off (PSCI CPU_OFF; its context is reset when it is
  // turned on again): what its list registers held pending waits again for
  // any LR; what was active is over. Call after unmap_hw().
  void release_lrs(uint32_t vcpu, Lrs& lrs);

 private:
  struct Irq {
    Config cfg;
    bool latch = false;       // edge seen (or set-pending), not yet in an LR
    bool line = false;        // level input
    bool active = false;      // in an LR: as of the last sync(); otherwise set by set_active()
    bool from_latch = false;  // in an LR: its pending state came from `latch`
    bool lr_pending = false;  // in an LR: its pending bit, as of the last sync() or flush()
    bool hw = false;          // mapped to physical `pintid`, which is active
    uint8_t ask = 0;          // in an LR: kAsk* changes for the owner's next flush()
    int8_t lr = -1;           // the LR of `owner` that holds it, or -1
    uint8_t owner = 0;
    uint16_t pintid = 0;
    uint64_t last_request = 0;  // the request of the last signal applied (replayed())

    bool pending() const { return latch || (cfg.trigger == Trigger::kLevel && line); }
  };

  static constexpr uint8_t kAskClearPending = 1;
  static constexpr uint8_t kAskSetActive = 2;
  static constexpr uint8_t kAskClearActive = 4;

  Irq* find(uint32_t vcpu, uint32_t intid) HYP_REQUIRES(lock_);
  // The vCPU whose list registers an interrupt goes to.
  uint32_t target_of(uint32_t vcpu, uint32_t intid, const Irq& q) const;
  void note_pending(uint32_t vcpu, uint32_t intid, Irq& q, Kick& kick) HYP_REQUIRES(lock_);
  uint64_t lr_value(uint32_t intid, const Irq& q) const;
  // The best pending interrupt of `vcpu` not in an LR, or -1.
  int32_t best_waiting(uint32_t vcpu) HYP_REQUIRES(lock_);
  bool better(uint32_t a_intid, const Irq& a, uint32_t b_intid, const Irq& b) const;
  void take_out(Lrs& lrs, uint32_t slot, Irq& q) HYP_REQUIRES(lock_);
  void place(uint32_t vcpu, Lrs& lrs, uint32_t slot, uint32_t intid, Irq& q) HYP_REQUIRES(lock_);
  // The interrupt in `vcpu`'s LR `slot`, or null if the LR is empty or does
  // not hold what this code put there.
  Irq* held(uint32_t vcpu, const Lrs& lrs, uint32_t slot) HYP_REQUIRES(lock_);
  void sync_locked(uint32_t vcpu, Lrs& lrs) HYP_REQUIRES(lock_);
  // Takes back LR `slot`'s state into `q`; returns whether the interrupt
  // is still in the LR.
  bool sync_entry(uint32_t vcpu, Lrs& lrs, uint32_t slot, Irq& q) HYP_REQUIRES(lock_);
  // flush(), after sync() in the same pass over the LRs if `sync_first`.
  // Returns whether a mapped interrupt was unmapped (refresh()).
  bool flush_locked(uint32_t vcpu, Lrs& lrs, bool sync_first) HYP_REQUIRES(lock_);
  // An LR's state has become invalid: the interrupt leaves it.
  void vacate(uint32_t vcpu, Lrs& lrs, uint32_t slot, Irq& q) HYP_REQUIRES(lock_);
  // Asks for a change of an interrupt in an LR, for its owner's flush().
  static void ask(Irq& q, uint8_t what, Kick& kick);

  // Marks an interrupt that may now wait for an LR (it became pending,
  // enabled, or left an LR): flush() looks only at marked ones, and
  // unmarks those it finds not waiting.
  void mark(uint32_t vcpu, uint32_t intid) HYP_REQUIRES(lock_);

  SpinLock lock_;
  uint32_t vcpus_ = 0;
  uint32_t lrs_ = 0;
  std::array<uint32_t, kMaxVcpus> maybe_private_ HYP_GUARDED_BY(lock_){};
  uint64_t maybe_spi_ HYP_GUARDED_BY(lock_) = 0;
  std::array<std::array<Irq, kPrivate>, kMaxVcpus> private_ HYP_GUARDED_BY(lock_){};
  std::array<Irq, kSpis> spis_ HYP_GUARDED_BY(lock_){};
};

}  // namespace hyp::vgic
