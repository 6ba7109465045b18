// Partitions (guest VMs and device servers) and their vCPUs: the kernel's
// core objects, with their lifecycles as explicit state machines.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/addr.h"
#include "base/spinlock.h"
#include "base/status.h"
#include "bootpkg/format.h"
#include "kernel/ffa/endpoint.h"
#include "kernel/mm/page_table.h"
#include "kernel/server/channel.h"
#include "kernel/trap/mmio_access.h"
#include "kernel/vcpu/context.h"
#include "kernel/vgic/vgic.h"

namespace hyp {

inline constexpr size_t kMaxVcpus = package::kMaxVcpus;
inline constexpr size_t kMaxPartitions = package::kMaxPartitions;
inline constexpr size_t kMaxNameLength = package::kMaxNameLength;
inline constexpr size_t kMaxMemoryRegions = 4;

// FF-A partition IDs: 0 is the hypervisor itself (FF-A 1.1, 2.9); partitions
// are numbered from 1 in manifest order.
inline constexpr uint16_t kHypervisorPartitionId = 0;

enum class VcpuState : uint8_t {
  kOff,       // never started, or turned off (PSCI CPU_OFF)
  kRunnable,  // may be scheduled
  kRunning,   // on a physical CPU now
  kBlocked,   // waiting for an event (a device response, an interrupt)
  kStopped,   // its partition stopped; terminal until the partition restarts
};

// Whether the lifecycle allows `from` -> `to`.
bool vcpu_transition_allowed(VcpuState from, VcpuState to);
const char* vcpu_state_name(VcpuState s);

enum class PartitionKind : uint8_t { kGuest, kServer };

enum class PartitionState : uint8_t {
  kEmpty,    // slot unused
  kLoading,  // memory and tables being set up
  kRunning,  // vCPUs may run
  kStopped,  // all vCPUs stopped (PSCI SYSTEM_OFF, or a fatal error)
};

bool partition_transition_allowed(PartitionState from, PartitionState to);
const char* partition_state_name(PartitionState s);

class Partition;
struct Server;

// What AFFINITY_INFO reports of a vCPU (PSCI 1.1, 5.1.5), changed only by
// compare-and-swap: of several CPU_ON calls racing for one vCPU exactly one
// moves it from kOff to kOnPending.
enum class VcpuPower : uint8_t {
  kOff,        // never started, or CPU_OFF done
  kOnPending,  // CPU_ON accepted; the vCPU has not run yet
  kOn,         // has run since it was turned on
};

// Why a vCPU left for EL2, as counted in Vcpu::exits: a synchronous
// exception by its class (ESR_EL2.EC, 0-63), or an asynchronous one.
inline constexpr size_t kExitIrq = 64;
inline constexpr size_t kExitFiq = 65;
inline constexpr size_t kExitSError = 66;
inline constexpr size_t kExitReasons = 67;

// A counter with a single writer (the CPU the vCPU is on) read by others:
// a plain load and store, no read-modify-write, and no torn values.
struct ExitCounter {
  std::atomic<uint64_t> n{0};
  void bump() { n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  uint64_t value() const { return n.load(std::memory_order_relaxed); }
};

// What a blocked (or about to block) vCPU waits for. It belongs to the vCPU:
// the physical CPU it was on is free to run something else meanwhile.
enum class VcpuWait : uint8_t {
  kNothing,
  kRead,       // a forwarded read, or a write to its interrupt controller: `pending`
               // is answered by server `waits_on`
  kRestart,    // a server restart it asked for: `pending` is answered once done
  kInterrupt,  // WFI or PSCI CPU_SUSPEND: until `wake_at`, or woken
  kDirect,     // an FF-A direct request it sent: until `direct.ready` (the
               // response is in its registers); `waits_on` the receiving
               // server, if the receiver is one
  kMessage,    // FFA_MSG_WAIT (a guest): until a direct request is delivered
               // (`direct.state` kServing) or an interrupt is (`kicked`)
};

// A vCPU as the receiver of FF-A direct requests.
enum class MsgState : uint8_t {
  kNone,     // not waiting for messages: a request to it is refused (BUSY)
  kWaiting,  // in FFA_MSG_WAIT (or after a response): may be given one
  kClaimed,  // a sender is writing a request into its registers
  kServing,  // handling the request of `direct.from`
};

struct Vcpu;

// FF-A direct messaging state of one vCPU (kernel/ffa/calls.h).
struct DirectMessaging {
  // As a receiver.
  std::atomic<MsgState> state{MsgState::kNone};
  Vcpu* from = nullptr;    // kServing: the requester, its partition's ID,
  uint64_t from_seq = 0;   // and its request's number and convention
  uint16_t from_id = 0;
  bool from_wide = false;
  // As a requester: the request's number, under `lock`, which a response
  // or an abort writes the vCPU's registers under (only for the request
  // with this number: one whose sender was reset since is dropped).
  SpinLock lock;
  // Written by the vCPU itself when it sends (nothing answers it then) and
  // by a reset (when it does not run), under `lock`; read under `lock`.
  std::atomic<uint64_t> seq{0};
  std::atomic<bool> ready{false};  // the response (or error) is in its registers
  Vcpu* target = nullptr;          // the receiver the dispatcher chose, for the run loop
  // The partition its last request went to, looked at first for the next
  // (partitions keep their slot and ID from boot on). Its own to write.
  Partition* last_receiver = nullptr;
};

struct Vcpu {
  VcpuContext ctx{};
  Partition* partition = nullptr;
  uint16_t index = 0;
  // Scheduling state, written under the run-queue lock of CPU `home`
  // (kernel/sched/scheduler.h), which is where the vCPU always runs.
  VcpuState state = VcpuState::kOff;
  uint16_t home = 0;
  Vcpu* next_queued = nullptr;  // the home run queue's link
  Vcpu* next_homed = nullptr;   // every vCPU placed on `home`, fixed at boot
  std::atomic<VcpuPower> power{VcpuPower::kOff};
  // Set by whoever wakes a vCPU out of kInterrupt (a CPU_ON to it does not:
  // PSCI never wakes a standby), read and cleared by the vCPU.
  std::atomic<bool> kicked{false};
  // Fault reports logged for this vCPU; past a limit they are counted only,
  // so a guest stuck faulting cannot flood the console.
  uint32_t faults_logged = 0;
  // The physical CPU the vCPU is on, or was last on.
  uint16_t cpu = 0;
  // A guest's access forwarded to a device server: the access (set by the
  // trap dispatcher) and, for reads, the answer it waits for.
  MmioAccess forwarded{};
  PendingAccess pending;
  VcpuWait waiting = VcpuWait::kNothing;
  Server* waits_on = nullptr;  // kRead, kRestart: the server that answers
  uint64_t wake_at = 0;        // kInterrupt: counter value to wake at, 0 if none
  // What the vCPU asked for that is carried out once the posted writes it
  // queued are taken (a last line of output goes first).
  enum class Deferred : uint8_t { kNothing, kPartitionOff, kPartitionReset } deferred = Deferred::kNothing;
  // The vCPU its last PSCI CPU_ON started (set by the dispatcher, woken by
  // the run loop).
  Vcpu* started = nullptr;
  // An interrupt became pending for it (or one in its list registers
  // changed): its list registers are filled again before it runs on.
  std::atomic<bool> irqs_changed{false};
  // The run loop raised its virtual timer's PPI (a mapped injection) and
  // has not seen the timer's output low since: the guest lowers it without
  // an exit (CNTV_CTL_EL0, CNTV_CVAL_EL0), so the timer is looked at again
  // whenever the list registers are, and when the vCPU leaves its CPU.
  bool vtimer_raised = false;
  // A GIC server's query waits, on another CPU, for what this vCPU's CPU
  // interface did to be taken into the vGIC: set by the asker, cleared
  // (with an event) by the run loop once it has synced this vCPU's list
  // registers.
  std::atomic<bool> sync_wanted{false};
  // vCPUs (bit n: vCPU n) of guest `sent_in` that an interrupt it sent (an
  // SGI, a server's signal) is pending for: set by the dispatcher, told by
  // the run loop.
  uint32_t sent_to = 0;
  Partition* sent_in = nullptr;
  // Its exits to EL2 by reason (kExitIrq ...), since boot: written by the
  // CPU it runs on, read by //tests/bench:linux_boot's report.
  std::array<ExitCounter, kExitReasons> exits{};
  // The trace is recording (kernel/trace.h): a copy of its flag here, where
  // the exit path has the vCPU at hand, so that off it costs the least.
  std::atomic<bool> tracing{false};
  // FF-A direct requests it sends and receives.
  DirectMessaging direct;

