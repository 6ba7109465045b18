#include "kernel/run.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ipc/channel.h"
#include "kernel/arch/cpu.h"
#include "kernel/arch/vcpu.h"
#include "kernel/console.h"
#include "kernel/partition/loader.h"
#include "kernel/psci/firmware.h"
#include "kernel/trap/dispatch.h"
#include "kernel/trap/inject.h"

extern "C" {
[[noreturn]] void vcpu_enter(hyp::VcpuContext* ctx, uint64_t stack_top);
hyp::VcpuContext* vcpu_exit(hyp::VcpuContext* ctx, uint64_t kind);
}

namespace hyp {
namespace {

// The exception entry hands over the context; the vCPU is the object around it.
static_assert(offsetof(Vcpu, ctx) == 0);

using arch::Scope;

// A device server as the scheduler sees it. Its single vCPU runs on
// whichever CPU needs it (a guest waiting on it, or work queued for it) and
// on one CPU at a time: `running_on` is the claim.
struct Server {
  Partition* partition = nullptr;
  const PackagedPartition* image = nullptr;
  Channel channel;
  std::atomic<int32_t> running_on{-1};
  std::atomic<bool> up{false};      // has answered once: its channel is served
  std::atomic<bool> failed{false};  // given up on: its devices abort
  bool console_owner = false;
  uint32_t restarts = 0;
  uint32_t crashes_without_progress = 0;
  uint64_t done_at_last_crash = 0;
  // A planned restart, all under channel.lock: the vCPU that asked and the
  // quiesce it waits on (set in the critical section that queues the
  // quiesce, so a server answering on another CPU always finds them); once
  // the server is rebuilt, the caller waits in `restarted_caller` until the
  // new instance has run once (it then owns its devices and has printed
  // what was queued), and only then is answered.
  Vcpu* restart_caller = nullptr;
  PendingAccess quiesce;
  Vcpu* restarted_caller = nullptr;
  // The watchdog: counter ticks the server has been on a CPU since it last
  // waited (its current run), and when its current stretch on a CPU began.
  uint64_t run_ticks = 0;
  uint64_t entered_at = 0;
  // Channel::progress_mark() at the server's last wait: a wait with work
  // left and no change since is not the end of a run.
  uint64_t progress_at_wait = 0;

