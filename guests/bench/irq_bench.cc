// Interrupt benchmarks, under QEMU's -icount shift=0,sleep=off (see
// bench.cc) on two CPUs, with the GIC server as the guest's GICv3:
// - eoi: the guest's end of an interrupt (ICC_EOIR1_EL1, which the virtual
//   CPU interface handles without an exit), timed around the instruction
//   (minus the same timing around nothing): 1 on bare metal;
// - timer_irq: vCPU 0 waits in WFI for its virtual timer; from the timer's
//   deadline until its handler runs;
// - mmio_read_gicd: a read of GICD_IIDR, forwarded to the GIC server,
//   which answers it from its own state (minus the same loop without it);
// - vipi: vCPU 0 sends an SGI to vCPU 1, which waits in WFI on the other
//   CPU, and waits in WFI itself until vCPU 1's handler answers with an SGI
//   back: from the send until vCPU 0's handler sees the answer.
// Instructions of both CPUs count (QEMU runs them in turn under -icount,
// switching only when one sleeps or after 100 ms of virtual time), so a
// vCPU waiting must sleep, never spin.
#include <atomic>
#include <cstdint>

#include "guests/lib/gic.h"
#include "runtime/runtime.h"

namespace {

namespace gic = guest::gic;

constexpr uint64_t kEoiIterations = 20000;
constexpr uint64_t kTimerIterations = 2000;
constexpr uint64_t kIpiIterations = 2000;
constexpr uint32_t kPing = 1;
constexpr uint32_t kPong = 2;
constexpr uint32_t kSelf = 3;
constexpr uint32_t kTimer = 27;

alignas(16) uint8_t g_stack[16384];
rt::SecondaryStart g_start;

std::atomic<uint64_t> g_fired{0};  // counter value at the timer handler
std::atomic<uint32_t> g_pongs{0};
std::atomic<uint32_t> g_timers{0};
std::atomic<bool> g_ready{false};
std::atomic<bool> g_stop{false};

uint64_t to_ns(uint64_t ticks) { return ticks * 1'000'000'000 / rt::counter_frequency(); }

uint64_t counter() {
  uint64_t v;
  asm volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v)::"memory");
  return v;
}



void report(const char* name, uint64_t total_ns, uint64_t iterations) {
  rt::print("figure %s: %lu instructions\n", name, (total_ns + iterations / 2) / iterations);
}

void secondary(uint64_t /*index*/) {
  gic::init_cpu();
  gic::enable_private(kPing, 0x80);
  gic::enable_private(kTimer, 0x40);  // as an OS does on every CPU
  gic::irqs_on();
  g_ready.store(true);
  gic::send_sgi(kPong, 1);  // vCPU 0 waits for this in WFI
  (void)gic::sleep_until([] { return g_stop.load(); });
}

}  // namespace

extern "C" void partition_irq(rt::ExceptionFrame* /*frame*/) {
  gic::take_all([&](uint32_t id) {
    if (id == kTimer) {
      g_fired.store(counter());
      asm volatile("msr cntv_ctl_el0, %0\n\tisb" : : "r"(uint64_t{2}));  // masked: the line drops
      g_timers.fetch_add(1);
    } else if (id == kPing) {
      gic::send_sgi(kPong, 1);  // answer vCPU 0
    } else if (id == kPong) {
      g_pongs.fetch_add(1);
    }
  });
}

void partition_main(uint64_t /*dtb*/) {
  gic::init_distributor();
  gic::init_cpu();
  gic::enable_private(kPong, 0x80);
  gic::enable_private(kSelf, 0x80);
  gic::enable_private(kTimer, 0x40);
  g_start = {reinterpret_cast<uint64_t>(&g_stack[sizeof(g_stack)]), secondary, 1};
  if (rt::cpu_on(1, &g_start) != 0) rt::print("irq bench: vCPU 1 did not start\n");
  gic::irqs_on();
  (void)gic::sleep_until([] { return g_ready.load(); });

  // eoi: one SGI to itself at a time, taken by hand with IRQs masked; only
  // the EOI is timed. The counter ticks every 16 instructions, and the
  // loop is the same every time: 0 to 15 NOPs first move the first read
  // through every point between two ticks, so that the mean of the rounded
  // differences is the true one (without them, a change of the exit path's
  // length anywhere could lock the read just before or after a tick).
  gic::irqs_off();
  uint64_t with = 0;
  uint64_t without = 0;
  for (uint64_t i = 0; i < kEoiIterations; ++i) {
    gic::send_sgi(kSelf, 1);
    const uint32_t id = gic::acknowledge();
    for (uint64_t n = i % 16; n != 0; --n) asm volatile("nop");
    const uint64_t t0 = counter();
    gic::end(id);
    const uint64_t t1 = counter();
    const uint64_t t2 = counter();
    with += t1 - t0;
    without += t2 - t1;
  }
  gic::irqs_on();
  report("eoi", to_ns(with > without ? with - without : 0), kEoiIterations);

  // mmio_read_gicd.
  {
    constexpr uint64_t kReads = 20000;
    const uint64_t t0 = counter();
    for (uint64_t i = 0; i < kReads; ++i) asm volatile("" ::: "memory");
    const uint64_t t1 = counter();
    for (uint64_t i = 0; i < kReads; ++i) (void)*reinterpret_cast<volatile uint32_t*>(gic::kDist + 0x8);
    const uint64_t t2 = counter();
    const uint64_t empty = t1 - t0;
    const uint64_t reads = t2 - t1;
    report("mmio_read_gicd", to_ns(reads > empty ? reads - empty : 0), kReads);
  }

  // timer_irq: the deadline a little ahead, WFI until the handler ran.
  uint64_t late = 0;
  for (uint64_t i = 0; i < kTimerIterations; ++i) {
    const uint32_t before = g_timers.load();
    const uint64_t deadline = counter() + rt::counter_frequency() / 100'000;  // 10 us
    asm volatile("msr cntv_cval_el0, %0\n\tmsr cntv_ctl_el0, %1\n\tisb" : : "r"(deadline), "r"(uint64_t{1}));
    (void)gic::sleep_until([&] { return g_timers.load() != before; });
    late += g_fired.load() - deadline;
  }
  report("timer_irq", to_ns(late), kTimerIterations);

  // vipi: ping vCPU 1, sleep until its pong.
  uint64_t total = 0;
  for (uint64_t i = 0; i < kIpiIterations; ++i) {
    const uint32_t before = g_pongs.load();
    const uint64_t t0 = counter();
    gic::send_sgi(kPing, 0b10);
    (void)gic::sleep_until([&] { return g_pongs.load() != before; });
    total += counter() - t0;
  }
  report("vipi", to_ns(total), kIpiIterations);

  g_stop.store(true);
  gic::send_sgi(kPing, 0b10);
  rt::print("irq bench: done\n");
}
