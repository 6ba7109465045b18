#include "kernel/sched/scheduler.h"

#include "kernel/arch/cpu.h"

namespace hyp::sched {
namespace {

constinit std::array<RunQueue, kMaxCpus> g_queues{};
constinit size_t g_cpu_count = 1;
constinit uint64_t g_slice_ticks = 0;
constinit std::array<size_t, kMaxCpus> g_placed{};

void enqueue(RunQueue& q, Vcpu& v) HYP_REQUIRES(q.lock) {
  v.next_queued = nullptr;
  if (q.tail == nullptr) {
    q.head = &v;
  } else {
    q.tail->next_queued = &v;
  }
  q.tail = &v;
  q.enqueued.fetch_add(1, std::memory_order_release);
}

void unlink(RunQueue& q, Vcpu& v) HYP_REQUIRES(q.lock) {
  Vcpu* prev = nullptr;
  for (Vcpu* it = q.head; it != nullptr; prev = it, it = it->next_queued) {
    if (it != &v) continue;
    if (prev == nullptr) {
      q.head = it->next_queued;
    } else {
      prev->next_queued = it->next_queued;
    }
    if (q.tail == it) q.tail = prev;
    it->next_queued = nullptr;
    return;
  }
}

// The transition the lifecycle allows; anything else is a kernel bug, and a
// silent one would corrupt a queue.
void move(Vcpu& v, VcpuState to) {
  if (v.transition(to) != Status::kOk) arch::halt();
}

}  // namespace

// Placed vCPUs per CPU; a CPU that is not online counts as full.
constexpr size_t kOffline = ~size_t{0};

void init(size_t cpus, const uint64_t* mpidr, const bool* online, uint64_t ticks_per_ms) {
  g_cpu_count = cpus < 1 ? 1 : cpus > kMaxCpus ? kMaxCpus : cpus;
  g_slice_ticks = ticks_per_ms * kSliceMs;
  for (size_t i = 0; i < kMaxCpus; ++i) {
    RunQueue& q = g_queues[i];
    SpinLockGuard guard(q.lock);
    q.head = q.tail = nullptr;
    q.slice_end = 0;
    q.homed = nullptr;
    q.mpidr = i < g_cpu_count ? mpidr[i] : 0;
    g_placed[i] = i < g_cpu_count && online[i] ? 0 : kOffline;
  }
}

size_t cpu_count() { return g_cpu_count; }

RunQueue& queue(size_t cpu) { return g_queues[cpu]; }

void place(Vcpu& v, size_t cpu) {
  RunQueue& q = g_queues[cpu];
  SpinLockGuard guard(q.lock);
  v.home = static_cast<uint16_t>(cpu);
  v.cpu = static_cast<uint16_t>(cpu);
  v.next_homed = q.homed;
  q.homed = &v;
  ++g_placed[cpu];
}

size_t least_loaded_cpu() {
  size_t best = 0;
  for (size_t i = 1; i < g_cpu_count; ++i) {
    if (g_placed[i] < g_placed[best]) best = i;
  }
  return best;
}

namespace {

// Wakes `v` if it is in one of the states `from` allows and `also` holds.
template <typename Also>
bool wake_if(Vcpu& v, size_t self, bool from_off, Also also) {
  RunQueue& q = g_queues[v.home];
  {
    SpinLockGuard guard(q.lock);
    const bool asleep = v.state == VcpuState::kBlocked || (from_off && v.state == VcpuState::kOff);
    if (!asleep || !also()) return false;
    move(v, VcpuState::kRunnable);
    enqueue(q, v);
  }
  // The home CPU looks at its queue when it sleeps, when its slice ends and
  // when it is interrupted. It is interrupted even when it is `self`: the
  // vCPU it runs must be given a slice's end now that another waits, and
  // the interrupt, taken as soon as it runs a vCPU again, does that.
  (void)self;
  arch::wake_cpu(q.mpidr);
  return true;
}

}  // namespace

bool wake(Vcpu& v, size_t self) {
  return wake_if(v, self, true, [] { return true; });
}

bool wake_blocked(Vcpu& v, const Server* server, size_t self) {
  // `waiting` and `waits_on` were written by the vCPU before it blocked,
  // and blocking took this lock: they are read here after it.
  return wake_if(v, self, false, [&] {
    return (v.waiting == VcpuWait::kRead || v.waiting == VcpuWait::kRestart || v.waiting == VcpuWait::kDirect) &&
           v.waits_on == server;
  });
}

bool wake_waiting(Vcpu& v, VcpuWait what, size_t self) {
  return wake_if(v, self, false, [&] { return v.waiting == what; });
}

void kick(Vcpu& v, size_t self) {
  RunQueue& q = g_queues[v.home];
  bool interrupt = false;
  {
    SpinLockGuard guard(q.lock);
    if (v.state == VcpuState::kBlocked && (v.waiting == VcpuWait::kInterrupt || v.waiting == VcpuWait::kMessage)) {
      move(v, VcpuState::kRunnable);
      enqueue(q, v);
      interrupt = true;  // as wake_if(): even `self`, for the slice
    } else {
      interrupt = v.state == VcpuState::kRunning && v.home != self;
    }
  }
  if (interrupt) arch::wake_cpu(q.mpidr);
}

bool running_here(const Vcpu& v, size_t cpu) {
  if (v.home != cpu) return false;
  RunQueue& q = g_queues[v.home];
  SpinLockGuard guard(q.lock);
  return v.state == VcpuState::kRunning;
}

bool wait_over(const Vcpu& v, uint64_t now) {
  if (v.partition->stopping.load(std::memory_order_acquire)) return true;
  switch (v.waiting) {
    case VcpuWait::kNothing:
      return true;
    case VcpuWait::kRead:
    case VcpuWait::kRestart:
      return v.pending.done.load(std::memory_order_acquire);
    case VcpuWait::kInterrupt:
      return v.kicked.load(std::memory_order_acquire) || (v.wake_at != 0 && now >= v.wake_at);
    case VcpuWait::kDirect:
      return v.direct.ready.load(std::memory_order_acquire);
    case VcpuWait::kMessage:
      return v.kicked.load(std::memory_order_acquire) ||
             v.direct.state.load(std::memory_order_acquire) == MsgState::kServing;
  }
  return true;
}

bool block(Vcpu& v, uint64_t now) {
  RunQueue& q = g_queues[v.home];
  SpinLockGuard guard(q.lock);
  // A waker sets what it completes before it takes this lock: either it is
  // seen here, or the waker sees kBlocked below.
  if (wait_over(v, now)) return false;
  move(v, VcpuState::kBlocked);
  return true;
}

void requeue(Vcpu& v) {
  RunQueue& q = g_queues[v.home];
  SpinLockGuard guard(q.lock);
  move(v, VcpuState::kRunnable);
  enqueue(q, v);
}

void retire(Vcpu& v, VcpuState to) {
  RunQueue& q = g_queues[v.home];
  SpinLockGuard guard(q.lock);
  move(v, to);
}

Vcpu* pick(size_t cpu, uint64_t now) {
  RunQueue& q = g_queues[cpu];
  SpinLockGuard guard(q.lock);
  Vcpu* v = q.head;
  if (v == nullptr) {
    q.slice_end = 0;
    return nullptr;
  }
  q.head = v->next_queued;
  if (q.head == nullptr) q.tail = nullptr;
  v->next_queued = nullptr;
  move(*v, VcpuState::kRunning);
  v->cpu = static_cast<uint16_t>(cpu);
  q.slice_end = q.head != nullptr ? now + g_slice_ticks : 0;
  return v;
}

bool has_queued(size_t cpu) {
  RunQueue& q = g_queues[cpu];
  SpinLockGuard guard(q.lock);
  return q.head != nullptr;
}

bool stop_if_not_running(Vcpu& v) {
  RunQueue& q = g_queues[v.home];
  SpinLockGuard guard(q.lock);
  switch (v.state) {
    case VcpuState::kRunning:
      return false;
    case VcpuState::kRunnable:
      unlink(q, v);
      move(v, VcpuState::kStopped);
      return true;
    case VcpuState::kBlocked:
    case VcpuState::kOff:
      move(v, VcpuState::kStopped);
      return true;
    case VcpuState::kStopped:
      return true;
  }
  return true;
}

uint64_t wake_due(size_t cpu, uint64_t now) {
  RunQueue& q = g_queues[cpu];
  SpinLockGuard guard(q.lock);
  uint64_t earliest = 0;
  for (Vcpu* v = q.homed; v != nullptr; v = v->next_homed) {
    if (v->state != VcpuState::kBlocked || v->waiting != VcpuWait::kInterrupt || v->wake_at == 0) continue;
    if (now >= v->wake_at) {
      move(*v, VcpuState::kRunnable);
      enqueue(q, *v);
    } else if (earliest == 0 || v->wake_at < earliest) {
      earliest = v->wake_at;
    }
  }
  return earliest;
}

uint64_t next_deadline(size_t cpu, uint64_t now, bool busy, bool server_waits) {
  const uint64_t wake = wake_due(cpu, now);
  RunQueue& q = g_queues[cpu];
  // A slice runs while someone waits for the CPU, and only then: once the
  // others have gone (blocked, stopped) its end would be a tick for nothing.
  if (!busy || (!server_waits && !has_queued(cpu))) {
    q.slice_end = 0;
  } else if (q.slice_end == 0) {
    q.slice_end = now + g_slice_ticks;
  }
  const uint64_t slice = q.slice_end;
  if (wake == 0) return slice;
  if (slice == 0) return wake;
  return wake < slice ? wake : slice;
}

}  // namespace hyp::sched
