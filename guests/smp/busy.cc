// Every vCPU of the guest busy at once, whatever the number of CPUs: vCPU 0
// starts the others (as many as CPU_ON accepts), each counts as fast as it
// can, and vCPU 0, counting too, checks over several windows of
// BUSY_WINDOW_MS that every count moved in every window. With more vCPUs
// than CPUs (or two on one CPU) that needs the scheduler's time slices.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "ipc/psci.h"
#include "runtime/runtime.h"

namespace {

using guest::check;

constexpr size_t kMaxVcpus = 8;
constexpr int kWindows = 3;

alignas(16) uint8_t g_stacks[kMaxVcpus][4096];
rt::SecondaryStart g_start[kMaxVcpus];
std::atomic<uint64_t> g_count[kMaxVcpus];
std::atomic<bool> g_stop{false};

void count(uint64_t i) {
  uint64_t n = 0;
  while (!g_stop.load(std::memory_order_relaxed)) g_count[i].store(++n, std::memory_order_relaxed);
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  size_t vcpus = 1;
  for (; vcpus < kMaxVcpus; ++vcpus) {
    g_start[vcpus] = {reinterpret_cast<uint64_t>(&g_stacks[vcpus][sizeof(g_stacks[vcpus])]), count, vcpus};
    const int64_t r = rt::cpu_on(vcpus, &g_start[vcpus]);
    if (r == static_cast<int64_t>(hyp::psci::Ret::kInvalidParameters)) break;  // no such vCPU: that is all
    check(r == 0, "cpu_on", "vCPU %zu: %ld", vcpus, r);
  }
  rt::print("busy: %zu vCPUs counting\n", vcpus);
  const uint64_t window = rt::counter_frequency() / 1000 * BUSY_WINDOW_MS;
  uint64_t stalled = 0;
  uint64_t mine = 0;
  for (int w = 0; w < kWindows; ++w) {
    uint64_t before[kMaxVcpus];
    for (size_t i = 1; i < vcpus; ++i) before[i] = g_count[i].load(std::memory_order_relaxed);
    const uint64_t mine_before = mine;
    const uint64_t end = rt::read_counter() + window;
    while (rt::read_counter() < end) ++mine;
    for (size_t i = 1; i < vcpus; ++i) {
      if (g_count[i].load(std::memory_order_relaxed) == before[i]) {
        ++stalled;
        rt::print("busy: vCPU %zu did not count in window %d\n", i, w);
      }
    }
    if (mine == mine_before) ++stalled;
  }
  check(stalled == 0, "every_vcpu_counts_in_every_window", "%lu stalls", stalled);
  g_stop.store(true);
  // They return, which turns them off.
  const uint64_t give_up = rt::read_counter() + rt::counter_frequency();
  size_t off = 0;
  while (rt::read_counter() < give_up) {
    off = 0;
    for (size_t i = 1; i < vcpus; ++i) off += rt::affinity_info(i) == 1;
    if (off == vcpus - 1) break;
  }
  check(off == vcpus - 1, "all_turned_off", "%zu of %zu", off, vcpus - 1);
  guest::finish("busy");
}
