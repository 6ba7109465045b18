// The kernel's trace (docs/control.md, "Traces"): while recording is on,
// each CPU writes what it does (exits, injections, switches, server
// requests and answers) into a ring of its own, which control partitions
// read with HYP_CONTROL_READ. Off, each recording point costs one load of a
// flag and a branch not taken.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "ipc/control.h"

namespace hyp::trace {

inline constexpr size_t kMaxCpus = 8;

struct CpuRing {
  // The index of the next record; a record is written before the index
  // moves past it (release), so a reader who loads it (acquire) finds
  // every record before it whole, unless the ring has come round since.
  std::atomic<uint64_t> next{0};
  // Where the current trace starts (recording started then): written by
  // the CPU that starts it, never `next`, which only the ring's CPU writes.
  std::atomic<uint64_t> start{0};
  ipc::TraceRecord records[ipc::kTraceRecordsPerCpu];
};

extern constinit std::atomic<bool> g_on;

inline bool on() { return g_on.load(std::memory_order_relaxed); }

// Records an event on CPU `cpu` (the caller's own), now.
void record(size_t cpu, ipc::TraceEvent event, uint16_t partition, uint16_t vcpu, uint32_t arg);

// Starts recording with every ring emptied, or stops it.
void set(bool on);

// Copies CPU `cpu`'s records from index `first` on (or the oldest still
// there) into `out`, at most ipc::kTraceChunk.
void read(size_t cpu, uint64_t first, ipc::ControlTrace& out);

}  // namespace hyp::trace