  // Moves to `to` if the lifecycle allows it; kDenied otherwise.
  Status transition(VcpuState to);
};

// How a partition's RAM is mapped in its Stage 2: normal memory, all
// access, owned exclusively.
inline constexpr arch::mm::Attrs kPartitionRam{.type = arch::mm::MemType::kNormal,
                                               .read = true,
                                               .write = true,
                                               .exec = true,
                                               .state = arch::mm::PageState::kOwned};

// A range of a partition's IPA space backed by physical memory.
struct MemoryRegion {
  Ipa ipa;
  Pa pa;
  uint64_t size = 0;
};

class Partition;

// A guest IPA range whose accesses go to a device server.
struct Route {
  Ipa ipa;
  uint64_t size = 0;
  Partition* server = nullptr;
  uint32_t device = 0;
  uint32_t irq = 0;      // the device's SPI (0: none), which its server may signal
  bool irqchip = false;  // the server is this guest's interrupt controller

  bool contains(Ipa a, uint64_t bytes) const {
    return a.value() >= ipa.value() && bytes <= size && a.value() - ipa.value() <= size - bytes;
  }
};

// A line of debug-console output being assembled for one partition.
struct ConsoleLine {
  SpinLock lock;
  std::array<char, 160> text HYP_GUARDED_BY(lock){};
  size_t length HYP_GUARDED_BY(lock) = 0;

