#include "kernel/arch/cpu.h"

#include <array>
#include <atomic>

#include "kernel/arch/aarch64/boot_layout.h"
#include "kernel/arch/aarch64/sysreg.h"
#include "kernel/irq/sgi.h"

extern "C" char boot_stacks[];  // entry.S
extern "C" [[noreturn]] void vcpu_enter(hyp::VcpuContext* ctx, uint64_t stack_top);  // exceptions.S

namespace hyp::arch {

uint64_t current_mpidr() {
  // Aff3 lives in bits [39:32], Aff2..Aff0 in [23:0].
  return HYP_READ_SYSREG(mpidr_el1) & 0xff'00ff'ffffull;
}

[[noreturn]] void halt() {
  asm volatile("msr daifset, #0xf");
  for (;;) asm volatile("wfi");
}

uint64_t counter_ticks() {
  isb();  // keep the read from being hoisted above earlier instructions
  return HYP_READ_SYSREG(cntpct_el0);
}

uint64_t counter_frequency() { return HYP_READ_SYSREG(cntfrq_el0); }

void cpu_relax() { asm volatile("yield" ::: "memory"); }

namespace {

// ICC_SGI1R_EL1 (GICv3 12.2.x): IRM (bit 40) sends to every PE but this one.
constexpr uint64_t kSgiToOthers = uint64_t{1} << 40;
constexpr uint64_t kSpurious = 1020;  // INTIDs 1020..1023 are special

// SPIs taken and not yet handed out, by INTID (32..1019), and whether any
// may be (set before a bit, cleared before the bits are looked through).
constinit std::array<std::atomic<uint64_t>, 16> g_device_spis{};
constinit std::atomic<bool> g_device_any{false};

}  // namespace

// ICC_CTLR_EL1.EOImode (bit 1): ICC_EOIR1_EL1 drops priority only, and
// ICC_DIR_EL1 deactivates.
constexpr uint64_t kEoiModeSplit = 2;

void irq_cpu_interface_init() {
  HYP_WRITE_SYSREG(S3_0_C4_C6_0, 0xff);    // ICC_PMR_EL1: nothing masked by priority
  HYP_WRITE_SYSREG(S3_0_C12_C12_3, 0);     // ICC_BPR1_EL1
  HYP_WRITE_SYSREG(S3_0_C12_C12_4, kEoiModeSplit);  // ICC_CTLR_EL1
  HYP_WRITE_SYSREG(S3_0_C12_C12_7, 1);     // ICC_IGRPEN1_EL1
  isb();
}

void deactivate_interrupt(uint32_t intid) {
  HYP_WRITE_SYSREG(S3_0_C12_C11_1, intid);  // ICC_DIR_EL1
  isb();
}

uint64_t counter_ticks_fast() { return HYP_READ_SYSREG(cntpct_el0); }

namespace {
void timer_disarm() { HYP_WRITE_SYSREG(S3_4_C14_C2_1, 0); }  // CNTHP_CTL_EL2
}  // namespace

// No ISB after these: the ERET into the partition that follows (or the
// interrupt acknowledgement) synchronizes them, and a timer that takes
// effect a few instructions late changes nothing.
void timer_arm_at(uint64_t deadline) {
  if (deadline == 0) {
    timer_disarm();
    return;
  }
  HYP_WRITE_SYSREG(S3_4_C14_C2_2, deadline);  // CNTHP_CVAL_EL2
  HYP_WRITE_SYSREG(S3_4_C14_C2_1, 1);         // CNTHP_CTL_EL2: ENABLE, not masked
}

Interrupts acknowledge_interrupts() {
  Interrupts seen;
  for (;;) {
    const uint64_t intid = HYP_READ_SYSREG(S3_0_C12_C12_0);  // ICC_IAR1_EL1
    if (intid >= kSpurious) return seen;
    HYP_WRITE_SYSREG(S3_0_C12_C12_1, intid);  // ICC_EOIR1_EL1: priority drop
    if (intid == gic::kVirtualTimerPpi) {
      seen.vtimer = true;
      continue;
    }
    if (intid == gic::kMaintenancePpi) {
      seen.maintenance = true;
      continue;
    }
    if (intid >= 32) {
      g_device_spis[intid / 64].fetch_or(uint64_t{1} << (intid % 64), std::memory_order_acq_rel);
      g_device_any.store(true, std::memory_order_seq_cst);
      seen.device = true;
      continue;
    }
    if (intid == gic::kHypTimerPpi) {
      // Level-triggered: off before its end, or it is pending again at once.
      timer_disarm();
      seen.timer = true;
    }
    HYP_WRITE_SYSREG(S3_0_C12_C11_1, intid);  // ICC_DIR_EL1
  }
}

void wait_for_event() {
  // Interrupts stay masked at EL2: a pending one still ends WFI.
  asm volatile("dsb sy\n\twfi" ::: "memory");
  // No vCPU is loaded on a sleeping CPU, so whatever raised the virtual
  // machinery's PPIs is gone (a guest's timer is quietened and its CPU
  // interface turned off when it leaves): ended here.
  const Interrupts seen = acknowledge_interrupts();
  if (seen.vtimer) deactivate_interrupt(gic::kVirtualTimerPpi);
  if (seen.maintenance) deactivate_interrupt(gic::kMaintenancePpi);
  // What the caller reads next is read after the acknowledgement, as
  // Linux's GICv3 driver orders its reads after ICC_IAR1_EL1.
  asm volatile("dsb sy" ::: "memory");
}

namespace {
constinit std::atomic<uint64_t> g_events_sent{0};
}  // namespace

uint64_t events_sent_count() { return g_events_sent.load(std::memory_order_acquire); }

bool take_device_interrupt(uint32_t& intid) {
  if (!g_device_any.load(std::memory_order_acquire)) return false;  // the common case, at every schedule()
  g_device_any.store(false, std::memory_order_seq_cst);
  for (size_t w = 0; w < g_device_spis.size(); ++w) {
    uint64_t bits = g_device_spis[w].load(std::memory_order_acquire);
    while (bits != 0) {
      const auto b = static_cast<uint32_t>(__builtin_ctzll(bits));
      const uint64_t mask = uint64_t{1} << b;
      if ((g_device_spis[w].fetch_and(~mask, std::memory_order_acq_rel) & mask) != 0) {
        intid = static_cast<uint32_t>(64 * w) + b;
        g_device_any.store(true, std::memory_order_release);  // others may remain: look again next call
        return true;
      }
      bits = g_device_spis[w].load(std::memory_order_acquire);
    }
  }
  return false;
}

void send_event() {
  g_events_sent.fetch_add(1, std::memory_order_acq_rel);
  asm volatile("dsb ish" ::: "memory");
  HYP_WRITE_SYSREG(S3_0_C12_C11_5, kSgiToOthers | (uint64_t{gic::kWakeSgi} << 24));  // ICC_SGI1R_EL1
  isb();
}

void wake_cpu(uint64_t mpidr) {
  // ICC_SGI1R_EL1: Aff3 [55:48], Aff2 [39:32], Aff1 [23:16], the range
  // selector [47:44] picks which 16 Aff0 values the target list [15:0] means.
  const uint64_t aff0 = mpidr & 0xff;
  const uint64_t value = ((mpidr >> 32) & 0xff) << 48 | ((mpidr >> 16) & 0xff) << 32 | ((mpidr >> 8) & 0xff) << 16 |
                         (aff0 >> 4) << 44 | uint64_t{gic::kWakeSgi} << 24 | uint64_t{1} << (aff0 & 15);
  asm volatile("dsb ish" ::: "memory");
  HYP_WRITE_SYSREG(S3_0_C12_C11_5, value);
  isb();
}

bool random64(uint64_t& out) {
  uint64_t ok;
  asm volatile("mrs %0, S3_3_C2_C4_0\n\tcset %1, ne" : "=r"(out), "=r"(ok) : : "cc");  // RNDR
  return ok != 0;
}

uint64_t kernel_stack_top(size_t cpu) {
  return reinterpret_cast<uint64_t>(boot_stacks) + (cpu + 1) * BOOT_STACK_SIZE;
}

void enter_vcpu(VcpuContext& ctx, size_t cpu) { vcpu_enter(&ctx, kernel_stack_top(cpu)); }

}  // namespace hyp::arch
