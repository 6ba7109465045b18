#include "kernel/trace.h"

#include "kernel/arch/cpu.h"

namespace hyp::trace {

constinit std::atomic<bool> g_on{false};

namespace {

constinit CpuRing g_rings[kMaxCpus]{};

}  // namespace

void record(size_t cpu, ipc::TraceEvent event, uint16_t partition, uint16_t vcpu, uint32_t arg) {
  if (cpu >= kMaxCpus) return;
  CpuRing& ring = g_rings[cpu];
  const uint64_t i = ring.next.load(std::memory_order_relaxed);
  ipc::TraceRecord& r = ring.records[i % ipc::kTraceRecordsPerCpu];
  r.ticks = arch::counter_ticks();
  r.event = static_cast<uint8_t>(event);
  r.cpu = static_cast<uint8_t>(cpu);
  r.partition = static_cast<uint8_t>(partition);
  r.vcpu = static_cast<uint8_t>(vcpu);
  r.arg = arg;
  ring.next.store(i + 1, std::memory_order_release);
}

void set(bool on) {
  if (on) {
    // Emptied by moving each ring's start to where it is: a CPU writing
    // meanwhile only adds to the new trace.
    g_on.store(false, std::memory_order_seq_cst);
    for (CpuRing& ring : g_rings)
      ring.start.store(ring.next.load(std::memory_order_acquire), std::memory_order_relaxed);
  }
  g_on.store(on, std::memory_order_seq_cst);
}

void read(size_t cpu, uint64_t first, ipc::ControlTrace& out) {
  out.cpu = static_cast<uint32_t>(cpu);
  out.frequency = arch::counter_frequency();
  out.on = on() ? 1 : 0;
  if (cpu >= kMaxCpus) return;
  CpuRing& ring = g_rings[cpu];
  const uint64_t next = ring.next.load(std::memory_order_acquire);
  const uint64_t oldest = next > ipc::kTraceRecordsPerCpu ? next - ipc::kTraceRecordsPerCpu : 0;
  if (first < oldest) first = oldest;
  if (const uint64_t start = ring.start.load(std::memory_order_relaxed); first < start) first = start;
  if (first > next) first = next;
  uint64_t count = next - first;
  if (count > ipc::kTraceChunk) count = ipc::kTraceChunk;
  for (uint64_t i = 0; i < count; ++i) out.records[i] = ring.records[(first + i) % ipc::kTraceRecordsPerCpu];
  // Records the CPU overwrote while they were copied are dropped.
  const uint64_t now = ring.next.load(std::memory_order_acquire);
  const uint64_t kept_from = now > ipc::kTraceRecordsPerCpu ? now - ipc::kTraceRecordsPerCpu : 0;
  uint64_t skip = kept_from > first ? kept_from - first : 0;
  if (skip > count) skip = count;
  for (uint64_t i = skip; i < count; ++i) out.records[i - skip] = out.records[i];
  out.first = first + skip;
  out.count = static_cast<uint32_t>(count - skip);
  out.next = next;
}

}  // namespace hyp::trace
