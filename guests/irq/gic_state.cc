// Pending, active, enable, priority and routing semantics of the GIC server's
// registers as a guest OS and careful test software rely on them, on two
// vCPUs:
// - an interrupt reads as pending while disabled, and is delivered once
//   when enabled;
// - GICR_ICPENDR0 withdraws an SGI already on its way (IRQs masked), so it
//   is never taken;
// - a vCPU reads its own interrupt as active in its handler, and
//   GICR_ICACTIVER0 written there instead of an EOI ends it for good;
// - GICD_ISACTIVER holds an interrupt back however pending, until
//   GICD_ICACTIVER;
// - an SPI active on vCPU 1 reads as active from vCPU 0 at the first read,
//   and as inactive once vCPU 1 has ended it;
// - vCPU 0 configures vCPU 1's SGI through vCPU 1's redistributor: vCPU 1
//   reads the same and takes it;
// - GICD_IROUTER moves an SPI between the vCPUs;
// - each timer's output, read through GICR_ISPENDR0 while its PPI is
//   disabled: pending while it fires, not once the guest turned the timer
//   off or masked it (no exit tells the kernel), and no interrupt when the
//   PPI is enabled after the timer was turned off.
// Every vCPU takes its interrupts in partition_irq(); a handler that must
// not end its interrupt yet waits with IRQs masked.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "guests/lib/gic.h"
#include "runtime/runtime.h"

