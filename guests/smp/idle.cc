// A guest with nothing to do: every vCPU waits in WFI (its virtual timer set
// IDLE_MS ahead) and then powers the partition off. The benchmark
// //tests/bench:idle measures how much host CPU time QEMU spends meanwhile.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"

namespace {

constexpr size_t kMaxVcpus = 8;

alignas(16) uint8_t g_stacks[kMaxVcpus][4096];
rt::SecondaryStart g_start[kMaxVcpus];
uint64_t g_until = 0;

void sleep_then_off(uint64_t /*i*/) { rt::sleep_until(g_until); }

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  g_until = rt::read_counter() + rt::counter_frequency() / 1000 * IDLE_MS;
  size_t vcpus = 1;
  for (; vcpus < kMaxVcpus; ++vcpus) {
    g_start[vcpus] = {reinterpret_cast<uint64_t>(&g_stacks[vcpus][sizeof(g_stacks[vcpus])]), sleep_then_off, vcpus};
    if (rt::cpu_on(vcpus, &g_start[vcpus]) != 0) break;
  }
  rt::print("idle: %zu vCPUs in WFI for %d ms\n", vcpus, IDLE_MS);
  rt::sleep_until(g_until);
  rt::print("idle: done\n");
}
