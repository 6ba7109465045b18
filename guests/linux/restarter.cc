// A controller beside Linux (it has the control right): restarts device
// servers under it while it works. Its command line (/chosen/bootargs)
// says which and how often:
//   servers=A,B,...  partition IDs, restarted in turn (default 1,2: the
//                    UART and GIC servers of //tests:linux_restart_test)
//   period=MS        between restarts (default 200)
//   times=N          stop after N restarts (default: never)
// It waits in WFI for its virtual timer between restarts (it has no
// interrupt controller: the kernel ends the WFI at the timer's deadline).
#include <cstdint>

#include "ipc/hypercall.h"
#include "libfdt.h"
#include "runtime/runtime.h"

namespace {

constexpr int kMaxServers = 8;

void sleep_ms(uint64_t ms) {
  const uint64_t until = rt::read_counter() + rt::counter_frequency() / 1000 * ms;
  asm volatile("msr cntv_cval_el0, %0\n\tmsr cntv_ctl_el0, %1\n\tisb" ::"r"(until), "r"(uint64_t{1}));
  while (rt::read_counter() < until) asm volatile("wfi" ::: "memory");
  asm volatile("msr cntv_ctl_el0, %0\n\tisb" ::"r"(uint64_t{0}));
}

// The decimal number at `s`, which moves past it.
uint64_t number(const char*& s) {
  uint64_t v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + static_cast<uint64_t>(*s++ - '0');
  return v;
}

bool starts_with(const char* s, const char* prefix) {
  while (*prefix != '\0') {
    if (*s++ != *prefix++) return false;
  }
  return true;
}

struct Plan {
  uint64_t servers[kMaxServers] = {1, 2};
  int count = 2;
  uint64_t period_ms = 200;
  uint64_t times = 0;  // 0: forever
};

Plan read_plan(uint64_t dtb) {
  Plan plan;
  const void* fdt = reinterpret_cast<const void*>(dtb);
  const int chosen = fdt_check_header(fdt) == 0 ? fdt_path_offset(fdt, "/chosen") : -1;
  const char* s = chosen >= 0 ? static_cast<const char*>(fdt_getprop(fdt, chosen, "bootargs", nullptr)) : nullptr;
  while (s != nullptr && *s != '\0') {
    if (starts_with(s, "servers=")) {
      s += 8;
      plan.count = 0;
      while (plan.count < kMaxServers && *s >= '0' && *s <= '9') {
        plan.servers[plan.count++] = number(s);
        if (*s == ',') ++s;
      }
    } else if (starts_with(s, "period=")) {
      s += 7;
      plan.period_ms = number(s);
    } else if (starts_with(s, "times=")) {
      s += 6;
      plan.times = number(s);
    }
    while (*s != '\0' && *s != ' ') ++s;
    while (*s == ' ') ++s;
  }
  return plan;
}

}  // namespace

void partition_main(uint64_t dtb) {
  const Plan plan = read_plan(dtb);
  rt::print("restarter: restarting %d servers in turn, every %lu ms, %lu times (0: forever)\n", plan.count,
            plan.period_ms, plan.times);
  for (uint64_t n = 1; plan.count != 0 && (plan.times == 0 || n <= plan.times); ++n) {
    sleep_ms(plan.period_ms);
    const uint64_t id = plan.servers[(n - 1) % static_cast<uint64_t>(plan.count)];
    const auto r = static_cast<int64_t>(rt::hvc(hyp::abi::kHypServerRestart, id).x0);
    if (r != 0) rt::print("restarter: restart %lu of server %lu refused (%ld)\n", n, id, r);
  }
  rt::print("restarter: done\n");
  for (;;) sleep_ms(1000);
}