  void reset() {
    SpinLockGuard guard(lock);
    length = 0;
  }
};

class Partition {
 public:
  uint16_t id = 0;
  uint16_t vmid = 0;
  std::array<char, kMaxNameLength + 1> name{};
  PartitionKind kind = PartitionKind::kGuest;
  PartitionState state = PartitionState::kEmpty;
  PageTable stage2;
  std::array<MemoryRegion, kMaxMemoryRegions> memory{};
  size_t memory_count = 0;
  std::array<Vcpu, kMaxVcpus> vcpus{};
  size_t vcpu_count = 0;
  ConsoleLine console;
  // Guests: the device ranges servers emulate.
  std::array<Route, package::kMaxRoutes> routes{};
  size_t route_count = 0;
  // The control right (docs/control.md), and the servers it covers (bit i:
  // the i-th partition of the package).
  bool control = false;
  uint32_t control_targets = 0;
  // Servers: the channel the kernel talks to it through, and for each of
  // its devices the guest and route it serves (set once routes are known).
  Channel* channel = nullptr;
  Server* server = nullptr;  // the run loop's record of it (kernel/run.cc)
  std::array<Partition*, package::kMaxServerDevices> clients{};
  std::array<const Route*, package::kMaxServerDevices> client_routes{};
  // Guests: their virtual interrupts (configured by the GIC server).
  vgic::Vgic vgic;
  // Set by the vCPU that stops or resets the partition (PSCI SYSTEM_OFF or
  // SYSTEM_RESET, a fatal error) until it is done: its other vCPUs leave
  // their CPUs, and a second such request from them gives way.
  std::atomic<bool> stopping{false};
  // As an FF-A endpoint (docs/ffa.md).
  FfaEndpoint ffa;

  Status transition(PartitionState to);

  // Its FF-A state back to what a new instance starts with: no version,
  // no buffers (the RX buffer's pages writable again), no notifications
  // bound or pending. What the manifest says stays.
  void reset_ffa();

  // The route that covers `bytes` at `ipa`, if any.
  const Route* route_for(Ipa ipa, uint64_t bytes) const {
    for (size_t i = 0; i < route_count; ++i) {
      if (routes[i].contains(ipa, bytes)) return &routes[i];
    }
    return nullptr;
  }

  // Where guest IPA `ipa` lives in physical memory, if the partition may
  // read it (and write it, if `write`) through its Stage-2 tables.
  Result<Pa> translate(Ipa ipa, bool write) const;
};

}  // namespace hyp
