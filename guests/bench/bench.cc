// Exit-cost benchmarks, meant to run under QEMU's -icount shift=0,sleep=off
// on one CPU: virtual time then advances 1 ns per instruction executed,
// guest and hypervisor alike, so a duration read from the virtual counter
// is an instruction count. Each figure is averaged over kIterations and has
// the cost of the same loop without the operation subtracted.
#include <cstdint>

#include "runtime/runtime.h"
#include "guests/lib/uart.h"
#include "ipc/hypercall.h"

namespace {

constexpr uint64_t kIterations = 20000;

// Nanoseconds (= instructions under icount shift=0) for `ticks` of the counter.
uint64_t to_ns(uint64_t ticks) { return ticks * 1'000'000'000 / rt::counter_frequency(); }

// The UART server's partition ID (first in the bench package).
constexpr uint64_t kUartServerId = 1;

template <typename Body>
uint64_t measure(Body body, uint64_t iterations = kIterations) {
  const uint64_t start = rt::read_counter();
  for (uint64_t i = 0; i < iterations; ++i) body();
  return to_ns(rt::read_counter() - start);
}

void report(const char* name, uint64_t total_ns, uint64_t baseline_ns, uint64_t iterations = kIterations) {
  const uint64_t net = total_ns > baseline_ns ? total_ns - baseline_ns : 0;
  // Round to the nearest whole instruction.
  rt::print("figure %s: %lu instructions\n", name, (net + iterations / 2) / iterations);
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  rt::print("bench: %lu iterations each, counter at %lu Hz\n", kIterations, rt::counter_frequency());
  const uint64_t empty = measure([] {
    register uint64_t x0 asm("x0") = hyp::abi::kHypVersion;
    asm volatile("" : "+r"(x0)::"x1", "x2", "x3", "memory");
  });
  const uint64_t hypercall = measure([] {
    register uint64_t x0 asm("x0") = hyp::abi::kHypVersion;
    asm volatile("hvc #0" : "+r"(x0)::"x1", "x2", "x3", "memory");
  });
  report("hypercall", hypercall, empty);

  // A forwarded read: trap, request on the UART server's ring, switch to
  // the server on this CPU, its answer, switch back, completion.
  const uint64_t read = measure([] { (void)guest::uart::read(guest::uart::Regs::kIdBase); });
  report("mmio_read_server", read, empty);
  // A posted write: the guest goes on at once; the server takes the writes
  // in batches (when half its ring is full), which the average includes.
  const uint64_t write = measure([] { guest::uart::write(guest::uart::Regs::kImsc, 0); });
  report("mmio_write_posted", write, empty);
  // A planned restart as the guest sees it: the restart call returns once
  // the new instance has started, then one read; minus an ordinary read.
  constexpr uint64_t kRestarts = 50;
  const uint64_t restart = measure(
      [] {
        rt::hvc(hyp::abi::kHypServerRestart, kUartServerId);
        (void)guest::uart::read(guest::uart::Regs::kIdBase);
      },
      kRestarts);
  report("server_restart", restart, read * kRestarts / kIterations, kRestarts);
  rt::print("bench: done\n");
}