  Vcpu& vcpu() { return partition->vcpus[0]; }
};

// What one physical CPU is doing.
struct Cpu {
  Vcpu* resume_after = nullptr;  // whom to go back to when the server running here waits
  Server* waits_on = nullptr;    // the server the guest here waits on, if it does
  TrapAction deferred = TrapAction::kResume;  // what resume_after still has to do
};

constinit Partition* g_partitions = nullptr;
constinit size_t g_partition_count = 0;
constinit const Package* g_package = nullptr;
constinit std::atomic<size_t> g_running{0};
constinit std::array<std::atomic<Vcpu*>, kMaxCpus> g_assigned{};
constinit std::array<Cpu, kMaxCpus> g_cpus{};
constinit std::array<Server, kMaxPartitions> g_servers{};
constinit size_t g_server_count = 0;
// Set once every server has its channel: idle CPUs may start servers then.
constinit std::atomic<bool> g_servers_ready{false};
constinit Server* g_console = nullptr;  // the server that owns the physical console
constinit std::atomic<bool> g_log_kick{false};

Server* server_of(const Partition* p) {
  for (size_t i = 0; i < g_server_count; ++i) {
    if (g_servers[i].partition == p) return &g_servers[i];
  }
  return nullptr;
}

const PackagedPartition* image_of(const Partition& p) {
  for (size_t i = 0; i < g_partition_count; ++i) {
    if (&g_partitions[i] == &p) return &g_package->partitions[i];
  }
  return nullptr;
}

// ---- The console: log lines to the server that owns it -------------------

void log_to_server(const char* text, size_t len) {
  Server& s = *g_console;
  uint32_t dropped = 0;
  {
    SpinLockGuard guard(s.channel.lock);
    dropped = s.channel.take_dropped_log_lines();
    size_t start = 0;
    for (size_t i = 0; i <= len; ++i) {
      if (i == len || text[i] == '\n') {
        if (i > start || (i < len && text[i] == '\n')) (void)s.channel.push_log(text + start, i - start);
        start = i + 1;
      }
    }
  }
  g_log_kick.store(true, std::memory_order_release);
  arch::send_event();  // idle CPUs sleep in WFE; one of them may run the server
  if (dropped != 0) console::print("hyp: %u log lines dropped (the console server fell behind)\n", dropped);
}

// The kernel takes the physical console back (power-off, or the server is
// gone, given up on by CPU `self`, which holds its claim): prints what is
// still queued, then writes directly.
void take_console_back(int32_t self = -1) {
  Server* s = g_console;
  if (s == nullptr) return;
  console::set_sink(nullptr);
  // Let a server in the middle of its work on another CPU finish (bounded:
  // it may be stuck).
  for (int i = 0; i < (1 << 20); ++i) {
    const int32_t on = s->running_on.load(std::memory_order_acquire);
    if (on < 0 || on == self) break;
    arch::cpu_relax();
  }
  ipc::LogLine line{};
  for (;;) {
    {
      SpinLockGuard guard(s->channel.lock);
      if (!s->channel.pop_log_for_kernel(line)) break;
    }
    console::write(line.text, line.length);
    console::write("\n", 1);
  }
}

[[noreturn]] void power_off_machine() {
  take_console_back();
  console::print("hyp: all partitions stopped: powering off\n");
  const psci::Ret ret = psci::system_off();
  console::print("hyp: SYSTEM_OFF failed: %s\n", psci::ret_name(ret));
  arch::halt();
}

// ---- Switching between vCPUs on one CPU -----------------------------------

[[noreturn]] void run(Vcpu& v, size_t cpu) {
  if (v.transition(VcpuState::kRunning) != Status::kOk) {
    console::print("hyp: %s: vCPU %u cannot run from state %s\n", v.partition->name.data(), v.index,
                   vcpu_state_name(v.state));
    arch::halt();
  }
  v.cpu = static_cast<uint16_t>(cpu);
  arch::vcpu_load(v.ctx);
  vcpu_enter(&v.ctx, arch::kernel_stack_top(cpu));
}

// Answers a restart call (finish_wait reads it): wherever the caller waits,
// it is woken.
void answer_restart(Vcpu*& caller, bool failed) {
  if (caller == nullptr) return;
  caller->pending.failed = failed;
  caller->pending.done.store(true, std::memory_order_release);  // pairs with the waiter's acquire
  caller = nullptr;
  arch::send_event();
}

void release(Server& s) {
  s.running_on.store(-1, std::memory_order_release);
  arch::send_event();
}

// Takes server `s` for CPU `cpu` if nobody runs it and it has not been
// given up on. `failed` is checked again after the claim: a server given up
// on is released (leave_server) after `failed` is set, so a claim that
// succeeds after that release sees it (the claim's acquire pairs with the
// release), while a check made before the claim may be stale.
bool claim(Server& s, size_t cpu) {
  int32_t idle = -1;
  if (!s.running_on.compare_exchange_strong(idle, static_cast<int32_t>(cpu), std::memory_order_acquire)) {
    return false;
  }
  if (s.failed.load(std::memory_order_acquire)) {
    release(s);
    return false;
  }
  return true;
}

// ---- The watchdog over device servers -------------------------------------
//
// A server's run (from when it is put on a CPU with work until it calls
// HYP_SERVER_WAIT) may last kServerRunBudgetMs of the time it is actually on
// a CPU, summed over the stretches a run is split into; a server still
// running past that is treated as failed and restarted, with the same
// replay as after a crash (docs/servers.md). The time is the system
// counter's while the server's vCPU is loaded: a healthy run takes
// microseconds, and the budget is generous because under QEMU without
// -icount the host may deschedule a vCPU thread for tens of milliseconds.
constexpr uint64_t kServerRunBudgetMs = 500;

// In counter ticks; set by run_init().
constinit uint64_t g_run_budget = 0;

uint64_t run_budget() { return g_run_budget; }

// Server `s` goes on (or back on) this CPU: arms the timer for what is left
// of its run's budget.
void watch(Server& s) {
  const uint64_t budget = run_budget();
  s.entered_at = arch::watchdog_arm_in(s.run_ticks < budget ? budget - s.run_ticks : 0);
}

// Puts the claimed server on this CPU. `from` (a guest, or null) is left
// with its FP/SIMD registers in place and resumed when the server waits.
VcpuContext* enter_server(Server& s, size_t cpu, Vcpu* from) {
  if (from != nullptr) arch::vcpu_save(from->ctx, Scope::kServer);
  g_cpus[cpu].resume_after = from;
  Vcpu& sv = s.vcpu();
  sv.cpu = static_cast<uint16_t>(cpu);
  arch::vcpu_load(sv.ctx, Scope::kServer);
  watch(s);
  return &sv.ctx;
}

[[noreturn]] void enter_server_from_idle(Server& s, size_t cpu) {
  vcpu_enter(enter_server(s, cpu, nullptr), arch::kernel_stack_top(cpu));
}

[[noreturn]] void stop_partition(Partition& p, const char* why) {
  for (size_t i = 0; i < p.vcpu_count; ++i) {
    (void)p.vcpus[i].transition(VcpuState::kStopped);
  }
  (void)p.transition(PartitionState::kStopped);
  console::print("hyp: partition %s (id %u) %s\n", p.name.data(), p.id, why);
  if (g_running.fetch_sub(1, std::memory_order_acq_rel) == 1) power_off_machine();
  arch::halt();
}

VcpuContext* resume_guest(Vcpu& g);
VcpuContext* call_server(Vcpu& g, Server& s);

// A forwarded access nobody can answer (its server failed): a synchronous
// external abort, as for an access to nothing, with FAR as the access set it.
void abort_access(Vcpu& g) {
  const MmioAccess& a = g.forwarded;
  const bool el0 = (g.ctx.pstate & kPstateModeMask) == kPstateEl0t;
  inject(g, esr_external_data_abort(el0, a.write, a.il32), a.va_valid ? &a.va : nullptr);
}

// Applies what a guest waited for: the loaded value of a read (or an
// external abort if its server failed), the result of a restart call.
void finish_wait(Vcpu& g) {
  const bool failed = g.pending.failed;
  g_cpus[g.cpu].waits_on = nullptr;
  switch (g.waiting) {
    case Vcpu::Waiting::kRead:
      if (failed) {
        abort_access(g);
      } else {
        complete_mmio_read(g.ctx, g.forwarded, g.pending.value);
      }
      break;
    case Vcpu::Waiting::kRestart:
      g.ctx.x[0] = failed ? static_cast<uint64_t>(-static_cast<int64_t>(Status::kAborted)) : 0;
      break;
    case Vcpu::Waiting::kNothing:
      break;
  }
  g.waiting = Vcpu::Waiting::kNothing;
}

// Guest `g` (loaded on this CPU) needs server `s` to run: switch to it here,
// or, if it runs on another CPU, wait for it there to answer. A waiter is
// always completed eventually: by the server's answer, or with failure when
// the server is given up on (Channel::fail_all, which refuses later pushes),
// and whoever completes it sends the event this CPU sleeps on.
VcpuContext* call_server(Vcpu& g, Server& s) {
  for (;;) {
    if (g.waiting != Vcpu::Waiting::kNothing && g.pending.done.load(std::memory_order_acquire)) {
      return resume_guest(g);
    }
    if (!s.failed.load(std::memory_order_acquire) && claim(s, g.cpu)) return enter_server(s, g.cpu, &g);
    // Nothing to wait for (posted work, a full ring): the guest goes on; the
    // server's current CPU sees the work before it lets go of the server.
    if (g.waiting == Vcpu::Waiting::kNothing) return resume_guest(g);
    arch::wait_for_event();
  }
}

// Work that only needs doing when the server would run anyway: kernel log
// lines for the console owner.
Server* log_server_to_kick() {
  if (g_console == nullptr || !g_log_kick.load(std::memory_order_relaxed)) return nullptr;
  if (g_console->running_on.load(std::memory_order_relaxed) >= 0 || g_console->failed.load()) return nullptr;
  g_log_kick.store(false, std::memory_order_relaxed);
  return g_console;
}

// A server of `p`'s devices with requests still queued, if any.
Server* server_with_work_for(const Partition& p) {
  for (size_t i = 0; i < p.route_count; ++i) {
    Server* s = server_of(p.routes[i].server);
    if (s == nullptr || s->failed.load()) continue;
    SpinLockGuard guard(s->channel.lock);
    // A corrupt ring counts too: the server runs and is restarted for it.
    if (s->channel.work() != Channel::Work::kNone) return s;
  }
  return nullptr;
}

void reset_devices_of(Partition& p) {
  for (size_t i = 0; i < p.route_count; ++i) {
    Server* s = server_of(p.routes[i].server);
    if (s == nullptr) continue;
    ipc::Request r{};
    r.kind = ipc::RequestKind::kReset;
    r.flags = ipc::kRequestPosted;
    r.device = static_cast<uint8_t>(p.routes[i].device);
    SpinLockGuard guard(s->channel.lock);
    (void)s->channel.push(r, nullptr);  // best effort: a full ring keeps the old device state
  }
}

// `p`'s vCPUs start afresh: answers still due to their old reads must not
// complete their new ones.
void forget_waiters_of(Partition& p) {
  for (size_t i = 0; i < p.route_count; ++i) {
    Server* s = server_of(p.routes[i].server);
    if (s == nullptr) continue;
    SpinLockGuard guard(s->channel.lock);
    for (size_t v = 0; v < p.vcpu_count; ++v) s->channel.forget(&p.vcpus[v].pending);
  }
}

// Back to guest `g` on its CPU (its EL1 state loaded): completes what it
// waited for, carries out what it still had to do, or goes on waiting.
VcpuContext* resume_guest(Vcpu& g) {
  Cpu& c = g_cpus[g.cpu];
  if (g.waiting != Vcpu::Waiting::kNothing) {
    // Its server was claimed elsewhere meanwhile; wait for it there.
    if (!g.pending.done.load(std::memory_order_acquire)) return call_server(g, *c.waits_on);
    finish_wait(g);
  }
  if (c.deferred != TrapAction::kResume) {
    const TrapAction action = c.deferred;
    c.deferred = TrapAction::kResume;
    Partition& p = *g.partition;
    if (action == TrapAction::kPartitionOff) stop_partition(p, "powered off");
    const PackagedPartition* image = image_of(p);
    forget_waiters_of(p);
    if (image == nullptr || reload_partition(*image, p, RamOnReload::kKeep) != Status::kOk) stop_partition(p, "could not be reset");
    reset_devices_of(p);
    console::print("hyp: partition %s (id %u) reset\n", p.name.data(), p.id);
    Vcpu& boot = p.vcpus[0];
    boot.cpu = g.cpu;
    (void)boot.transition(VcpuState::kRunning);
    arch::vcpu_load(boot.ctx);
    return &boot.ctx;
  }
  if (Server* s = log_server_to_kick(); s != nullptr && claim(*s, g.cpu)) return enter_server(*s, g.cpu, &g);
  return &g.ctx;
}

// ---- Server lifecycle -----------------------------------------------------

void write_info(Server& s) {
  ipc::ServerInfo& info = *s.channel.pages().info;
  info = ipc::ServerInfo{};
  info.magic = ipc::kInfoMagic;
  info.console_owner = s.console_owner ? 1 : 0;
  info.device_memory_base = s.image->device_base.value();
  info.device_memory_size = s.image->device_size;
  std::memcpy(info.bootargs, s.image->bootargs.data(), sizeof(info.bootargs) - 1);
  for (size_t i = 0; i < g_partition_count; ++i) {
    const Partition& p = g_partitions[i];
    for (size_t j = 0; j < p.route_count; ++j) {
      const Route& r = p.routes[j];
      if (r.server != s.partition || r.device >= ipc::kMaxServerDevices) continue;
      info.device_base[r.device] = r.ipa.value();
      std::memcpy(info.client[r.device], p.name.data(), sizeof(info.client[r.device]) - 1);
      if (r.device + 1 > info.device_count) info.device_count = r.device + 1;
    }
  }
}

// Rebuilds server `s` (stopped, claimed by CPU `cpu`, which runs this) from
// its image and starts it here, with its channel queued again from where
// the old instance stopped.
VcpuContext* restart_server(Server& s, size_t cpu, const char* why) {
  Partition& p = *s.partition;
  uint32_t replayed = 0;
  {
    SpinLockGuard guard(s.channel.lock);
    replayed = s.channel.reset_for_restart();
    // A quiesce replayed to the new instance is answered to nobody. A
    // planned restart still due is this one, whatever caused it.
    s.channel.forget(&s.quiesce);
    s.progress_at_wait = s.channel.progress_mark();
    if (s.restart_caller != nullptr) {
      s.restarted_caller = s.restart_caller;
      s.restart_caller = nullptr;
    }
  }
  if (reload_partition(*s.image, p, RamOnReload::kClear) != Status::kOk) {
    console::print("hyp: server %s (id %u) could not be rebuilt\n", p.name.data(), p.id);
    arch::halt();
  }
  write_info(s);
  ++s.restarts;
  console::print("hyp: server %s (id %u) restarted (%s, restart %u): %u requests replayed\n", p.name.data(), p.id, why,
                 s.restarts, replayed);
  Vcpu& sv = s.vcpu();
  (void)sv.transition(VcpuState::kRunning);
  sv.cpu = static_cast<uint16_t>(cpu);
  arch::vcpu_load(sv.ctx, Scope::kServer);
  s.run_ticks = 0;
  watch(s);
  return &sv.ctx;
}

// After the server lets go of this CPU: back to whoever it interrupted.
VcpuContext* leave_server(Server& s, size_t cpu) {
  // The watchdog's timer is left armed: it is re-armed whenever a server
  // goes on this CPU, and if it fires first (500 ms on), whatever runs or
  // sleeps here acknowledges it, which disarms it, and goes on.
  arch::vcpu_save(s.vcpu().ctx, Scope::kServer);
  release(s);
  Cpu& c = g_cpus[cpu];
  Vcpu* g = c.resume_after;
  c.resume_after = nullptr;
  if (g == nullptr) wait_for_work(cpu);
  arch::vcpu_load(g->ctx, Scope::kServer);
  return resume_guest(*g);
}

// The server stopped, faulted into its own fatal path, or broke its rings.
[[gnu::noinline]] VcpuContext* server_failed(Server& s, size_t cpu, const char* why) {
  Partition& p = *s.partition;
  console::print("hyp: server %s (id %u) failed: %s\n", p.name.data(), p.id, why);
  uint64_t done = 0;
  {
    SpinLockGuard guard(s.channel.lock);
    (void)s.channel.take_responses();
    done = s.channel.done_high();
  }
  // Progress is a new high of what the server says it finished: a value
  // that only moves back and forth across replays is none.
  s.crashes_without_progress = done > s.done_at_last_crash ? 0 : s.crashes_without_progress + 1;
  if (done > s.done_at_last_crash) s.done_at_last_crash = done;
  constexpr uint32_t kGiveUpAfter = 3;
  if (s.crashes_without_progress < kGiveUpAfter) return restart_server(s, cpu, "after a failure");
  // It fails before finishing anything: stop it; its guests' accesses abort.
  console::print("hyp: server %s (id %u) failed %u times without progress: stopped; its devices now abort\n",
                 p.name.data(), p.id, kGiveUpAfter);
  s.failed.store(true, std::memory_order_release);
  if (&s == g_console) take_console_back(static_cast<int32_t>(cpu));
  {
    SpinLockGuard guard(s.channel.lock);
    s.channel.fail_all();
    answer_restart(s.restart_caller, true);
    answer_restart(s.restarted_caller, true);
  }
  for (size_t i = 0; i < p.vcpu_count; ++i) (void)p.vcpus[i].transition(VcpuState::kStopped);
  (void)p.transition(PartitionState::kStopped);
  return leave_server(s, cpu);
}

[[gnu::noinline]] VcpuContext* server_exit(Vcpu& sv, TrapAction action) {
  Server& s = *server_of(sv.partition);
  const size_t cpu = sv.cpu;
  switch (action) {
    case TrapAction::kResume:
      return &sv.ctx;
    case TrapAction::kServerWait:
      break;
    case TrapAction::kPartitionOff:
    case TrapAction::kPartitionReset:
      return server_failed(s, cpu, "it stopped itself (PSCI SYSTEM_OFF/RESET)");
    default:
      return server_failed(s, cpu, "unexpected request");
  }
  bool work = false;
  bool planned = false;
  bool progress = false;
  const char* corrupt = nullptr;
  {
    SpinLockGuard guard(s.channel.lock);
    if (!s.channel.take_responses().ok()) {
      corrupt = "its response ring is corrupt";
    } else {
      const Channel::Work w = s.channel.work();
      if (w == Channel::Work::kCorrupt) corrupt = "its request or log ring is corrupt";
      work = w == Channel::Work::kPending;
      planned = s.restart_caller != nullptr && s.quiesce.done.load(std::memory_order_acquire);
      // The new instance has run and its channel is sound: the restart it
      // came from is complete.
      if (corrupt == nullptr) answer_restart(s.restarted_caller, false);
      const uint64_t mark = s.channel.progress_mark();
      progress = mark != s.progress_at_wait;
      s.progress_at_wait = mark;
      // HYP_SERVER_WAIT says "every request taken so far is answered"; it
      // may be said owing an answer only while the response ring was full,
      // which this wait's taking of answers counts as progress.
      if (corrupt == nullptr && !progress && s.channel.owes_answer()) corrupt = "it waits owing an answer";
    }
  }
  if (corrupt != nullptr) return server_failed(s, cpu, corrupt);
  if (planned) return restart_server(s, cpu, "planned");
  // A run ends when the server waits having taken something; a server that
  // waits again and again with its work untouched is still in the same run,
  // and the watchdog's budget keeps counting.
  if (progress || !work) {
    s.run_ticks = 0;
  } else {
    s.run_ticks += arch::counter_ticks() - s.entered_at;
    if (s.run_ticks >= run_budget()) return server_failed(s, cpu, "it waits without taking its work");
  }
  if (!s.up.load(std::memory_order_relaxed) && !s.up.exchange(true) && s.console_owner) {
    console::print("hyp: server %s (id %u) owns the console now\n", s.partition->name.data(), s.partition->id);
    console::set_sink(log_to_server);
    work = true;
  }
  if (work) {
    watch(s);
    return &sv.ctx;
  }
  return leave_server(s, cpu);
}

// A guest access inside a server's range: queue it; reads wait for the answer.
[[gnu::noinline]] VcpuContext* forward(Vcpu& g) {
  const MmioAccess& a = g.forwarded;
  const Route* route = g.partition->route_for(a.ipa, a.bytes);
  Server* s = route != nullptr ? server_of(route->server) : nullptr;
  // Reads and writes to a server given up on abort (docs/servers.md).
  if (s == nullptr || s->failed.load(std::memory_order_acquire)) {
    abort_access(g);
    return resume_guest(g);
  }
  ipc::Request r{};
  r.kind = a.write ? ipc::RequestKind::kWrite : ipc::RequestKind::kRead;
  r.offset = a.ipa - route->ipa;
  r.width = a.bytes;
  r.device = static_cast<uint8_t>(route->device);
  r.vcpu = g.index;
  if (a.write) {
    r.data = mmio_write_value(g.ctx, a);
    r.flags = ipc::kRequestPosted;
  }
  Status st;
  bool busy = false;
  {
    SpinLockGuard guard(s->channel.lock);
    st = s->channel.push(r, a.write ? nullptr : &g.pending);
    busy = st == Status::kOk && s->channel.outstanding() >= Channel::kEntries / 2;
  }
  if (st == Status::kBusy) return call_server(g, *s);  // the access is retried when the guest resumes
  if (st == Status::kNotFound) {
    // Given up on between the check above and the push.
    abort_access(g);
    return resume_guest(g);
  }
  if (st != Status::kOk) {
    // The server broke its request ring; it is restarted when it next runs.
    if (claim(*s, g.cpu)) {
      arch::vcpu_save(g.ctx, Scope::kServer);
      g_cpus[g.cpu].resume_after = &g;
      return server_failed(*s, g.cpu, "its request ring is corrupt");
    }
    return &g.ctx;
  }
  if (a.write) {
    complete_mmio_write(g.ctx, a);
    return busy ? call_server(g, *s) : resume_guest(g);
  }
  g.waiting = Vcpu::Waiting::kRead;
  g_cpus[g.cpu].waits_on = s;
  return call_server(g, *s);
}

[[gnu::noinline]] VcpuContext* restart_call(Vcpu& g) {
  const uint64_t id = g.ctx.x[1];
  Server* s = nullptr;
  for (size_t i = 0; i < g_server_count; ++i) {
    if (g_servers[i].partition->id == id) s = &g_servers[i];
  }
  auto fail = [&](Status st) {
    g.ctx.x[0] = static_cast<uint64_t>(-static_cast<int64_t>(st));
    return resume_guest(g);
  };
  if (s == nullptr) return fail(Status::kNotFound);
  if (s->failed.load()) return fail(Status::kBusy);
  // Said before the quiesce is queued: a server on another CPU may restart
  // the moment it is, and its lines must not come first.
  console::print("hyp: %s asks for a restart of server %s (id %u)\n", g.partition->name.data(),
                 s->partition->name.data(), s->partition->id);
  ipc::Request r{};
  r.kind = ipc::RequestKind::kQuiesce;
  Status st = Status::kBusy;
  const char* refused = "one is already under way";
  g.pending.failed = false;
  g.pending.done.store(false, std::memory_order_relaxed);
  {
    SpinLockGuard guard(s->channel.lock);
    if (s->restart_caller == nullptr && s->restarted_caller == nullptr) {
      st = s->channel.push(r, &s->quiesce);
      refused = st == Status::kBusy       ? "its request ring is full"
                : st == Status::kNotFound ? "it was given up on"
                                          : "its request ring is corrupt";
    }
    if (st == Status::kOk) {
      // Before the lock is let go: the server may answer on another CPU
      // the moment it is.
      s->restart_caller = &g;
    }
  }
  if (st != Status::kOk) {
    console::print("hyp: restart of server %s (id %u) refused: %s\n", s->partition->name.data(),
                   s->partition->id, refused);
    return fail(Status::kBusy);
  }
  g.waiting = Vcpu::Waiting::kRestart;
  g_cpus[g.cpu].waits_on = s;
  return call_server(g, *s);
}

[[gnu::noinline]] VcpuContext* guest_exit(Vcpu& g, TrapAction action) {
  switch (action) {
    case TrapAction::kResume:
      return resume_guest(g);
    case TrapAction::kForward:
      return forward(g);
    case TrapAction::kServerRestart:
      return restart_call(g);
    case TrapAction::kPartitionOff:
    case TrapAction::kPartitionReset: {
      // Posted writes still queued (a last line of output) go first.
      g_cpus[g.cpu].deferred = action;
      Server* s = server_with_work_for(*g.partition);
      return s != nullptr ? call_server(g, *s) : resume_guest(g);
    }
    case TrapAction::kServerWait:
      break;
  }
  return &g.ctx;
}

// An IRQ, FIQ or SError taken while vCPU `v` ran (`kind` as exceptions.S
// numbers them). Null: the vCPU goes on as after a trap answered in place;
// otherwise what runs instead (a failed server's successor).
[[gnu::noinline]] VcpuContext* asynchronous_exit(Vcpu& v, uint64_t kind) {
  constexpr uint64_t kIrq = 1;
  constexpr uint64_t kSError = 3;
  Partition& p = *v.partition;
  if (kind == kIrq) {
    // The kernel's own interrupts (HCR_EL2.IMO routes physical IRQs here
    // while a partition runs): acknowledged; what an SGI announced is found
    // where it is looked for. The watchdog's timer fires only while a
    // server runs: a run past its budget is a failure.
    if (!arch::acknowledge_interrupts() || p.kind != PartitionKind::kServer) return nullptr;
    Server& s = *server_of(&p);
    const uint64_t now = arch::counter_ticks();
    s.run_ticks += now - s.entered_at;
    if (s.run_ticks < run_budget()) {
      watch(s);  // early (the counter is coarse): the rest of the budget
      return nullptr;
    }
    return server_failed(s, v.cpu, "it ran past its budget without waiting (a stuck loop?)");
  }
  if (kind != kSError) return nullptr;
  console::print("hyp: %s: vCPU %u: SError at pc 0x%lx (ESR 0x%lx)\n", p.name.data(), v.index, v.ctx.pc,
                 arch::read_trap_syndrome().esr);
  if (p.kind == PartitionKind::kServer) return server_failed(*server_of(&p), v.cpu, "SError");
  stop_partition(p, "stopped after an SError");
}

}  // namespace

Status run_init(Partition* partitions, size_t count, const Package* package, LoaderEnv& env, Partition*& failed) {
  g_partitions = partitions;
  g_partition_count = count;
  g_run_budget = arch::counter_frequency() / 1000 * kServerRunBudgetMs;
  g_package = package;
  size_t guests = 0;
  for (size_t i = 0; i < count; ++i) {
    if (partitions[i].kind == PartitionKind::kGuest) {
      ++guests;
      continue;
    }
    Server& s = g_servers[g_server_count++];
    s.partition = &partitions[i];
    s.image = &package->partitions[i];
    if (Status st = attach_channel(*s.partition, env, s.channel); st != Status::kOk) {
      failed = s.partition;
      return st;
    }
    // The first server with device memory has the UART (main.cc grants
    // nothing else): it owns the console.
    s.console_owner = s.image->device_size != 0 && g_console == nullptr;
    if (s.console_owner) g_console = &s;
  }
  for (size_t i = 0; i < g_server_count; ++i) write_info(g_servers[i]);
  g_running.store(guests, std::memory_order_release);
  g_servers_ready.store(true, std::memory_order_release);  // pairs with wait_for_work()
  return Status::kOk;
}

void assign_vcpu(size_t cpu, Vcpu& vcpu) {
  // Pairs with the acquire load in wait_for_work().
  g_assigned[cpu].store(&vcpu, std::memory_order_release);
  arch::send_event();
}

[[noreturn]] void wait_for_work(size_t cpu) {
  for (;;) {
    // Servers that never ran start first, so that they own their devices
    // (and the console) before guests need them.
    const size_t servers = g_servers_ready.load(std::memory_order_acquire) ? g_server_count : 0;
    for (size_t i = 0; i < servers; ++i) {
      Server& s = g_servers[i];
      if (!s.up.load(std::memory_order_acquire) && !s.failed.load() && claim(s, cpu)) {
        if (s.up.load(std::memory_order_acquire)) {
          release(s);
          continue;
        }
        (void)s.vcpu().transition(VcpuState::kRunning);
        enter_server_from_idle(s, cpu);
      }
    }
    if (Server* s = servers != 0 ? log_server_to_kick() : nullptr; s != nullptr && claim(*s, cpu)) {
      enter_server_from_idle(*s, cpu);
    }
    if (Vcpu* v = g_assigned[cpu].exchange(nullptr, std::memory_order_acquire); v != nullptr) run(*v, cpu);
    arch::wait_for_event();
  }
}

}  // namespace hyp

// Called by the exception entry with the vCPU's registers saved in `ctx`.
// Returns the context to resume.
extern "C" hyp::VcpuContext* vcpu_exit(hyp::VcpuContext* ctx, uint64_t kind) {
  using namespace hyp;
  Vcpu& v = *reinterpret_cast<Vcpu*>(ctx);
  constexpr uint64_t kSync = 0;
  TrapAction action = TrapAction::kResume;
  if (kind == kSync) [[likely]] {
    const arch::TrapSyndrome s = arch::read_trap_syndrome();
    action = handle_trap(v, {s.esr, s.far, s.hpfar});
  } else if (VcpuContext* next = asynchronous_exit(v, kind); next != nullptr) {
    return next;
  }
  if (v.partition->kind == PartitionKind::kServer) return server_exit(v, action);
  // The common case, kept short: a guest resumes with nothing pending.
  if (action == TrapAction::kResume && v.waiting == Vcpu::Waiting::kNothing &&
      !g_log_kick.load(std::memory_order_relaxed)) {
    return ctx;
  }
  return guest_exit(v, action);
}