namespace {

using guest::check;
namespace gic = guest::gic;

constexpr uint32_t kVcpus = 2;
constexpr uint32_t kWake = 0;         // an SGI that only ends a WFI
constexpr uint32_t kTimer = 27;       // the virtual timer: ends the WFI of a timed wait
constexpr uint32_t kPTimer = 30;      // the EL1 physical timer (emulated)
constexpr uint32_t kSelfActive = 3;   // read as active in its own handler
constexpr uint32_t kClearActive = 4;  // ended by GICR_ICACTIVER0 in its handler
constexpr uint32_t kWithdrawn = 5;    // withdrawn by GICR_ICPENDR0
constexpr uint32_t kConfigured = 7;   // vCPU 1's, configured by vCPU 0
constexpr uint32_t kDisabledSpi = 40;
constexpr uint32_t kHeldSpi = 41;
constexpr uint32_t kRemoteSpi = 42;
constexpr uint32_t kRoutedSpi = 43;

alignas(16) uint8_t g_stack[8192];
rt::SecondaryStart g_start;

std::atomic<uint32_t> g_taken[kVcpus][64];  // per vCPU, per INTID
std::atomic<uint32_t> g_unexpected{0};
std::atomic<bool> g_ready{false};
std::atomic<bool> g_done{false};
// Seen in handlers.
std::atomic<uint32_t> g_self_active{0};   // GICR_ISACTIVER0 in kSelfActive's handler
std::atomic<uint32_t> g_self_pending{0};  // GICR_ISPENDR0 there
std::atomic<uint32_t> g_after_clear{0};   // GICR_ISACTIVER0 after ICACTIVER0 there
std::atomic<bool> g_remote_in_handler{false};
std::atomic<bool> g_remote_release{false};

volatile uint32_t& reg32(uint64_t address) { return *reinterpret_cast<volatile uint32_t*>(address); }
volatile uint8_t& reg8(uint64_t address) { return *reinterpret_cast<volatile uint8_t*>(address); }
volatile uint64_t& reg64(uint64_t address) { return *reinterpret_cast<volatile uint64_t*>(address); }

uint64_t sgi_base(uint32_t vcpu) { return gic::kRedist + gic::kRedistStride * vcpu + 0x1'0000; }
uint64_t dist_bit_reg(uint64_t base, uint32_t intid) { return gic::kDist + base + 4 * (intid / 32); }
bool dist_bit(uint64_t base, uint32_t intid) { return (reg32(dist_bit_reg(base, intid)) >> (intid % 32) & 1) != 0; }
void set_dist_bit(uint64_t base, uint32_t intid) { reg32(dist_bit_reg(base, intid)) = 1u << (intid % 32); }

constexpr uint64_t kIsenabler = 0x100;
constexpr uint64_t kIcenabler = 0x180;
constexpr uint64_t kIspendr = 0x200;
constexpr uint64_t kIcpendr = 0x280;
constexpr uint64_t kIsactiver = 0x300;
constexpr uint64_t kIcactiver = 0x380;

uint64_t us(uint64_t n) { return rt::counter_frequency() / 1'000'000 * n; }

uint32_t taken(uint32_t vcpu, uint32_t intid) { return g_taken[vcpu][intid].load(); }

void set_timer(uint64_t cval, uint64_t ctl) {
  asm volatile("msr cntv_cval_el0, %0\n\tmsr cntv_ctl_el0, %1\n\tisb" : : "r"(cval), "r"(ctl));
}

void set_ptimer(uint64_t cval, uint64_t ctl) {
  asm volatile("msr cntp_cval_el0, %0\n\tmsr cntp_ctl_el0, %1\n\tisb" : : "r"(cval), "r"(ctl));
}

uint64_t physical_count() {
  uint64_t v;
  asm volatile("isb\n\tmrs %0, cntpct_el0" : "=r"(v));
  return v;
}

uint64_t timer_ctl(uint32_t ppi) {
  uint64_t v;
  if (ppi == kTimer) {
    asm volatile("mrs %0, cntv_ctl_el0" : "=r"(v));
  } else {
    asm volatile("mrs %0, cntp_ctl_el0" : "=r"(v));
  }
  return v;
}

// Spins for `n` microseconds (the virtual timer is under test meanwhile).
void spin_us(uint64_t n) {
  const uint64_t end = rt::read_counter() + us(n);
  while (rt::read_counter() < end) {
  }
}

// Waits in WFI until `done()` or `timeout_us` passed: the virtual timer,
// armed for the end, ends the last WFI.
template <typename Done>
bool sleep_for(Done done, uint64_t timeout_us) {
  const uint64_t end = rt::read_counter() + us(timeout_us);
  set_timer(end, 1);
  const bool ok = gic::sleep_until(done, end);
  set_timer(0, 2);
  return ok;
}

// A quiet stretch of `n` microseconds: what would arrive, arrives.
void settle(uint64_t n) {
  const uint64_t end = rt::read_counter() + us(n);
  (void)sleep_for([&] { return rt::read_counter() >= end; }, n);
}

// Polls a register read until `done()`, for state another vCPU changes:
// at most `tries` reads, 50 us apart.
template <typename Done>
bool poll(Done done, int tries) {
  for (int i = 0; i < tries; ++i) {
    if (done()) return true;
    settle(50);
  }
  return done();
}

void setup_cpu() {
  gic::init_cpu();
  gic::enable_private(kWake, 0x80);
  gic::enable_private(kTimer, 0x40);
  gic::enable_private(kSelfActive, 0x80);
  gic::enable_private(kClearActive, 0x80);
  gic::enable_private(kWithdrawn, 0x80);
}

void secondary(uint64_t /*index*/) {
  setup_cpu();
  gic::irqs_on();
  g_ready.store(true);
  (void)gic::sleep_until([] { return g_done.load(); });
}

}  // namespace

extern "C" void partition_irq(rt::ExceptionFrame* /*frame*/) {
  const uint32_t self = gic::self();
  for (uint32_t id = gic::acknowledge(); id < 1020; id = gic::acknowledge()) {
    if (id < 64) g_taken[self][id].fetch_add(1);
    const uint64_t s = sgi_base(self);
    if (id == kTimer) {
      set_timer(0, 2);  // masked: its line falls before the end
    } else if (id == kPTimer) {
      set_ptimer(0, 2);
    } else if (id == kSelfActive) {
      g_self_active.store(reg32(s + kIsactiver));
      g_self_pending.store(reg32(s + kIspendr));
    } else if (id == kClearActive) {
      reg32(s + kIcactiver) = 1u << kClearActive;  // instead of deactivating it by EOI
      g_after_clear.store(reg32(s + kIsactiver));
    } else if (id == kRemoteSpi) {
      // Stays active until vCPU 0 has looked (IRQs are masked here: the
      // wake-up SGI ends the WFI and waits).
      g_remote_in_handler.store(true);
      while (!g_remote_release.load()) asm volatile("wfi" ::: "memory");
    } else if (id >= 64 || (id != kWake && id != kTimer && id != kPTimer && id != kWithdrawn && id != kConfigured && id != kDisabledSpi &&
                            id != kHeldSpi && id != kRoutedSpi)) {
      g_unexpected.fetch_add(1);
    }
    gic::end(id);
  }
}

namespace {

bool ppi_bit(uint64_t reg, uint32_t ppi) { return (reg32(sgi_base(0) + reg) >> ppi & 1) != 0; }

// One timer of vCPU 0 (the virtual one, PPI 27, or the emulated physical
// one, PPI 30), its PPI disabled while its output is looked at through the
// GIC, as timer test software does it.
void timer_output_phase(uint32_t ppi, const char* name) {
  const bool virt = ppi == kTimer;
  auto now = [&] { return virt ? rt::read_counter() : physical_count(); };
  auto set = [&](uint64_t cval, uint64_t ctl) { virt ? set_timer(cval, ctl) : set_ptimer(cval, ctl); };
  auto pending = [&] { return ppi_bit(kIspendr, ppi); };
  gic::enable_private(ppi, 0x40);  // group 1, its priority
  reg32(sgi_base(0) + kIcenabler) = 1u << ppi;
  set(now() + us(10'000'000), 1);
  const bool quiet_before = !pending() && !ppi_bit(kIsactiver, ppi);
  set(now() - 1, 1);
  bool fired = false;
  for (int i = 0; i < 100 && !fired; ++i) {
    fired = pending();
    if (!fired) spin_us(20);
  }
  const bool not_active = !ppi_bit(kIsactiver, ppi);
  check(quiet_before && fired && not_active, virt ? "virtual_timer_output_reads_pending_while_disabled"
                                                  : "physical_timer_output_reads_pending_while_disabled",
        "%s: quiet before %d, pending %d, not active %d", name, quiet_before, fired, not_active);
  // Turned off by the guest, then the PPI enabled: nothing comes, nothing
  // reads pending.
  const uint32_t before = taken(0, ppi);
  set(0, 0);
  const bool off_at_once = !pending();  // the first read after, with nothing between
  reg32(sgi_base(0) + kIsenabler) = 1u << ppi;
  spin_us(500);
  const bool none = off_at_once && taken(0, ppi) == before && !pending();
  // Masked at the timer: its condition met (ISTATUS), its output low.
  set(now() - 1, 0b11);
  spin_us(200);
  const bool masked_quiet = (timer_ctl(ppi) & 0b100) != 0 && !pending() && taken(0, ppi) == before;
  // Unmasked: taken once (the handler masks it).
  set(now() - 1, 0b01);
  for (int i = 0; i < 500 && taken(0, ppi) == before; ++i) spin_us(20);
  const bool once = taken(0, ppi) == before + 1;
  set(0, 0);
  check(none && masked_quiet && once, virt ? "virtual_timer_turned_off_or_masked_owes_nothing"
                                           : "physical_timer_turned_off_or_masked_owes_nothing",
        "%s: nothing after off %d, quiet masked %d, taken once unmasked %d", name, none, masked_quiet, once);
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  gic::init_distributor();
  setup_cpu();
  g_start = {reinterpret_cast<uint64_t>(&g_stack[sizeof(g_stack)]), secondary, 1};
  check(rt::cpu_on(1, &g_start) == 0, "cpu_on", "");
  gic::irqs_on();
  check(sleep_for([] { return g_ready.load(); }, 1'000'000), "vcpu_1_ready", "");

  // Pending while disabled: set pending, read, then enabled and taken once.
  gic::enable_spi(kDisabledSpi, 0x80, true, 0);
  set_dist_bit(kIcenabler, kDisabledSpi);
  set_dist_bit(kIspendr, kDisabledSpi);
  settle(500);
  const bool pending_disabled = dist_bit(kIspendr, kDisabledSpi) && !dist_bit(kIsenabler, kDisabledSpi) &&
                                dist_bit(kIcpendr, kDisabledSpi) && taken(0, kDisabledSpi) == 0;
  check(pending_disabled, "pending_while_disabled_reads_pending_and_waits", "taken %u", taken(0, kDisabledSpi));
  set_dist_bit(kIsenabler, kDisabledSpi);
  (void)sleep_for([] { return taken(0, kDisabledSpi) != 0; }, 100'000);
  settle(500);
  check(taken(0, kDisabledSpi) == 1 && !dist_bit(kIspendr, kDisabledSpi), "enabled_then_taken_once", "taken %u",
        taken(0, kDisabledSpi));

  // ICPENDR withdraws an SGI on its way: IRQs masked, the SGI sent (its
  // list register holds it pending), cleared, IRQs unmasked.
  gic::irqs_off();
  gic::send_sgi(kWithdrawn, 0b01);
  const bool was_pending = (reg32(sgi_base(0) + kIspendr) >> kWithdrawn & 1) != 0;
  reg32(sgi_base(0) + kIcpendr) = 1u << kWithdrawn;
  const bool now_clear = (reg32(sgi_base(0) + kIspendr) >> kWithdrawn & 1) == 0;
  gic::irqs_on();
  settle(500);
  check(was_pending && now_clear && taken(0, kWithdrawn) == 0, "icpendr_withdraws_a_pending_sgi",
        "pending %d, cleared %d, taken %u", was_pending, now_clear, taken(0, kWithdrawn));

  // Its own interrupt, read in its handler: active, not pending.
  gic::send_sgi(kSelfActive, 0b01);
  (void)sleep_for([] { return taken(0, kSelfActive) != 0; }, 100'000);
  check((g_self_active.load() >> kSelfActive & 1) != 0 && (g_self_pending.load() >> kSelfActive & 1) == 0,
        "own_interrupt_reads_active_in_its_handler", "ISACTIVER0 0x%x ISPENDR0 0x%x", g_self_active.load(),
        g_self_pending.load());
  check((reg32(sgi_base(0) + kIsactiver) >> kSelfActive & 1) == 0, "and_inactive_after_its_eoi", "0x%x",
        reg32(sgi_base(0) + kIsactiver));

  // ICACTIVER0 in the handler ends the SGI: inactive at once, never again.
  gic::send_sgi(kClearActive, 0b01);
  (void)sleep_for([] { return taken(0, kClearActive) != 0; }, 100'000);
  settle(500);
  check(taken(0, kClearActive) == 1 && (g_after_clear.load() >> kClearActive & 1) == 0 &&
            (reg32(sgi_base(0) + kIsactiver) >> kClearActive & 1) == 0,
        "icactiver_in_the_handler_ends_it", "taken %u, ISACTIVER0 after 0x%x", taken(0, kClearActive),
        g_after_clear.load());

  // ISACTIVER holds an enabled, pending SPI back until ICACTIVER.
  gic::enable_spi(kHeldSpi, 0x80, true, 0);
  set_dist_bit(kIsactiver, kHeldSpi);
  set_dist_bit(kIspendr, kHeldSpi);
  settle(500);
  const bool held =
      taken(0, kHeldSpi) == 0 && dist_bit(kIsactiver, kHeldSpi) && dist_bit(kIspendr, kHeldSpi);
  check(held, "isactiver_holds_a_pending_spi_back", "taken %u", taken(0, kHeldSpi));
  set_dist_bit(kIcactiver, kHeldSpi);
  (void)sleep_for([] { return taken(0, kHeldSpi) != 0; }, 100'000);
  settle(500);
  check(taken(0, kHeldSpi) == 1 && !dist_bit(kIsactiver, kHeldSpi) && !dist_bit(kIspendr, kHeldSpi),
        "icactiver_lets_it_through_once", "taken %u", taken(0, kHeldSpi));

  // Active on vCPU 1, read from vCPU 0.
  gic::enable_spi(kRemoteSpi, 0x80, true, 1);
  set_dist_bit(kIspendr, kRemoteSpi);
  const bool in_handler = poll([] { return g_remote_in_handler.load(); }, 200);
  // One read, as on a GIC: vCPU 1 acknowledged it in its CPU interface,
  // with no exit, and the query makes it sync before it is answered.
  const bool seen_active = dist_bit(kIsactiver, kRemoteSpi);
  check(in_handler && seen_active && !dist_bit(kIspendr, kRemoteSpi), "active_on_vcpu_1_reads_active_from_vcpu_0",
        "in handler %d, active %d", in_handler, seen_active);
  g_remote_release.store(true);
  gic::send_sgi(kWake, 0b10);
  const bool seen_inactive = poll([] { return !dist_bit(kIsactiver, kRemoteSpi); }, 20);
  check(seen_inactive && taken(1, kRemoteSpi) == 1 && taken(0, kRemoteSpi) == 0,
        "and_inactive_once_vcpu_1_ended_it", "inactive %d, taken %u/%u", seen_inactive, taken(0, kRemoteSpi),
        taken(1, kRemoteSpi));

  // vCPU 1's SGI, configured by vCPU 0 through vCPU 1's redistributor.
  const uint64_t s1 = sgi_base(1);
  reg32(s1 + 0x80) = reg32(s1 + 0x80) | (1u << kConfigured);  // IGROUPR0
  reg8(s1 + 0x400 + kConfigured) = 0x48;
  reg32(s1 + kIsenabler) = 1u << kConfigured;
  const bool same = (reg32(s1 + kIsenabler) >> kConfigured & 1) != 0 && reg8(s1 + 0x400 + kConfigured) == 0x48 &&
                    (reg32(sgi_base(0) + kIsenabler) >> kConfigured & 1) == 0;
  gic::send_sgi(kConfigured, 0b11);
  (void)sleep_for([] { return taken(1, kConfigured) != 0; }, 100'000);
  settle(500);
  check(same && taken(1, kConfigured) == 1 && taken(0, kConfigured) == 0,
        "writes_to_vcpu_1s_redistributor_reach_vcpu_1", "same %d, taken %u/%u", same, taken(0, kConfigured),
        taken(1, kConfigured));

  // IROUTER moves an SPI from vCPU 1 to vCPU 0.
  gic::enable_spi(kRoutedSpi, 0x80, true, 1);
  set_dist_bit(kIspendr, kRoutedSpi);
  (void)sleep_for([] { return taken(1, kRoutedSpi) != 0; }, 100'000);
  reg64(gic::kDist + 0x6000 + 8 * kRoutedSpi) = 0;
  const bool routed_reads = reg64(gic::kDist + 0x6000 + 8 * kRoutedSpi) == 0;
  set_dist_bit(kIspendr, kRoutedSpi);
  (void)sleep_for([] { return taken(0, kRoutedSpi) != 0; }, 100'000);
  settle(500);
  check(routed_reads && taken(1, kRoutedSpi) == 1 && taken(0, kRoutedSpi) == 1, "irouter_moves_an_spi",
        "taken %u/%u", taken(0, kRoutedSpi), taken(1, kRoutedSpi));

  timer_output_phase(kTimer, "virtual");
  timer_output_phase(kPTimer, "physical");

  check(g_unexpected.load() == 0, "no_unexpected_interrupts", "%u", g_unexpected.load());
  g_done.store(true);
  gic::send_sgi(kWake, 0b10);
  guest::finish("gic_state");
}
