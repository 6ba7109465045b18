// Virtual interrupts end to end, with the GIC server as the guest's GICv3:
// - SGIs between every pair of vCPUs, the receiver waiting in WFI;
// - the virtual timer at several periods on every vCPU at once, each vCPU
//   waiting in WFI, never early;
// - more SGIs pending at once than the CPU has list registers, taken in
//   priority order.
// vCPU 0 starts the others and drives the phases; every vCPU takes its
// interrupts in partition_irq().
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "guests/lib/gic.h"
#include "ipc/psci.h"
#include "runtime/runtime.h"

namespace {

using guest::check;
namespace gic = guest::gic;

constexpr size_t kVcpus = 4;
constexpr uint32_t kIpi = 1;
constexpr uint32_t kTimer = 27;   // the virtual timer's PPI
constexpr uint32_t kPTimer = 30;  // the EL1 physical timer's (emulated)
constexpr uint64_t kPeriodsUs[] = {500, 2000, 7000};
constexpr int kTimerRounds = 4;
constexpr uint32_t kOrderFirst = 2;  // SGIs 2..9 for the priority phase
constexpr uint32_t kOrderCount = 8;

alignas(16) uint8_t g_stacks[kVcpus][8192];
rt::SecondaryStart g_start[kVcpus];

std::atomic<uint32_t> g_ipis[kVcpus];    // SGI kIpi taken, per receiver
std::atomic<uint32_t> g_timers[kVcpus];  // timer interrupts taken
std::atomic<uint32_t> g_early[kVcpus];   // ... that came before their deadline
std::atomic<uint32_t> g_ptimers[kVcpus];
std::atomic<uint32_t> g_pearly[kVcpus];
uint64_t g_pdeadline[kVcpus];
std::atomic<uint32_t> g_ptimers_done{0};
std::atomic<uint32_t> g_spurious[kVcpus];
uint64_t g_deadline[kVcpus];
std::atomic<int> g_phase{0};  // 0 IPIs, 1 timers, 2 done
constexpr uint32_t kNobody = ~0u;
std::atomic<uint32_t> g_sender{kNobody};  // the secondary whose turn it is to send
std::atomic<uint32_t> g_missed{0};
std::atomic<uint32_t> g_ready{0};
std::atomic<uint32_t> g_timers_done{0};
uint32_t g_order[kOrderCount];
std::atomic<uint32_t> g_order_len{0};

uint64_t us(uint64_t n) { return rt::counter_frequency() / 1'000'000 * n; }

void set_timer(uint64_t cval, uint64_t ctl) {
  asm volatile("msr cntv_cval_el0, %0\n\tmsr cntv_ctl_el0, %1\n\tisb" : : "r"(cval), "r"(ctl));
}

// The physical timer, through TVAL (a distance) then CTL.
void set_ptimer(uint64_t tval, uint64_t ctl) {
  asm volatile("msr cntp_tval_el0, %0\n\tmsr cntp_ctl_el0, %1\n\tisb" : : "r"(tval), "r"(ctl));
}

uint64_t physical_count() {
  uint64_t v;
  asm volatile("isb\n\tmrs %0, cntpct_el0" : "=r"(v));
  return v;
}


// Waits in WFI until `done()` (gic::sleep_until), at most `timeout_us`.
template <typename Done>
bool sleep_for(Done done, uint64_t timeout_us) {
  return gic::sleep_until(done, rt::read_counter() + us(timeout_us));
}

// Spins until `done()`, for what another vCPU only writes to memory.
template <typename Done>
bool spin_for(Done done, uint64_t timeout_us) {
  const uint64_t end = rt::read_counter() + us(timeout_us);
  while (!done()) {
    if (rt::read_counter() >= end) return false;
  }
  return true;
}

void setup_cpu() {
  gic::init_cpu();
  for (uint32_t i = 0; i < 16; ++i) gic::enable_private(i, 0x80);
  gic::enable_private(kTimer, 0x40);
  gic::enable_private(kPTimer, 0x40);
}

// Every vCPU in turn sends to every other and waits for it to have taken
// the SGI; receivers wait in WFI.
uint32_t ipi_phase(uint32_t self) {
  uint32_t missed = 0;
  for (uint32_t sender = 0; sender < kVcpus; ++sender) {
    for (uint32_t receiver = 0; receiver < kVcpus; ++receiver) {
      if (receiver == sender) continue;
      if (self != sender) continue;
      const uint32_t before = g_ipis[receiver].load();
      gic::send_sgi(kIpi, static_cast<uint16_t>(1u << receiver));
      if (!spin_for([&] { return g_ipis[receiver].load() != before; }, 200'000)) {
        ++missed;
        rt::print("irq: SGI from vCPU %u to vCPU %u not taken\n", sender, receiver);
      }
    }
  }
  return missed;
}

void timer_phase(uint32_t self) {
  for (uint64_t period : kPeriodsUs) {
    for (int round = 0; round < kTimerRounds; ++round) {
      const uint32_t before = g_timers[self].load();
      g_deadline[self] = rt::read_counter() + us(period);
      set_timer(g_deadline[self], 1);
      if (!sleep_for([&] { return g_timers[self].load() != before; }, 200'000)) {
        rt::print("irq: vCPU %u: timer of %lu us not taken\n", self, period);
        return;
      }
    }
  }
}

// The same with the physical timer (PPI 30), its deadline on the
// physical count.
void ptimer_phase(uint32_t self) {
  for (uint64_t period : kPeriodsUs) {
    for (int round = 0; round < kTimerRounds; ++round) {
      const uint32_t before = g_ptimers[self].load();
      g_pdeadline[self] = physical_count() + us(period);
      set_ptimer(g_pdeadline[self] - physical_count(), 1);
      if (!sleep_for([&] { return g_ptimers[self].load() != before; }, 200'000)) {
        rt::print("irq: vCPU %u: physical timer of %lu us not taken\n", self, period);
        return;
      }
    }
  }
}

void secondary(uint64_t index) {
  const auto self = static_cast<uint32_t>(index);
  setup_cpu();
  gic::irqs_on();
  g_ready.fetch_add(1);
  // vCPU 0 gives each secondary its turn to send (and wakes it with an SGI).
  for (;;) {
    (void)sleep_for([&] { return g_phase.load() != 0 || g_sender.load() == self; }, 5'000'000);
    if (g_phase.load() != 0) break;
    g_missed.fetch_add(ipi_phase(self));
    g_sender.store(kNobody);
  }
  timer_phase(self);
  g_timers_done.fetch_add(1);
  ptimer_phase(self);
  g_ptimers_done.fetch_add(1);
  (void)sleep_for([] { return g_phase.load() == 2; }, 5'000'000);
}

}  // namespace

extern "C" void partition_irq(rt::ExceptionFrame* /*frame*/) {
  const uint32_t self = gic::self();
  gic::take_all([&](uint32_t id) {
    if (id == kTimer) {
      uint64_t now;
      asm volatile("mrs %0, cntvct_el0" : "=r"(now));
      if (now < g_deadline[self]) g_early[self].fetch_add(1);
      set_timer(0, 2);  // masked and off: the line drops before the end
      g_timers[self].fetch_add(1);
    } else if (id == kPTimer) {
      if (physical_count() < g_pdeadline[self]) g_pearly[self].fetch_add(1);
      set_ptimer(0, 2);  // masked: its line falls
      g_ptimers[self].fetch_add(1);
    } else if (id == kIpi) {
      g_ipis[self].fetch_add(1);
    } else if (id >= kOrderFirst && id < kOrderFirst + kOrderCount) {
      const uint32_t n = g_order_len.fetch_add(1);
      if (n < kOrderCount) g_order[n] = id;
    } else {
      g_spurious[self].fetch_add(1);
    }
  });
}

void partition_main(uint64_t /*dtb*/) {
  gic::init_distributor();
  setup_cpu();
  gic::irqs_on();
  for (uint32_t i = 1; i < kVcpus; ++i) {
    g_start[i] = {reinterpret_cast<uint64_t>(&g_stacks[i][sizeof(g_stacks[i])]), secondary, i};
    const int64_t r = rt::cpu_on(i, &g_start[i]);
    check(r == 0, "cpu_on", "vCPU %u: %ld", i, r);
  }
  const bool all_ready = spin_for([] { return g_ready.load() == kVcpus - 1; }, 1'000'000);
  check(all_ready, "all_vcpus_ready", "%u", g_ready.load());

  // SGIs between every pair: vCPU 0 sends to each other vCPU, then each
  // secondary in turn to every other vCPU, the receivers in WFI.
  g_missed.fetch_add(ipi_phase(0));
  bool turns = true;
  for (uint32_t sender = 1; sender < kVcpus; ++sender) {
    g_sender.store(sender);
    gic::send_sgi(kIpi, static_cast<uint16_t>(1u << sender));
    turns = spin_for([] { return g_sender.load() == kNobody; }, 2'000'000) && turns;
  }
  check(turns, "every_vcpu_had_its_turn", "");
  check(g_missed.load() == 0, "sgi_between_every_pair", "%u missed", g_missed.load());

  // The timers, on every vCPU at once.
  g_phase.store(1);
  for (uint32_t i = 1; i < kVcpus; ++i) gic::send_sgi(kIpi, static_cast<uint16_t>(1u << i));  // out of WFI
  timer_phase(0);
  const bool timers_done = spin_for([] { return g_timers_done.load() == kVcpus - 1; }, 2'000'000);
  check(timers_done, "timers_done_on_every_vcpu", "%u", g_timers_done.load());
  uint32_t wrong = 0;
  for (uint32_t i = 0; i < kVcpus; ++i) {
    const uint32_t want = kTimerRounds * (sizeof(kPeriodsUs) / sizeof(kPeriodsUs[0]));
    if (g_timers[i].load() != want || g_early[i].load() != 0) {
      ++wrong;
      rt::print("irq: vCPU %u: %u timer interrupts (%u early), wanted %u\n", i, g_timers[i].load(), g_early[i].load(),
                want);
    }
  }
  check(wrong == 0, "virtual_timer_on_every_vcpu_never_early", "%u vCPUs wrong", wrong);
  ptimer_phase(0);
  const bool ptimers_done = spin_for([] { return g_ptimers_done.load() == kVcpus - 1; }, 2'000'000);
  check(ptimers_done, "physical_timers_done_on_every_vcpu", "%u", g_ptimers_done.load());
  uint32_t pwrong = 0;
  for (uint32_t i = 0; i < kVcpus; ++i) {
    const uint32_t want = kTimerRounds * (sizeof(kPeriodsUs) / sizeof(kPeriodsUs[0]));
    if (g_ptimers[i].load() != want || g_pearly[i].load() != 0) {
      ++pwrong;
      rt::print("irq: vCPU %u: %u physical timer interrupts (%u early), wanted %u\n", i, g_ptimers[i].load(),
                g_pearly[i].load(), want);
    }
  }
  check(pwrong == 0, "physical_timer_on_every_vcpu_never_early", "%u vCPUs wrong", pwrong);

  // More pending than list registers, in priority order: SGI 2 lowest
  // priority ... SGI 9 highest.
  for (uint32_t k = 0; k < kOrderCount; ++k) {
    gic::enable_private(kOrderFirst + k, static_cast<uint8_t>(0xf0 - 0x10 * k));
  }
  gic::irqs_off();
  for (uint32_t k = 0; k < kOrderCount; ++k) gic::send_sgi(kOrderFirst + k, 1);
  gic::irqs_on();
  (void)spin_for([] { return g_order_len.load() >= kOrderCount; }, 200'000);
  bool ordered = g_order_len.load() == kOrderCount;
  for (uint32_t k = 0; ordered && k < kOrderCount; ++k) ordered = g_order[k] == kOrderFirst + kOrderCount - 1 - k;
  check(ordered, "eight_pending_taken_in_priority_order", "%u taken: %u %u %u %u %u %u %u %u", g_order_len.load(),
        g_order[0], g_order[1], g_order[2], g_order[3], g_order[4], g_order[5], g_order[6], g_order[7]);

  uint32_t spurious = 0;
  for (uint32_t i = 0; i < kVcpus; ++i) spurious += g_spurious[i].load();
  check(spurious == 0, "no_unexpected_interrupts", "%u", spurious);
  g_phase.store(2);
  for (uint32_t i = 1; i < kVcpus; ++i) gic::send_sgi(kIpi, static_cast<uint16_t>(1u << i));
  guest::finish("irq");
}
