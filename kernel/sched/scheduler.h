// The scheduler's data: one run queue per physical CPU, holding the guest
// vCPUs placed on it that are ready to run, and the rules by which a vCPU
// moves between the states of its lifecycle (kernel/partition/partition.h):
//
//   kOff ──wake──▶ kRunnable ──pick──▶ kRunning ──block──▶ kBlocked
//                      ▲                 │  │                 │
//                      └──── preempt ────┘  └─ power_off      │
//                      └────────────────── wake ◀─────────────┘
//   (any) ──stop──▶ kStopped ──reload──▶ kOff
//
// Placement is fixed: every guest vCPU has a home CPU, chosen at boot, and
// runs only there, so that its state is guarded by one lock (its home run
// queue's) and a wake-up goes to one known CPU. A waker that is not the home
// CPU interrupts it (arch::wake_cpu); the home CPU then looks at its queue.
//
// Policy (docs/scheduler.md): round robin among the runnable vCPUs of a CPU,
// a time slice of kSliceMs when more than one is ready, no tick otherwise;
// vCPUs that wait (for a server's answer, in WFI) block and take no CPU
// time. Device servers are not in these queues: they run where they are
// needed (kernel/run.cc).
//
// Lock order: a server's Channel::lock may be held when a run-queue lock is
// taken, never the reverse; no code holds two run-queue locks at once.
//
// Host-testable against the arch fake.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/spinlock.h"
#include "base/thread_safety.h"
#include "kernel/partition/partition.h"

namespace hyp::sched {

inline constexpr size_t kMaxCpus = 8;
inline constexpr uint64_t kSliceMs = 10;

struct RunQueue {
  SpinLock lock;
  Vcpu* head HYP_GUARDED_BY(lock) = nullptr;
  Vcpu* tail HYP_GUARDED_BY(lock) = nullptr;
  // When the vCPU running here must give way to the next (0: no slice, as
  // nothing else is ready). Read by the CPU itself only.
  uint64_t slice_end = 0;
  Vcpu* homed = nullptr;  // every vCPU placed here (fixed once running)
  uint64_t mpidr = 0;     // where wake_cpu() sends the wake-up
  // vCPUs queued here so far: the CPU compares it with what it saw last
  // to know whether anything was queued meanwhile, without the lock.
  std::atomic<uint64_t> enqueued{0};
};

// Sets up `cpus` queues; `mpidr[i]` addresses CPU i's wake-ups, and only
// CPUs with `online[i]` are given vCPUs.
void init(size_t cpus, const uint64_t* mpidr, const bool* online, uint64_t ticks_per_ms);
size_t cpu_count();
RunQueue& queue(size_t cpu);

// Places `v` on CPU `cpu` for good. Before the vCPU first runs.
void place(Vcpu& v, size_t cpu);
// The CPU for the next vCPU placed: the one with the fewest so far.
size_t least_loaded_cpu();

// Makes `v` runnable from kOff or kBlocked and queues it at its home, and
// interrupts the home CPU (also when it is `self`, the caller's CPU: the
// interrupt is taken once that CPU runs a vCPU again, which then gets a
// slice's end). False (and nothing done) from any other state: a wake-up
// of a running or runnable vCPU is moot.
bool wake(Vcpu& v, size_t self);

// Wakes `v` if it is blocked waiting for an answer from server `server`
// (v.waits_on): for the CPU that took the answer. False otherwise.
bool wake_blocked(Vcpu& v, const Server* server, size_t self);

// Wakes `v` if it is blocked waiting for `what` (an FF-A direct response,
// a message): for whoever delivered it. False otherwise.
bool wake_waiting(Vcpu& v, VcpuWait what, size_t self);

// An interrupt became pending for `v` (the caller set `v.kicked` first):
// woken if it is blocked in WFI; its home CPU interrupted if it runs there
// and that is not `self` (a vCPU running on `self` is the one whose exit
// the caller handles, which looks before it resumes).
void kick(Vcpu& v, size_t self);
// Whether what `v` waits for has come (`now`: the counter).
bool wait_over(const Vcpu& v, uint64_t now);

// The running vCPU `v` blocks, unless what it waits for has come already
// (checked under the lock a waker takes, so no wake-up is lost). True if
// it blocked.
bool block(Vcpu& v, uint64_t now);

// The running vCPU `v` goes back to the end of its queue (preempted).
void requeue(Vcpu& v);

// The running vCPU `v` leaves its CPU for good: kOff (PSCI CPU_OFF) or
// kStopped.
void retire(Vcpu& v, VcpuState to);

// Takes the next runnable vCPU of CPU `cpu`, now kRunning; null if none.
// Sets the slice: an end at `now` + kSliceMs if others are still queued.
Vcpu* pick(size_t cpu, uint64_t now);

// Whether CPU `cpu` has vCPUs queued.
bool has_queued(size_t cpu);

// Whether `v` is the vCPU running on CPU `cpu`, the caller's (its state
// loaded there, or a server standing in for it).
bool running_here(const Vcpu& v, size_t cpu);

// Takes `v` off any CPU it is not running on: queued or blocked vCPUs are
// kStopped at once. False if `v` is running (on its home CPU, which must
// then be asked to let go of it: see kernel/run.cc).
bool stop_if_not_running(Vcpu& v);

// Wakes the blocked vCPUs homed on `cpu` whose wake_at has passed; returns
// the earliest wake_at still ahead (0 if none).
uint64_t wake_due(size_t cpu, uint64_t now);

// The earliest of the slice end and the wake-ups ahead for `cpu` (0: none),
// after waking those due. `busy`: something runs there. A slice is kept
// only while others wait for the CPU (vCPUs queued here, or a device server
// with work that no CPU runs: `server_waits`): if some started waiting
// meanwhile, their wait for a turn starts one now; if none are left, it
// ends.
uint64_t next_deadline(size_t cpu, uint64_t now, bool busy, bool server_waits);

}  // namespace hyp::sched
