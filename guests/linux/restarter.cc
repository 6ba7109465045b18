// A controller beside Linux (it has the control right): restarts the UART
// server and the GIC server in turn, one every 200 ms, for as long as the
// machine runs, so that Linux's console and interrupt controller are
// restarted under it while it works (//tests:linux_restart_test). It waits
// in WFI for its virtual timer between restarts (it has no interrupt
// controller: the kernel ends the WFI at the timer's deadline).
#include <cstdint>

#include "ipc/hypercall.h"
#include "runtime/runtime.h"

namespace {

constexpr uint64_t kUartServerId = 1;  // the package's first partition
constexpr uint64_t kGicServerId = 2;
constexpr uint64_t kPeriodMs = 200;

void sleep_ms(uint64_t ms) {
  const uint64_t until = rt::read_counter() + rt::counter_frequency() / 1000 * ms;
  asm volatile("msr cntv_cval_el0, %0\n\tmsr cntv_ctl_el0, %1\n\tisb" ::"r"(until), "r"(uint64_t{1}));
  while (rt::read_counter() < until) asm volatile("wfi" ::: "memory");
  asm volatile("msr cntv_ctl_el0, %0\n\tisb" ::"r"(uint64_t{0}));
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  rt::print("restarter: restarting the UART and GIC servers in turn, every %lu ms\n", kPeriodMs);
  for (uint64_t n = 1;; ++n) {
    sleep_ms(kPeriodMs);
    const uint64_t id = n % 2 == 1 ? kUartServerId : kGicServerId;
    const auto r = static_cast<int64_t>(rt::hvc(hyp::abi::kHypServerRestart, id).x0);
    if (r != 0) rt::print("restarter: restart %lu of server %lu refused (%ld)\n", n, id, r);
  }
}
