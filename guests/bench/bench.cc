// Exit-cost benchmarks, meant to run under QEMU's -icount shift=0,sleep=off
// on one CPU: virtual time then advances 1 ns per instruction executed,
// guest and hypervisor alike, so a duration read from the virtual counter
// is an instruction count. Each figure is averaged over kIterations and has
// the cost of the same loop without the operation subtracted.
#include <cstdint>

#include "guests/lib/guest.h"
#include "ipc/hypercall.h"

namespace {

constexpr uint64_t kIterations = 20000;

// Nanoseconds (= instructions under icount shift=0) for `ticks` of the counter.
uint64_t to_ns(uint64_t ticks) { return ticks * 1'000'000'000 / guest::counter_frequency(); }

template <typename Body>
uint64_t measure(Body body) {
  const uint64_t start = guest::read_counter();
  for (uint64_t i = 0; i < kIterations; ++i) body();
  return to_ns(guest::read_counter() - start);
}

void report(const char* name, uint64_t total_ns, uint64_t baseline_ns) {
  const uint64_t net = total_ns > baseline_ns ? total_ns - baseline_ns : 0;
  // Round to the nearest whole instruction.
  guest::print("figure %s: %lu instructions\n", name, (net + kIterations / 2) / kIterations);
}

}  // namespace

void guest_main(uint64_t /*dtb*/) {
  guest::print("bench: %lu iterations each, counter at %lu Hz\n", kIterations, guest::counter_frequency());
  const uint64_t empty = measure([] {
    register uint64_t x0 asm("x0") = hyp::abi::kHypVersion;
    asm volatile("" : "+r"(x0)::"x1", "x2", "x3", "memory");
  });
  const uint64_t hypercall = measure([] {
    register uint64_t x0 asm("x0") = hyp::abi::kHypVersion;
    asm volatile("hvc #0" : "+r"(x0)::"x1", "x2", "x3", "memory");
  });
  report("hypercall", hypercall, empty);
  guest::print("bench: done\n");
}
