// What HYP_CONTROL_READ (ipc/hypercall.h) writes into a control partition's
// buffer: the system's partitions with their lifecycle, and each vCPU's
// exits by reason (docs/control.md). Plain little-endian structures of
// fixed layout; the kernel fills a copy and writes it out whole.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hyp::ipc {

enum class ControlRead : uint64_t {
  kSystem = 0,  // x2 ignored: a ControlSystem
  kExits = 1,   // x2 = partition id << 8 | vCPU: a ControlExits
  kTrace = 2,   // x2 = CPU << 48 | first record wanted: a ControlTrace
};

inline constexpr uint32_t kControlVersion = 1;
inline constexpr size_t kControlMaxPartitions = 8;
inline constexpr size_t kControlMaxVcpus = 8;
inline constexpr size_t kControlNameLength = 32;   // with the NUL
inline constexpr size_t kControlReasonLength = 48;  // with the NUL

// Where a partition is in its life, as a control partition sees it.
enum class Life : uint8_t {
  kRunning = 0,     // guests: powered on; servers: serving
  kOff = 1,         // a guest that powered off (or never turned on)
  kNotStarted = 2,  // a server the manifest has stopped at boot, never started since
  kStopped = 3,     // a server stopped by a control call
  kFailed = 4,      // a server given up on after repeated failures
  kStarting = 5,    // a server started or restarted that has not run yet
  kStopping = 6,    // a server whose stop is under way (quiesce queued)
  kRestarting = 7,  // a server whose planned restart is under way
};

// A vCPU's state, numbered as the kernel's (kernel/partition/partition.h).
enum class VcpuRunState : uint8_t { kOff = 0, kRunnable = 1, kRunning = 2, kBlocked = 3, kStopped = 4 };

struct ControlVcpu {
  uint8_t state = 0;  // VcpuRunState
  uint8_t cpu = 0;    // the physical CPU it is on, or last was on
  uint8_t reserved[6] = {};
  uint64_t exits = 0;  // every exit to EL2, all reasons together
};

struct ControlPartition {
  char name[kControlNameLength] = {};
  uint16_t id = 0;
  uint8_t server = 0;        // 1: a device server
  uint8_t life = 0;          // Life
  uint8_t vcpu_count = 0;
  uint8_t controllable = 0;  // 1: the reader's rights cover it (restart, stop, start)
  uint8_t console_owner = 0;
  uint8_t reserved = 0;
  uint32_t restarts = 0;  // rebuilds since boot: planned, after failures, starts
  uint32_t failures = 0;  // failures since boot
  uint64_t served = 0;    // requests it has finished since boot (servers)
  uint64_t last_failure_us = 0;  // system counter time of the last failure, in us (0: none)
  char last_failure[kControlReasonLength] = {};
  ControlVcpu vcpus[kControlMaxVcpus] = {};
};

struct ControlSystem {
  uint32_t version = 0;  // kControlVersion
  uint32_t count = 0;    // partitions[0..count)
  uint32_t cpus = 0;
  uint32_t reserved = 0;
  uint64_t now_us = 0;   // system counter time
  ControlPartition partitions[kControlMaxPartitions] = {};
};

// One vCPU's exits since boot, by reason: a synchronous exception by its
// class (ESR_EL2.EC, 0..63), then IRQ (64), FIQ (65) and SError (66).
inline constexpr size_t kExitReasonCount = 67;
inline constexpr size_t kExitReasonIrq = 64;
inline constexpr size_t kExitReasonFiq = 65;
inline constexpr size_t kExitReasonSError = 66;

struct ControlExits {
  uint32_t reasons = 0;  // kExitReasonCount
  uint32_t reserved = 0;
  uint64_t counts[kExitReasonCount] = {};
};

// The trace (docs/control.md, "Traces"): each CPU records what it does
// into a ring of its own while recording is on (HYP_TRACE_SET).
enum class TraceEvent : uint8_t {
  kExit = 1,     // vCPU left for EL2; arg = exit reason (as ControlExits)
  kInject = 2,   // the vCPU's list registers were filled; arg = INTID, or 0 for a refill
  kSwitch = 3,   // the CPU switched to this partition's vCPU; arg = the partition it left (0: none)
  kRequest = 4,  // a request queued on this server's channel; arg = sequence number (low 32 bits)
  kAnswer = 5,   // answers taken from this server; arg = how many
};

struct TraceRecord {
  uint64_t ticks = 0;    // system counter
  uint8_t event = 0;     // TraceEvent
  uint8_t cpu = 0;
  uint8_t partition = 0;  // partition ID
  uint8_t vcpu = 0;
  uint32_t arg = 0;
};

inline constexpr size_t kTraceRecordsPerCpu = 1024;
inline constexpr size_t kTraceChunk = 128;

struct ControlTrace {
  uint32_t cpu = 0;
  uint32_t count = 0;      // records[0..count)
  uint64_t first = 0;      // the index of records[0] (records older than the ring are gone)
  uint64_t next = 0;       // the index the CPU writes next
  uint64_t frequency = 0;  // of the system counter, Hz
  uint32_t on = 0;         // recording is on
  uint32_t reserved = 0;
  TraceRecord records[kTraceChunk] = {};
};

static_assert(sizeof(TraceRecord) == 16);
static_assert(sizeof(ControlVcpu) == 16);
static_assert(sizeof(ControlPartition) == 240);
static_assert(sizeof(ControlSystem) == 24 + 8 * 240);
static_assert(sizeof(ControlExits) == 8 + 67 * 8);

}  // namespace hyp::ipc
