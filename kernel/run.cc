#include "kernel/run.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/format.h"
#include "ipc/channel.h"
#include "ipc/control.h"
#include "ipc/hypercall.h"
#include "kernel/arch/cpu.h"
#include "kernel/arch/vcpu.h"
#include "kernel/ffa/calls.h"
#include "kernel/ffa/sharing.h"
#include "kernel/console.h"
#include "kernel/irq/gic.h"
#include "kernel/irq/sgi.h"
#include "kernel/partition/loader.h"
#include "kernel/psci/firmware.h"
#include "kernel/psci/vcpu_power.h"
#include "kernel/sched/scheduler.h"
#include "kernel/trace.h"
#include "kernel/trap/dispatch.h"
#include "kernel/trap/esr.h"
#include "kernel/trap/inject.h"
#include "kernel/vgic/vgic.h"
#include "kernel/vtimer/ptimer.h"

namespace hyp {

using arch::Scope;

// A device server as the run loop sees it. Its single vCPU is not in any
// run queue: it runs on whichever CPU needs it (a guest waiting on it, or
// work queued for it) and on one CPU at a time; `running_on` is the claim.
struct Server {
  Partition* partition = nullptr;
  const PackagedPartition* image = nullptr;
  Channel channel;
  std::atomic<int32_t> running_on{-1};
  std::atomic<bool> up{false};      // has answered once: its channel is served
  std::atomic<bool> failed{false};  // given up on: its devices abort
  // A guest found the server claimed and is about to block on it: whoever
  // lets go of the server next looks for work (see call_server()).
  std::atomic<bool> wanted{false};
  // Its devices' interrupts (bit i: image->device_irqs[i]) that fired and
  // are still active: the server runs, and its next wait ends them.
  std::atomic<uint32_t> irq_pending{0};
  // An FF-A notification or indirect message came for it (it has no
  // virtual interrupts to be told with): it runs, and its FFA_MSG_WAIT
  // returns FFA_RUN. Cleared when it is put on a CPU.
  std::atomic<bool> ffa_pending{false};
  // Taken off a CPU in the middle of a run (at a slice's end): it must go
  // on somewhere, whatever its rings say (the request it works on is
  // taken already).
  std::atomic<bool> preempted{false};
  // Not run by a control call's wish, or the manifest's (`failed` is set
  // too, so that nothing claims it): its devices read as zero and ignore
  // writes. `never_started`: stopped since boot.
  std::atomic<bool> stopped{false};
  bool never_started = false;
  bool console_owner = false;
  // The trace is recording: a copy of its flag where the switch and
  // request paths have the server at hand.
  std::atomic<bool> tracing{false};
  Pa dma_pool;  // its DMA pool's physical address, if its image asks for one
  uint32_t restarts = 0;
  // For control partitions' reads: failures since boot, the last one's
  // reason (a static string) and time (counter ticks).
  uint32_t failures = 0;
  const char* last_failure = nullptr;
  uint64_t last_failure_at = 0;
  // A planned restart or stop that nobody waits on (a server asked for it,
  // or the guest that asked has since been reset): done when the quiesce
  // is answered.
  enum class Planned : uint8_t { kNone, kRestart, kStop };
  Planned planned HYP_GUARDED_BY(channel.lock) = Planned::kNone;
  uint32_t crashes_without_progress = 0;
  uint64_t done_at_last_crash = 0;
  // A planned restart, all under channel.lock: the vCPU that asked and the
  // quiesce it waits on (set in the critical section that queues the
  // quiesce, so a server answering on another CPU always finds them); once
  // the server is rebuilt, the caller waits in `restarted_caller` until the
  // new instance has run once (it then owns its devices and has printed
  // what was queued), and only then is answered.
  Vcpu* restart_caller HYP_GUARDED_BY(channel.lock) = nullptr;
  PendingAccess quiesce;
  Vcpu* restarted_caller HYP_GUARDED_BY(channel.lock) = nullptr;
  // When the quiesce of the planned restart under way was queued (counter
  // ticks), for hyp.bench's report of how long the server was away.
  uint64_t restart_asked_at HYP_GUARDED_BY(channel.lock) = 0;
  // The watchdog, written by the CPU holding the claim: counter ticks the
  // server has been on a CPU in its current run, and when its current
  // stretch on a CPU began.
  uint64_t run_ticks = 0;
  uint64_t entered_at = 0;
  // Channel::progress_mark() at the server's last wait: a wait with work
  // left and no change since is not the end of a run.
  uint64_t progress_at_wait = 0;
  // The current run includes such waits: if its budget runs out, it is for
  // waiting without taking its work, not for a loop that never waits.
  bool idle_waits = false;

  Vcpu& vcpu() { return partition->vcpus[0]; }
};

// No planned restart or stop of `s` is under way, waited for or not.
bool lifecycle_idle(const Server& s) HYP_REQUIRES(s.channel.lock) {
  return s.restart_caller == nullptr && s.restarted_caller == nullptr && s.planned == Server::Planned::kNone;
}

namespace {

// What one physical CPU is running. Only the CPU itself reads or writes it.
struct Cpu {
  // The guest vCPU whose state is on this CPU (kRunning), also while a
  // server runs in its place to answer it.
  Vcpu* guest = nullptr;
  // The server running here, if one is.
  Server* server = nullptr;
  // The scheduler's next deadline for this CPU (slice end, a wake-up), as
  // last computed; the timer is armed at it or earlier.
  uint64_t deadline = 0;
  // The last thing here was a server taken off at its slice's end: guests
  // go first next time, so that a busy server cannot take the CPU back at once.
  bool guests_first = false;
  size_t last_server = 0;  // index of the server this CPU took up last
  // What interrupted() saw at its last full look: broadcasts made so far
  // (arch::events_sent_count) and vCPUs queued here so far.
  uint64_t seen_events = 0;
  uint64_t seen_enqueued = 0;
};

constinit Partition* g_partitions = nullptr;
constinit size_t g_partition_count = 0;
constinit const Package* g_package = nullptr;
constinit std::atomic<size_t> g_running{0};
constinit std::array<Cpu, sched::kMaxCpus> g_cpus{};
constinit std::array<Server, kMaxPartitions> g_servers{};
constinit size_t g_server_count = 0;
// Set once everything is built: CPUs may look for work then.
constinit std::atomic<bool> g_ready{false};
constinit Server* g_console = nullptr;  // the server that owns the physical console
constinit std::atomic<bool> g_log_kick{false};

Server* server_of(const Partition* p) { return p->server; }

// A trace record (docs/control.md, "Traces"), for callers that checked
// trace::on().
[[gnu::noinline, gnu::cold]] void traced(size_t cpu, ipc::TraceEvent e, const Vcpu& v, uint32_t arg) {
  trace::record(cpu, e, v.partition->id, v.index, arg);
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
  arch::send_event();  // an idle CPU may run the server
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

// Set when the last guest stopped: CPUs go on running the console server
// until it has printed everything, and then one of them powers off.
constinit std::atomic<bool> g_powering_off{false};
constinit std::atomic<bool> g_power_off_started{false};

constinit bool g_bench_report = false;
// hyp.trapwfi: every guest WFI traps (see choose_wfi_trap()).
constinit bool g_trap_every_wfi = false;

// Counter ticks each CPU has slept with nothing to run, for the benchmarks'
// busy time (hyp.bench): under QEMU's -icount, what is not idle is work.
constinit std::array<std::atomic<uint64_t>, sched::kMaxCpus> g_idle_ticks{};

// One partition's exits since boot, all its vCPUs together, by reason,
// largest first, on one line.
void print_exits(const Partition& p) {
  std::array<uint64_t, kExitReasons> sum{};
  uint64_t total = 0;
  for (uint32_t i = 0; i < p.vcpu_count; ++i) {
    for (size_t r = 0; r < kExitReasons; ++r) sum[r] += p.vcpus[i].exits[r].value();
  }
  for (uint64_t n : sum) total += n;
  char line[512];
  size_t len = format(line, sizeof(line), "hyp: partition %s: %lu exits:", p.name.data(), total);
  for (;;) {
    size_t top = 0;
    for (size_t r = 1; r < kExitReasons; ++r) top = sum[r] > sum[top] ? r : top;
    if (sum[top] == 0 || len >= sizeof(line)) break;
    const char* name = top == kExitIrq     ? "irq"
                       : top == kExitFiq    ? "fiq"
                       : top == kExitSError ? "serror"
                                            : ec_short_name(static_cast<Ec>(top));
    len += name != nullptr ? format(line + len, sizeof(line) - len, " %s %lu", name, sum[top])
                           : format(line + len, sizeof(line) - len, " ec%02lx %lu", top, sum[top]);
    sum[top] = 0;
  }
  console::print("%s\n", line);
}

// For //tests/bench:linux_boot (hyp.bench on the command line): each
// partition's exits, and where each guest's virtual counter starts
// (CNTVOFF_EL2, set when the guest is built), so that a time the guest
// reads can be told from QEMU's start.
void print_bench_report() {
  const uint64_t per_ms = arch::counter_frequency() / 1000;
  const uint64_t per_us = per_ms / 1000;
  const uint64_t now = arch::counter_ticks();
  for (size_t cpu = 0; cpu < sched::cpu_count() && per_us != 0; ++cpu) {
    console::print("hyp: cpu %zu: idle %lu us of %lu us\n", cpu,
                   g_idle_ticks[cpu].load(std::memory_order_relaxed) / per_us, now / per_us);
  }
  for (size_t i = 0; i < g_partition_count; ++i) {
    const Partition& p = g_partitions[i];
    if (p.vcpu_count == 0) continue;
    print_exits(p);
    if (p.kind != PartitionKind::kGuest || per_ms == 0) continue;
    console::print("hyp: partition %s: virtual counter offset %lu ms\n", p.name.data(),
                   p.vcpus[0].ctx.el2.cntvoff_el2 / per_ms);
  }
}

// The last guest has stopped.
void begin_power_off() {
  if (g_bench_report) print_bench_report();
  console::print("hyp: all partitions stopped: powering off\n");
  g_powering_off.store(true, std::memory_order_release);
  arch::send_event();
}

// Whether the console server has output left to print: queued lines, or a
// run in progress here or elsewhere.
bool console_busy();

[[noreturn]] void power_off_machine() {
  take_console_back();
  const psci::Ret ret = psci::system_off();
  console::print("hyp: SYSTEM_OFF failed: %s\n", psci::ret_name(ret));
  arch::halt();
}

// ---- Waking vCPUs whose answers came ---------------------------------------

// Wakes `v` if it is blocked waiting for an answer from `s` that has come.
void wake_if_answered(Vcpu& v, const Server& s, size_t self) {
  if (!v.pending.done.load(std::memory_order_acquire)) return;
  sched::wake_blocked(v, &s, self);
}

// Wakes every blocked vCPU whose answer from `s` has come (after answers
// were taken on a CPU other than the waiters', or completed by a failure).
void wake_answered(Server& s, size_t self) {
  for (size_t i = 0; i < g_partition_count; ++i) {
    Partition& p = g_partitions[i];
    if (p.kind != PartitionKind::kGuest) continue;
    for (size_t j = 0; j < p.vcpu_count; ++j) wake_if_answered(p.vcpus[j], s, self);
  }
}

// Answers a restart call: wherever the caller waits, it is woken.
void answer_restart(Server& s, Vcpu*& caller, bool failed, size_t self) HYP_REQUIRES(s.channel.lock) {
  if (caller == nullptr) return;
  Vcpu& v = *caller;
  caller = nullptr;
  v.pending.failed = failed;
  v.pending.done.store(true, std::memory_order_release);  // pairs with wait_over()'s acquire
  sched::wake_blocked(v, &s, self);
}

// Sequentially consistent, with the load of `wanted` after it and the
// claim after the store of `wanted` in call_server(): of a guest that finds
// the server claimed and the CPU that lets go of it, at least one sees the
// other.
void release(Server& s) { s.running_on.store(-1, std::memory_order_seq_cst); }

bool has_work(Server& s);

// Takes server `s` for CPU `cpu` if nobody runs it and it has not been
// given up on. `failed` is checked again after the claim: a server given up
// on is released after `failed` is set, so a claim that succeeds after that
// release sees it (the claim's acquire pairs with the release), while a
// check made before the claim may be stale.
bool claim(Server& s, size_t cpu) {
  int32_t idle = -1;
  if (!s.running_on.compare_exchange_strong(idle, static_cast<int32_t>(cpu), std::memory_order_seq_cst)) {
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

constexpr const char* kWaitsWithoutWork = "it waits without taking its work";

// In counter ticks; set by run_init().
constinit uint64_t g_run_budget = 0;

uint64_t run_budget() { return g_run_budget; }

uint64_t earliest(uint64_t a, uint64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return a < b ? a : b;
}

// Server `s` goes on (or back on) CPU `cpu`: the timer is armed for what is
// left of its run's budget, or the CPU's own next deadline if sooner.
void watch(Server& s, Cpu& c) {
  const uint64_t budget = run_budget();
  s.entered_at = arch::counter_ticks_fast();
  const uint64_t left = s.run_ticks < budget ? budget - s.run_ticks : 0;
  arch::timer_arm_at(earliest(s.entered_at + left, c.deadline));
}

bool server_waits();

void arm_for_guest(const Cpu& c, const Vcpu& g, uint64_t now);

// Recomputes CPU `cpu`'s deadline (waking vCPUs whose time has come) and
// arms its timer for it.
void rearm(size_t cpu, uint64_t now) {
  Cpu& c = g_cpus[cpu];
  c.deadline = sched::next_deadline(cpu, now, c.guest != nullptr || c.server != nullptr, server_waits());
  if (c.server != nullptr) {
    c.server->run_ticks += now - c.server->entered_at;
    watch(*c.server, c);
  } else if (c.guest != nullptr) {
    arm_for_guest(c, *c.guest, now);
  } else {
    arch::timer_arm_at(c.deadline);
  }
}

// ---- Putting vCPUs on this CPU and taking them off -------------------------

VcpuContext* continue_guest(Vcpu& g);
VcpuContext* call_server(Vcpu& g, Server& s);
VcpuContext* server_failed(Server& s, size_t cpu, const char* why);

// Whether list registers as last loaded (or saved) may hold interrupts.
bool lrs_in_use(const ListRegisters& lrs) {
  const uint32_t n = arch::list_registers();
  for (uint32_t i = 0; i < n; ++i) {
    if (lrs.lr[i] != 0) return true;
  }
  return false;
}

// Guest `g`, whose list registers are in its context: what its CPU
// interface did is taken into the vGIC, so that its interrupts read as
// they are while it does not run (a server answering for it, another vCPU
// reading them). It refills before it runs again.
// A query on another CPU waits for `g` to have synced: told, now that it has.
void synced(Vcpu& g) {
  if (!g.sync_wanted.load(std::memory_order_relaxed)) return;
  g.sync_wanted.store(false, std::memory_order_release);
  arch::send_event();
}

void sync_irqs(Vcpu& g) {
  if (lrs_in_use(g.ctx.lrs)) {
    g.partition->vgic.sync(g.index, g.ctx.lrs);
    g.irqs_changed.store(true, std::memory_order_relaxed);
  }
  synced(g);
}

// The virtual timer's output, as CNTV_CTL_EL0 `ctl` says: enabled, its
// condition met (ISTATUS), not masked.
constexpr bool timer_output(uint64_t ctl) { return (ctl & 0b111) == 0b101; }

// Guest `g`, whose list registers are in its context and whose virtual
// timer's control reads `ctl`: if the line the run loop raised for the
// timer is low now, the vGIC is told (an entry the guest has not taken is
// withdrawn) and a physical PPI left active for it is ended. Only on the
// CPU the guest is (or was just) loaded on.
void sample_timer(Vcpu& g, uint64_t ctl) {
  if (!g.vtimer_raised || timer_output(ctl)) return;
  g.vtimer_raised = false;
  if (g.partition->vgic.source_low(g.index, vgic::kVirtualTimerPpi, g.ctx.lrs)) {
    arch::deactivate_interrupt(gic::kVirtualTimerPpi);
  }
}

// Server `s` runs again. If it waited for messages (its last wait was
// FFA_MSG_WAIT or a direct response, and no request was delivered since),
// it waits no more, and runs for whatever was pending. Run for a request
// instead (kServing), it answers that first: a notification or message
// pending for it stays pending (has_work() says so), and it runs again for
// it after its response. Device servers that never wait that way pay a load.
void resume_from_ffa_wait(Server& s) {
  Vcpu& sv = s.vcpu();
  if (sv.direct.state.load(std::memory_order_relaxed) != MsgState::kWaiting) [[likely]] return;
  if (s.ffa_pending.load(std::memory_order_relaxed)) s.ffa_pending.store(false, std::memory_order_relaxed);
  ffa_server_resumed(sv);
}

// Puts the claimed server on CPU `cpu`, in place of the guest there (if
// any), whose FP/SIMD registers stay in place.

[[gnu::always_inline]] inline VcpuContext* enter_server(Server& s, size_t cpu) {
  Cpu& c = g_cpus[cpu];
  if (s.tracing.load(std::memory_order_relaxed)) [[unlikely]] {
    traced(cpu, ipc::TraceEvent::kSwitch, s.vcpu(), c.guest != nullptr ? c.guest->partition->id : 0);
  }
  s.preempted.store(false, std::memory_order_relaxed);
  c.server = &s;
  Vcpu& sv = s.vcpu();
  sv.cpu = static_cast<uint16_t>(cpu);
  resume_from_ffa_wait(s);
  if (c.guest != nullptr) {
    Vcpu& g = *c.guest;
    // What the server may ask of the guest's interrupts (its device's, or
    // a GIC register) sees its timer's line as it is now. Before the
    // switch: loading the list registers back writes the guest's
    // ICH_HCR_EL2, which the server's then replaces.
    if (g.vtimer_raised) [[unlikely]] {
      const uint64_t ctl = arch::read_virtual_timer().ctl;
      if (!timer_output(ctl)) {
        arch::save_list_registers(g.ctx);
        sample_timer(g, ctl);
        arch::load_list_registers(g.ctx);
      }
    }
    arch::vcpu_switch(g.ctx, sv.ctx);
  } else {
    arch::vcpu_load(sv.ctx, Scope::kServer);
  }
  watch(s, c);
  return &sv.ctx;
}

// ---- Virtual interrupts -----------------------------------------------------

// Guest `g`, loaded here: its list registers take what changed (what the
// guest acknowledged and deactivated, what became pending for it).
void refresh_irqs(Vcpu& g) {
  if (trace::on()) [[unlikely]] traced(g.cpu, ipc::TraceEvent::kInject, g, 0);
  // Cleared before looking: a change made after this sets it again.
  g.irqs_changed.store(false, std::memory_order_seq_cst);
  arch::save_list_registers(g.ctx);
  if (g.vtimer_raised) sample_timer(g, arch::read_virtual_timer().ctl);
  if (g.partition->vgic.refresh(g.index, g.ctx.lrs)) arch::deactivate_interrupt(gic::kVirtualTimerPpi);
  arch::load_list_registers(g.ctx);
  synced(g);
}

// Interrupts became pending for the vCPUs of guest `p` in `vcpus` (bit n:
// vCPU n): each fills its list registers again before it runs on. One in
// WFI is woken; one running on another CPU is interrupted, so that it does
// so now. `self`: this CPU.
void posted(Server& s, size_t cpu);

void deliver(Partition& p, uint32_t vcpus, size_t self) {
  if (p.kind == PartitionKind::kServer) {
    // What servers are sent is FF-A's news: they run for it.
    if (Server* s = server_of(&p); s != nullptr) {
      s->ffa_pending.store(true, std::memory_order_seq_cst);
      posted(*s, self);
    }
    return;
  }
  for (uint32_t i = 0; vcpus != 0 && i < p.vcpu_count; ++i, vcpus >>= 1) {
    if ((vcpus & 1) == 0) continue;
    Vcpu& v = p.vcpus[i];
    // Both before the run queue's lock, which the vCPU's blocking takes.
    v.irqs_changed.store(true, std::memory_order_release);
    v.kicked.store(true, std::memory_order_release);
    sched::kick(v, self);
  }
}

// Guest `g`'s EL1 physical timer at `now`: the level of its PPI 30 as the
// timer's condition says, given to the vGIC when it changed.
void physical_timer_level(Vcpu& g, uint64_t now) {
  const bool level = ptimer::level(g.ctx.ptimer, now);
  if (level == g.ctx.ptimer.line) return;
  g.ctx.ptimer.line = level;
  vgic::Kick kick;
  (void)g.partition->vgic.set_line(g.index, vgic::kPhysicalTimerPpi, level, kick);
  // Pending for `g` itself, which runs here: refilled before it resumes.
  if (kick.vcpus != 0) g.irqs_changed.store(true, std::memory_order_relaxed);
}

// The CPU's timer for guest `g` running on `c`: the CPU's own deadline or
// the guest's physical timer's, whichever is sooner.
void arm_for_guest(const Cpu& c, const Vcpu& g, uint64_t now) {
  arch::timer_arm_at(earliest(c.deadline, ptimer::deadline(g.ctx.ptimer, now)));
}

// What vCPU `v` (on its CPU) sent: an SGI, a server's signal.
void deliver_sent(Vcpu& v) {
  const uint32_t to = v.sent_to;
  Partition* p = v.sent_in;
  v.sent_to = 0;
  v.sent_in = nullptr;
  if (p != nullptr) deliver(*p, to, v.cpu);
}

// Guest `g`, loaded here, leaves its CPU (for a while or for good): its
// state is saved, its timer quietened; a timer interrupt the kernel left
// active for it (mapped with HW = 1) is ended, since the next vCPU here has
// a timer of its own.
void put_away(Vcpu& g) {
  arch::vcpu_save(g.ctx);
  sync_irqs(g);
  sample_timer(g, g.ctx.el1.cntv_ctl_el0);
  if (g.partition->vgic.unmap_hw(g.index, g.ctx.lrs)) arch::deactivate_interrupt(gic::kVirtualTimerPpi);
}

// HCR_EL2.TWI. A guest vCPU alone on its CPU, whose virtual timer can
// interrupt it, waits in WFI on the CPU itself: what ends the wait (its
// timer, an interrupt sent to it, which interrupts its CPU) comes to it
// straight, without the scheduler putting it away and back. Its WFI traps
// while other vCPUs are queued there, which could use the CPU meanwhile,
// and while its timer's interrupt is disabled (its WFI then waits for a
// deadline only the kernel's own timer keeps).
constexpr uint64_t kHcrTwi = uint64_t{1} << 13;

void choose_wfi_trap(Vcpu& g, size_t cpu, bool loaded) {
  const Result<vgic::Config> timer = g.partition->vgic.config(g.index, vgic::kVirtualTimerPpi);
  // hyp.trapwfi (benchmarks): every WFI traps, so that the CPU's idle time
  // is the kernel's to count (a WFI the guest waits in itself is idle time
  // it cannot see).
  const bool alone = !sched::has_queued(cpu) && timer.ok() && timer->enabled && !g_trap_every_wfi;
  const uint64_t hcr = alone ? g.ctx.el2.hcr_el2 & ~kHcrTwi : g.ctx.el2.hcr_el2 | kHcrTwi;
  if (hcr == g.ctx.el2.hcr_el2) return;
  g.ctx.el2.hcr_el2 = hcr;
  if (loaded) arch::write_hcr(hcr);
}

// The guest vCPU `g`, picked for CPU `cpu`, goes on it.
VcpuContext* enter_guest(Vcpu& g, size_t cpu) {
  Cpu& c = g_cpus[cpu];
  if (trace::on()) [[unlikely]] traced(cpu, ipc::TraceEvent::kSwitch, g, 0);
  c.guest = &g;
  c.guests_first = false;
  vpsci::mark_running(g);
  choose_wfi_trap(g, cpu, false);
  arch::vcpu_load(g.ctx);
  rearm(cpu, arch::counter_ticks());
  return continue_guest(g);
}

// Guest `g` leaves its CPU: its state is saved; the CPU runs what is next.
VcpuContext* leave_guest(Vcpu& g) {
  const size_t cpu = g.cpu;
  put_away(g);
  g_cpus[cpu].guest = nullptr;
  return schedule(cpu);
}

// Guest `g` on this CPU waits (g.waiting says for what): it blocks and the
// CPU runs something else, unless what it waits for has come already.
VcpuContext* park_guest(Vcpu& g) {
  // Once kBlocked, only this CPU (its home) can run it again, and not before
  // this one is done saving it.
  if (!sched::block(g, arch::counter_ticks())) return continue_guest(g);
  return leave_guest(g);
}

// The partition of the guest on this CPU is being stopped by another of its
// vCPUs: this one leaves for good, and tells the stopper.
VcpuContext* leave_stopped(Vcpu& g) {
  const size_t cpu = g.cpu;
  put_away(g);
  g_cpus[cpu].guest = nullptr;
  sched::retire(g, VcpuState::kStopped);
  arch::send_event();
  return schedule(cpu);
}

// After the server lets go of CPU `cpu`: back to the guest it stood in for,
// or to whatever is next. `work_left`: the server has more work, which it
// leaves because that guest's wait is over.
[[gnu::always_inline]] inline VcpuContext* leave_server(Server& s, size_t cpu, bool work_left = false) {
  Cpu& c = g_cpus[cpu];
  Vcpu& sv = s.vcpu();
  Vcpu* g = c.guest;
  // Saved before release(): another CPU may claim the server and load it.
  if (g != nullptr) {
    if (s.tracing.load(std::memory_order_relaxed)) [[unlikely]] {
      traced(cpu, ipc::TraceEvent::kSwitch, *g, s.partition->id);
    }
    arch::vcpu_switch(sv.ctx, g->ctx);
  } else {
    arch::vcpu_save(sv.ctx, Scope::kServer);
  }
  release(s);
  // A guest that found the server claimed a moment ago (and blocked), or
  // queued a posted write: its request may have come after the server's
  // last look.
  if (s.wanted.load(std::memory_order_seq_cst)) [[unlikely]] {
    s.wanted.store(false, std::memory_order_relaxed);
    work_left = work_left || has_work(s);
  }
  if (work_left) [[unlikely]] {
    // Done here, unless the guest this server stands in for still waits
    // (it would only block): then it goes on here.
    const bool guest_ready = g != nullptr && sched::wait_over(*g, arch::counter_ticks_fast());
    if (!guest_ready && claim(s, cpu)) {
      // Claimed again, but it may have run on another CPU since release():
      // that CPU saved it and wrote its own index into it.
      s.preempted.store(false, std::memory_order_relaxed);
      sv.cpu = static_cast<uint16_t>(cpu);
      resume_from_ffa_wait(s);
      if (g != nullptr) {
        arch::vcpu_switch(g->ctx, sv.ctx);
      } else {
        arch::vcpu_load(sv.ctx, Scope::kServer);
      }
      watch(s, c);
      return &sv.ctx;
    }
    // Otherwise another CPU takes it up: an idle one now, or one whose
    // slice ends (this one keeps a slice while the server waits). A guest
    // whose answer has come is not kept waiting for the others' work.
    arch::send_event();
  }
  c.server = nullptr;
  if (g == nullptr) return schedule(cpu);
  if (work_left) rearm(cpu, arch::counter_ticks());
  return continue_guest(*g);
}

// ---- What guests wait for --------------------------------------------------

// A forwarded access nobody can answer (its server failed): a synchronous
// external abort, as for an access to nothing, with FAR as the access set it.
void abort_access(Vcpu& g) {
  const MmioAccess& a = g.forwarded;
  const bool el0 = (g.ctx.pstate & kPstateModeMask) == kPstateEl0t;
  inject(g, esr_external_data_abort(el0, a.write, a.il32), a.va_valid ? &a.va : nullptr);
}

// Applies what a guest waited for: the loaded value of a read (or an
// external abort if its server failed), the result of a restart call, the
// end of a WFI.
void finish_wait(Vcpu& g) {
  const bool failed = g.pending.failed;
  switch (g.waiting) {
    case VcpuWait::kRead:
      if (failed) {
        abort_access(g);
      } else if (g.forwarded.write) {
        complete_mmio_write(g.ctx, g.forwarded);
      } else {
        complete_mmio_read(g.ctx, g.forwarded, g.pending.value);
      }
      break;
    case VcpuWait::kRestart:
      g.ctx.x[0] = failed ? static_cast<uint64_t>(-static_cast<int64_t>(Status::kAborted)) : 0;
      break;
    case VcpuWait::kInterrupt:
      g.kicked.store(false, std::memory_order_relaxed);
      g.wake_at = 0;
      break;
    case VcpuWait::kDirect:
      // The response (or FFA_ERROR) is in its registers already.
      break;
    case VcpuWait::kMessage:
      g.kicked.store(false, std::memory_order_relaxed);
      (void)ffa_end_message_wait(g);
      break;
    case VcpuWait::kNothing:
      break;
  }
  g.waiting = VcpuWait::kNothing;
  g.waits_on = nullptr;
}

// Work that only needs doing when the server would run anyway: kernel log
// lines for the console owner.
Server* log_server_to_kick() {
  if (g_console == nullptr || !g_log_kick.load(std::memory_order_relaxed)) return nullptr;
  if (g_console->running_on.load(std::memory_order_relaxed) >= 0 || g_console->failed.load()) return nullptr;
  g_log_kick.store(false, std::memory_order_relaxed);
  return g_console;
}

bool has_work(Server& s) {
  SpinLockGuard guard(s.channel.lock);
  // A corrupt ring counts too: the server runs and is restarted for it. So
  // does an answer it owes (its response ring was full at its last wait).
  return s.channel.work() != Channel::Work::kNone || s.channel.owes_answer() ||
         s.ffa_pending.load(std::memory_order_acquire);
}

// Whether server `s`, which no CPU runs, needs one: it has never run, it
// was taken off in the middle of a run, or it has work queued.
bool needs_cpu(Server& s) {
  return !s.up.load(std::memory_order_acquire) || s.preempted.load(std::memory_order_acquire) ||
         s.irq_pending.load(std::memory_order_acquire) != 0 || has_work(s);
}

// The physical GIC's distributor, for ending devices' interrupts (none in
// host tests).
constinit Pa g_gic_dist{};
// The kernel's console UART: the server given it owns the console.
constinit Pa g_console_uart{};

// Devices' interrupts taken on any CPU go to the servers that own them:
// each such server needs a CPU, and idle ones are told.
void take_device_interrupts() {
  uint32_t intid = 0;
  while (arch::take_device_interrupt(intid)) {
    Server* owner = nullptr;
    uint32_t bit = 0;
    for (size_t i = 0; i < g_server_count && owner == nullptr; ++i) {
      const PackagedPartition& image = *g_servers[i].image;
      for (size_t j = 0; j < image.device_irq_count && owner == nullptr; ++j) {
        if (image.device_irqs[j] != intid) continue;
        owner = &g_servers[i];
        bit = 1u << j;
      }
    }
    if (owner == nullptr || owner->failed.load(std::memory_order_acquire)) {
      if (g_gic_dist.value() != 0) gic::deactivate_spi(g_gic_dist, intid);
      continue;
    }
    owner->irq_pending.fetch_or(bit, std::memory_order_seq_cst);
    arch::send_event();
  }
}

// Whether a server needs a CPU and no CPU runs it: CPUs that are busy then
// keep time slices, so that one of them takes it up.
bool server_waits() {
  for (size_t i = 0; i < g_server_count; ++i) {
    Server& s = g_servers[i];
    if (s.failed.load(std::memory_order_relaxed) || s.running_on.load(std::memory_order_acquire) >= 0) continue;
    if (needs_cpu(s)) return true;
  }
  return false;
}

// A server of `p`'s devices with requests still queued, if any.
Server* server_with_work_for(const Partition& p) {
  for (size_t i = 0; i < p.route_count; ++i) {
    Server* s = server_of(p.routes[i].server);
    if (s != nullptr && !s->failed.load() && has_work(*s)) return s;
  }
  return nullptr;
}

void reset_devices_of(Partition& p, size_t self) {
  for (size_t i = 0; i < p.route_count; ++i) {
    Server* s = server_of(p.routes[i].server);
    if (s == nullptr) continue;
    ipc::Request r{};
    r.kind = ipc::RequestKind::kReset;
    r.flags = ipc::kRequestPosted;
    r.device = static_cast<uint8_t>(p.routes[i].device);
    uint32_t answered = 0;
    {
      SpinLockGuard guard(s->channel.lock);
      (void)s->channel.push(r, nullptr);  // best effort: a full ring keeps the old device state
      answered = s->channel.take_completed_by_push();
    }
    if (answered != 0) wake_answered(*s, self);
  }
}

// `p`'s vCPUs start afresh: answers still due to their old reads must not
// complete their new ones.
void forget_waiters_of(Partition& p) {
  auto of_p = [&p](const Vcpu* v) { return v != nullptr && v->partition == &p; };
  for (size_t i = 0; i < g_server_count; ++i) {
    Server& s = g_servers[i];
    SpinLockGuard guard(s.channel.lock);
    for (size_t v = 0; v < p.vcpu_count; ++v) s.channel.forget(&p.vcpus[v].pending);
    // A restart it asked for goes on; nobody is answered when it is done.
    if (of_p(s.restart_caller)) {
      s.restart_caller = nullptr;
      s.planned = Server::Planned::kRestart;
    }
    if (of_p(s.restarted_caller)) s.restarted_caller = nullptr;
  }
}

// ---- FF-A direct requests whose receiver goes away ---------------------------

// The requester of an answered or aborted direct request, if it is blocked
// waiting (one standing in here is resumed by the run loop itself).
void wake_requester(Vcpu* q, size_t cpu) {
  if (q != nullptr) (void)sched::wake_waiting(*q, VcpuWait::kDirect, cpu);
}

// Requests the vCPUs of `p` serve, or were being given, fail with ABORTED:
// `p` stops, resets or restarts.
void abort_direct_requests(Partition& p, size_t cpu) {
  for (size_t i = 0; i < p.vcpu_count; ++i) wake_requester(ffa_abort_request(p.vcpus[i]), cpu);
}

// ---- Stopping and resetting partitions -------------------------------------

void start_vcpu0(Partition& p, size_t self) {
  Vcpu& v = p.vcpus[0];
  v.power.store(VcpuPower::kOnPending, std::memory_order_release);
  (void)sched::wake(v, self);
}

// Takes every vCPU of guest `p` but `self` (which runs here) off its CPU,
// waiting for those running elsewhere to leave: their CPUs are interrupted
// and see `p.stopping` (set by the caller).
void stop_other_vcpus(Partition& p, const Vcpu& self) {
  for (size_t i = 0; i < p.vcpu_count; ++i) {
    Vcpu& v = p.vcpus[i];
    if (&v == &self) continue;
    // Its CPU is interrupted, sees `stopping` and lets go of it, telling
    // everyone (arch::send_event); asked again after every wake-up here, in
    // case the vCPU left by another way first (it blocked, or turned off).
    while (!sched::stop_if_not_running(v)) {
      arch::wake_cpu(sched::queue(v.home).mpidr);
      arch::wait_for_event();
    }
  }
}

// Guest vCPU `g` (on its CPU) stops its partition for good, or resets it.
VcpuContext* stop_or_reset(Vcpu& g, bool reset, const char* why) {
  Partition& p = *g.partition;
  bool expected = false;
  // One stopper at a time; a vCPU that finds another at it just leaves.
  if (!p.stopping.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return leave_stopped(g);
  stop_other_vcpus(p, g);
  const size_t cpu = g.cpu;
  put_away(g);
  g_cpus[cpu].guest = nullptr;
  sched::retire(g, VcpuState::kStopped);
  forget_waiters_of(p);
  abort_direct_requests(p, cpu);
  // What it gave or borrowed comes back before its memory is reused.
  ffa_memory_release(p);
  if (!reset) {
    (void)p.transition(PartitionState::kStopped);
    console::print("hyp: partition %s (id %u) %s\n", p.name.data(), p.id, why);
    if (g_running.fetch_sub(1, std::memory_order_acq_rel) == 1) begin_power_off();
    return schedule(cpu);
  }
  const PackagedPartition* image = image_of(p);
  if (image == nullptr || reload_partition(*image, p, RamOnReload::kKeep) != Status::kOk) {
    (void)p.transition(PartitionState::kStopped);
    console::print("hyp: partition %s (id %u) could not be reset\n", p.name.data(), p.id);
    if (g_running.fetch_sub(1, std::memory_order_acq_rel) == 1) begin_power_off();
    return schedule(cpu);
  }
  reset_devices_of(p, cpu);
  console::print("hyp: partition %s (id %u) reset\n", p.name.data(), p.id);
  if (g_bench_report) print_bench_report();
  p.stopping.store(false, std::memory_order_release);
  start_vcpu0(p, cpu);
  return schedule(cpu);
}

// Whether every vCPU of `p` is off (PSCI): nobody is left to turn one on.
bool all_off(const Partition& p) {
  for (size_t i = 0; i < p.vcpu_count; ++i) {
    if (p.vcpus[i].power.load(std::memory_order_acquire) != VcpuPower::kOff) return false;
  }
  return true;
}

// The last vCPU of `p` turned itself off: the partition is stopped as if it
// had called SYSTEM_OFF (its vCPUs are off, so none is running).
void stop_switched_off(Partition& p) {
  bool expected = false;
  if (!p.stopping.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return;
  for (size_t i = 0; i < p.vcpu_count; ++i) (void)sched::stop_if_not_running(p.vcpus[i]);
  forget_waiters_of(p);
  (void)p.transition(PartitionState::kStopped);
  console::print("hyp: partition %s (id %u) stopped: every vCPU is off\n", p.name.data(), p.id);
  if (g_running.fetch_sub(1, std::memory_order_acq_rel) == 1) begin_power_off();
}

// ---- Guests: the paths of an exit, each read top to bottom -----------------

// Guest `g`, loaded on its CPU: completes what it waited for (or goes on
// waiting), carries out what it still had to do, and runs.
VcpuContext* continue_guest(Vcpu& g) {
  if (g.partition->stopping.load(std::memory_order_acquire)) return leave_stopped(g);
  if (g.waiting != VcpuWait::kNothing) {
    if (!sched::wait_over(g, arch::counter_ticks_fast())) {
      // Its server is free again (it was claimed elsewhere): run it here.
      if (g.waits_on != nullptr) return call_server(g, *g.waits_on);
      return park_guest(g);
    }
    finish_wait(g);
  }
  if ((g.ctx.ptimer.ctl & ptimer::kEnable) != 0 || g.ctx.ptimer.line) {
    physical_timer_level(g, arch::counter_ticks_fast());
  }
  if (g.irqs_changed.load(std::memory_order_acquire)) refresh_irqs(g);
  if (g.deferred != Vcpu::Deferred::kNothing) {
    const bool reset = g.deferred == Vcpu::Deferred::kPartitionReset;
    g.deferred = Vcpu::Deferred::kNothing;
    return stop_or_reset(g, reset, "powered off");
  }
  if (Server* s = log_server_to_kick(); s != nullptr && claim(*s, g.cpu)) return enter_server(*s, g.cpu);
  return &g.ctx;
}

// Work was queued for server `s` that nobody waits for (a posted write):
// it must not sit there. If a CPU has the server, it looks for it before it
// lets go (`wanted`, as in call_server()); if none has, this CPU keeps a
// slice, at whose end it takes the server up (sooner if it sleeps first).
void posted(Server& s, size_t cpu) {
  s.wanted.store(true, std::memory_order_seq_cst);
  if (s.running_on.load(std::memory_order_seq_cst) >= 0) return;
  if (sched::queue(cpu).slice_end == 0) rearm(cpu, arch::counter_ticks());
}

// Guest `g` needs server `s` to run: it runs here in the guest's place, or,
// if it runs on another CPU, the guest waits for it (blocked) or, with
// nothing to wait for (posted work, a full ring), goes on. A waiter is
// always completed eventually: by the server's answer, or with failure when
// the server is given up on; whoever completes it wakes it.
VcpuContext* call_server(Vcpu& g, Server& s) {
  if (claim(s, g.cpu)) return enter_server(s, g.cpu);
  // What it still has to do (a deferred power-off) is done now.
  if (g.waiting == VcpuWait::kNothing) return continue_guest(g);
  // The CPU that has it may be letting go of it, having looked for work
  // before this guest queued its request: say so, then try once more.
  s.wanted.store(true, std::memory_order_seq_cst);
  if (claim(s, g.cpu)) return enter_server(s, g.cpu);
  return park_guest(g);
}

// An access to a server that is not running: a stopped one's devices read
// as zero and ignore writes (docs/control.md); reads and writes to a
// server given up on abort (docs/servers.md).
//
// A start on another CPU clears `failed` before `stopped` (both release):
// an access that saw `failed` set and then sees `stopped` clear raced with
// it, finds `failed` clear too, and is retried (the guest's PC has not
// moved: it makes the access again, and this time it is queued).
VcpuContext* not_served(Vcpu& g, const Server* s) {
  const MmioAccess& a = g.forwarded;
  if (s != nullptr && !s->stopped.load(std::memory_order_acquire) && !s->failed.load(std::memory_order_acquire)) {
    return continue_guest(g);
  }
  if (s == nullptr || !s->stopped.load(std::memory_order_acquire)) {
    abort_access(g);
  } else if (a.write) {
    complete_mmio_write(g.ctx, a);
  } else {
    complete_mmio_read(g.ctx, a, 0);
  }
  return continue_guest(g);
}

// A guest access inside a server's range: queue it; reads wait for the answer.
VcpuContext* forward(Vcpu& g) {
  const MmioAccess& a = g.forwarded;
  const Route* route = g.partition->route_for(a.ipa, a.bytes);
  Server* s = route != nullptr ? server_of(route->server) : nullptr;
  if (s == nullptr || s->failed.load(std::memory_order_acquire)) [[unlikely]] return not_served(g, s);
  ipc::Request r{};
  r.kind = a.write ? ipc::RequestKind::kWrite : ipc::RequestKind::kRead;
  r.offset = a.ipa - route->ipa;
  r.width = a.bytes;
  r.device = static_cast<uint8_t>(route->device);
  r.vcpu = g.index;
  // Writes are posted (the guest goes on at once), but those to its
  // interrupt controller: they are applied in order with what the guest
  // does next (an SGI it sends, an interrupt it expects enabled), as a
  // GIC's are, so the guest waits for them like for a read.
  const bool posted_write = a.write && !route->irqchip;
  if (a.write) r.data = mmio_write_value(g.ctx, a);
  if (posted_write) r.flags = ipc::kRequestPosted;
  Status st;
  bool busy = false;
  uint32_t answered = 0;
  {
    SpinLockGuard guard(s->channel.lock);
    st = s->channel.push(r, posted_write ? nullptr : &g.pending);
    busy = st == Status::kOk && s->channel.outstanding() >= Channel::kEntries / 2;
    answered = s->channel.take_completed_by_push();
    if (s->tracing.load(std::memory_order_relaxed)) [[unlikely]] {
      traced(g.cpu, ipc::TraceEvent::kRequest, s->vcpu(), static_cast<uint32_t>(s->channel.last_seq()));
    }
  }
  if (answered != 0) [[unlikely]] wake_answered(*s, g.cpu);
  if (st == Status::kBusy) return call_server(g, *s);  // the access is retried when the guest resumes
  // Given up on or stopped between the check above and the push.
  if (st == Status::kNotFound) return not_served(g, s);
  if (st != Status::kOk) {
    // The server broke its request ring; it is restarted when it next runs.
    if (claim(*s, g.cpu)) {
      arch::vcpu_save(g.ctx, Scope::kServer);
      g_cpus[g.cpu].server = s;
      return server_failed(*s, g.cpu, "its request ring is corrupt");
    }
    return &g.ctx;
  }
  if (posted_write) {
    complete_mmio_write(g.ctx, a);
    if (busy) return call_server(g, *s);
    posted(*s, g.cpu);
    // Its next WFI traps: when it waits (for what it just asked the device
    // to do, most often), its CPU takes the server up at once rather than
    // at the slice's end.
    if ((g.ctx.el2.hcr_el2 & kHcrTwi) == 0) {
      g.ctx.el2.hcr_el2 |= kHcrTwi;
      arch::write_hcr(g.ctx.el2.hcr_el2);
    }
    return continue_guest(g);
  }
  g.waiting = VcpuWait::kRead;
  g.waits_on = s;
  return call_server(g, *s);
}

Server* controlled_server(const Vcpu& caller, uint64_t id, Status& st);

VcpuContext* restart_call(Vcpu& g) {
  Status found = Status::kOk;
  Server* s = controlled_server(g, g.ctx.x[1], found);
  auto fail = [&](Status st) {
    g.ctx.x[0] = static_cast<uint64_t>(-static_cast<int64_t>(st));
    return continue_guest(g);
  };
  if (s == nullptr) return fail(found);
  if (s->failed.load()) return fail(Status::kBusy);
  // Said before the quiesce is queued: a server on another CPU may restart
  // the moment it is, and its lines must not come first.
  console::print("hyp: %s asks for a restart of server %s (id %u)\n", g.partition->name.data(),
                 s->partition->name.data(), s->partition->id);
  ipc::Request r{};
  r.kind = ipc::RequestKind::kQuiesce;
  Status st = Status::kBusy;
  uint32_t answered = 0;
  const char* refused = "one is already under way";
  g.pending.failed = false;
  g.pending.done.store(false, std::memory_order_relaxed);
  // Set before the request can be answered: the answer wakes a vCPU that
  // waits for it, and wake_blocked() checks what it waits on.
  g.waiting = VcpuWait::kRestart;
  g.waits_on = s;
  {
    SpinLockGuard guard(s->channel.lock);
    if (lifecycle_idle(*s)) {
      st = s->channel.push(r, &s->quiesce);
      refused = st == Status::kBusy       ? "its request ring is full"
                : st == Status::kNotFound ? "it was given up on"
                                          : "its request ring is corrupt";
    }
    if (st == Status::kOk) {
      // Before the lock is let go: the server may answer on another CPU
      // the moment it is.
      s->restart_caller = &g;
      s->restart_asked_at = arch::counter_ticks();
    }
    answered = s->channel.take_completed_by_push();
  }
  if (answered != 0) wake_answered(*s, g.cpu);
  if (st != Status::kOk) {
    console::print("hyp: restart of server %s (id %u) refused: %s\n", s->partition->name.data(),
                   s->partition->id, refused);
    g.waiting = VcpuWait::kNothing;
    g.waits_on = nullptr;
    return fail(Status::kBusy);
  }
  return call_server(g, *s);
}

// ---- Control calls (docs/control.md) ----------------------------------------

void write_info(Server& s);
uint64_t physical_run(const Partition& p, uint64_t ipa, uint64_t size);

size_t index_of(const Partition& p) { return static_cast<size_t>(&p - g_partitions); }

// The server with partition ID `id`, if the caller's control right covers it.
Server* controlled_server(const Vcpu& caller, uint64_t id, Status& st) {
  for (size_t i = 0; i < g_server_count; ++i) {
    Server& s = g_servers[i];
    if (s.partition->id != id) continue;
    const bool covered = (caller.partition->control_targets >> index_of(*s.partition) & 1) != 0;
    st = covered ? Status::kOk : Status::kDenied;
    return covered ? &s : nullptr;
  }
  st = Status::kNotFound;
  return nullptr;
}

// A planned restart or stop nobody waits on: queued like a guest's restart
// (the quiesce after everything already queued) and carried out when the
// server answers it. kBusy: the server is not serving, or a restart or
// stop is under way.
Status plan(Server& s, Server::Planned what, size_t self) {
  if (s.failed.load(std::memory_order_acquire)) return Status::kBusy;
  ipc::Request r{};
  r.kind = ipc::RequestKind::kQuiesce;
  Status st = Status::kBusy;
  uint32_t answered = 0;
  {
    SpinLockGuard guard(s.channel.lock);
    if (lifecycle_idle(s)) {
      st = s.channel.push(r, &s.quiesce);
      if (st == Status::kOk) {
        s.planned = what;
        s.restart_asked_at = arch::counter_ticks();
      } else {
        st = Status::kBusy;
      }
    }
    answered = s.channel.take_completed_by_push();
  }
  if (answered != 0) wake_answered(s, self);
  // Nobody waits on it: like a posted write, it must not sit there.
  if (st == Status::kOk) posted(s, self);
  return st;
}

// Starts server `s`, which nothing runs and nothing may claim (stopped,
// never started, or given up on): rebuilt from its image here, on the
// caller's CPU, then left for whichever CPU looks for work first. Its
// state page is kept: a stopped server resumes from it.
Status start(Server& s, size_t self) {
  if (!s.failed.load(std::memory_order_acquire)) return Status::kBusy;
  // Held against another start while the server is rebuilt (claim() would
  // refuse a server marked failed).
  int32_t idle = -1;
  if (!s.running_on.compare_exchange_strong(idle, static_cast<int32_t>(self), std::memory_order_seq_cst)) {
    return Status::kBusy;
  }
  if (!s.failed.load(std::memory_order_acquire)) {
    release(s);
    return Status::kBusy;
  }
  Partition& p = *s.partition;
  {
    SpinLockGuard guard(s.channel.lock);
    s.channel.reopen();
    s.progress_at_wait = s.channel.progress_mark();
  }
  if (reload_partition(*s.image, p, RamOnReload::kClear) != Status::kOk) {
    release(s);
    return Status::kNoMemory;
  }
  write_info(s);
  ++s.restarts;
  s.crashes_without_progress = 0;
  s.preempted.store(false, std::memory_order_relaxed);
  s.run_ticks = 0;
  s.idle_waits = false;
  s.never_started = false;
  s.up.store(false, std::memory_order_relaxed);
  console::print("hyp: server %s (id %u) started\n", p.name.data(), p.id);
  // It has never run now (`up` clear): the first CPU to look takes it.
  // `failed` first: an access that finds `stopped` clear finds `failed`
  // clear too (not_served()).
  s.failed.store(false, std::memory_order_release);
  s.stopped.store(false, std::memory_order_release);
  release(s);
  arch::send_event();
  return Status::kOk;
}

ipc::Life life_of(Server& s) {
  if (s.stopped.load(std::memory_order_acquire)) return s.never_started ? ipc::Life::kNotStarted : ipc::Life::kStopped;
  if (s.failed.load(std::memory_order_acquire)) return ipc::Life::kFailed;
  {
    SpinLockGuard guard(s.channel.lock);
    if (s.planned == Server::Planned::kStop) return ipc::Life::kStopping;
    if (!lifecycle_idle(s)) return ipc::Life::kRestarting;
  }
  return s.up.load(std::memory_order_acquire) ? ipc::Life::kRunning : ipc::Life::kStarting;
}

uint64_t ticks_to_us(uint64_t ticks) {
  const uint64_t per_us = arch::counter_frequency() / 1'000'000;
  return per_us == 0 ? 0 : ticks / per_us;
}

void copy_name(char* out, size_t size, const char* in) {
  size_t i = 0;
  for (; in != nullptr && in[i] != '\0' && i + 1 < size; ++i) out[i] = in[i];
  out[i] = '\0';
}

void read_system(const Vcpu& caller, ipc::ControlSystem& out) {
  out.version = ipc::kControlVersion;
  out.cpus = static_cast<uint32_t>(sched::cpu_count());
  out.now_us = ticks_to_us(arch::counter_ticks());
  for (size_t i = 0; i < g_partition_count && i < ipc::kControlMaxPartitions; ++i) {
    const Partition& p = g_partitions[i];
    ipc::ControlPartition& o = out.partitions[out.count++];
    copy_name(o.name, sizeof(o.name), p.name.data());
    o.id = p.id;
    o.vcpu_count = static_cast<uint8_t>(p.vcpu_count < ipc::kControlMaxVcpus ? p.vcpu_count : ipc::kControlMaxVcpus);
    for (size_t v = 0; v < o.vcpu_count; ++v) {
      const Vcpu& vc = p.vcpus[v];
      o.vcpus[v].state = static_cast<uint8_t>(vc.state);
      o.vcpus[v].cpu = static_cast<uint8_t>(vc.cpu);
      for (const ExitCounter& e : vc.exits) o.vcpus[v].exits += e.value();
    }
    Server* s = p.server;
    if (s == nullptr) {
      bool on = false;
      for (size_t v = 0; v < p.vcpu_count; ++v) on = on || p.vcpus[v].state != VcpuState::kOff;
      o.life = static_cast<uint8_t>(p.state == PartitionState::kRunning && on ? ipc::Life::kRunning : ipc::Life::kOff);
      continue;
    }
    o.server = 1;
    o.controllable = (caller.partition->control_targets >> i & 1) != 0 ? 1 : 0;
    o.console_owner = s->console_owner ? 1 : 0;
    o.life = static_cast<uint8_t>(life_of(*s));
    o.restarts = s->restarts;
    o.failures = s->failures;
    o.last_failure_us = s->last_failure != nullptr ? ticks_to_us(s->last_failure_at) : 0;
    copy_name(o.last_failure, sizeof(o.last_failure), s->last_failure);
    SpinLockGuard guard(s->channel.lock);
    o.served = s->channel.done_high();
  }
}

// Copies `size` bytes to the caller's RAM at `ipa`, all of it or nothing.
Status write_to_caller(const Vcpu& caller, uint64_t ipa, uint64_t room, const void* data, size_t size) {
  if (room < size) return Status::kOutOfRange;
  const uint64_t pa = physical_run(*caller.partition, ipa, size);
  if (pa == 0) return Status::kDenied;
  void* to = arch::mm::phys_to_virt(Pa(pa));
  if (to == nullptr) return Status::kDenied;
  std::memcpy(to, data, size);
  return Status::kOk;
}

Status control_read(Vcpu& caller) {
  const uint64_t what = caller.ctx.x[1];
  const uint64_t arg = caller.ctx.x[2];
  const uint64_t ipa = caller.ctx.x[3];
  const uint64_t room = caller.ctx.x[4];
  if (what == static_cast<uint64_t>(ipc::ControlRead::kSystem)) {
    ipc::ControlSystem out;
    read_system(caller, out);
    Status st = write_to_caller(caller, ipa, room, &out, sizeof(out));
    if (st == Status::kOk) caller.ctx.x[1] = sizeof(out);
    return st;
  }
  if (what == static_cast<uint64_t>(ipc::ControlRead::kTrace)) {
    const uint64_t cpu = arg >> 48;
    if (cpu >= sched::cpu_count()) return Status::kOutOfRange;
    ipc::ControlTrace out;
    trace::read(cpu, arg & 0xffff'ffff'ffff, out);
    Status st = write_to_caller(caller, ipa, room, &out, sizeof(out));
    if (st == Status::kOk) caller.ctx.x[1] = sizeof(out);
    return st;
  }
  if (what == static_cast<uint64_t>(ipc::ControlRead::kExits)) {
    const uint64_t id = arg >> 8;
    const uint64_t vcpu = arg & 0xff;
    for (size_t i = 0; i < g_partition_count; ++i) {
      const Partition& p = g_partitions[i];
      if (p.id != id) continue;
      if (vcpu >= p.vcpu_count) return Status::kOutOfRange;
      ipc::ControlExits out;
      out.reasons = ipc::kExitReasonCount;
      for (size_t r = 0; r < ipc::kExitReasonCount; ++r) out.counts[r] = p.vcpus[vcpu].exits[r].value();
      Status st = write_to_caller(caller, ipa, room, &out, sizeof(out));
      if (st == Status::kOk) caller.ctx.x[1] = sizeof(out);
      return st;
    }
    return Status::kNotFound;
  }
  return Status::kNotSupported;
}
static_assert(ipc::kExitReasonCount == kExitReasons && ipc::kExitReasonIrq == kExitIrq &&
              ipc::kExitReasonSError == kExitSError);

// Recording on or off, with the flag's copies in every vCPU and server.
void set_tracing(bool on) {
  if (!on) trace::set(false);
  for (size_t i = 0; i < g_partition_count; ++i) {
    for (size_t v = 0; v < g_partitions[i].vcpu_count; ++v) {
      g_partitions[i].vcpus[v].tracing.store(on, std::memory_order_relaxed);
    }
  }
  for (size_t i = 0; i < g_server_count; ++i) g_servers[i].tracing.store(on, std::memory_order_relaxed);
  if (on) trace::set(true);
}

// HYP_SERVER_STOP, HYP_SERVER_START, HYP_CONTROL_READ, and a server's
// HYP_SERVER_RESTART (which returns once the restart is under way: a
// server never waits on another). The caller has the control right; the
// servers it acts on must be covered by it.
void control_call(Vcpu& caller) {
  const auto fid = static_cast<uint32_t>(caller.ctx.x[0]);
  Status st = Status::kOk;
  if (fid == abi::kHypControlRead) {
    st = control_read(caller);
  } else if (fid == abi::kHypTraceSet) {
    if (caller.ctx.x[1] > 1) {
      st = Status::kInvalidArgument;
    } else {
      set_tracing(caller.ctx.x[1] == 1);
      console::print("hyp: %s turns tracing %s\n", caller.partition->name.data(), caller.ctx.x[1] == 1 ? "on" : "off");
    }
  } else if (Server* s = controlled_server(caller, caller.ctx.x[1], st); s != nullptr) {
    const char* what = fid == abi::kHypServerStop ? "a stop" : fid == abi::kHypServerStart ? "a start" : "a restart";
    console::print("hyp: %s asks for %s of server %s (id %u)\n", caller.partition->name.data(), what,
                   s->partition->name.data(), s->partition->id);
    // A server stopping itself would take away the only way back that
    // control partition has (its own channel): refused.
    st = fid == abi::kHypServerStop && s->partition == caller.partition ? Status::kInvalidArgument
         : fid == abi::kHypServerStop                                   ? plan(*s, Server::Planned::kStop, caller.cpu)
         : fid == abi::kHypServerStart                                  ? start(*s, caller.cpu)
                                       : plan(*s, Server::Planned::kRestart, caller.cpu);
    if (st != Status::kOk) {
      console::print("hyp: %s of server %s (id %u) refused: %s\n", what, s->partition->name.data(),
                     s->partition->id, status_name(st));
    }
  }
  caller.ctx.x[0] = st == Status::kOk ? 0 : static_cast<uint64_t>(-static_cast<int64_t>(st));
}

// ---- FF-A direct messages ----------------------------------------------------

void set_ffa_error(Vcpu& g, ffa::Error e) {
  g.ctx.x[0] = ffa::kError;
  g.ctx.x[1] = 0;
  g.ctx.x[2] = ffa::error_word(e);
  for (size_t i = 3; i <= 7; ++i) g.ctx.x[i] = 0;
}

// Lets go of server `s`, claimed by CPU `cpu` but not entered: whoever found
// it claimed meanwhile relies on the claimer to look for its work.
void unclaim(Server& s, size_t cpu) {
  release(s);
  if (s.wanted.load(std::memory_order_seq_cst) && s.wanted.exchange(false, std::memory_order_acq_rel) &&
      has_work(s)) {
    posted(s, cpu);
  }
}

// Guest `g`'s direct request, checked: the receiver runs (a server here, in
// the guest's place; a guest vCPU on its own CPU) and `g` waits for the
// answer. A receiver not waiting for messages is BUSY; one stopped or given
// up on, ABORTED.
[[gnu::always_inline]] inline VcpuContext* direct_request(Vcpu& g) {
  Vcpu& r = *g.direct.target;
  g.direct.target = nullptr;
  Partition& rp = *r.partition;
  auto refuse = [&](ffa::Error e) {
    set_ffa_error(g, e);
    return continue_guest(g);
  };
  if (rp.kind == PartitionKind::kServer) {
    Server& s = *server_of(&rp);
    if (s.failed.load(std::memory_order_acquire)) return refuse(ffa::Error::kAborted);
    if (!claim(s, g.cpu)) return refuse(ffa::Error::kBusy);
    if (!ffa_deliver_request(g, r)) {
      unclaim(s, g.cpu);
      return refuse(ffa::Error::kBusy);
    }
    g.waiting = VcpuWait::kDirect;
    g.waits_on = &s;
    return enter_server(s, g.cpu);
  }
  if (rp.state != PartitionState::kRunning || rp.stopping.load(std::memory_order_acquire)) {
    return refuse(ffa::Error::kAborted);
  }
  if (!ffa_deliver_request(g, r)) return refuse(ffa::Error::kBusy);
  g.waiting = VcpuWait::kDirect;
  g.waits_on = nullptr;
  (void)sched::wake_waiting(r, VcpuWait::kMessage, g.cpu);
  return park_guest(g);
}

// Guest `g` waits for a message (FFA_MSG_WAIT, or its direct response):
// until a request is delivered to it, or an interrupt is.
VcpuContext* message_wait(Vcpu& g) {
  g.kicked.store(false, std::memory_order_seq_cst);
  refresh_irqs(g);
  g.waiting = VcpuWait::kMessage;
  if (g.partition->vgic.has_pending(g.index, g.ctx.lrs)) g.kicked.store(true, std::memory_order_relaxed);
  return park_guest(g);
}

// FFA_YIELD from guest `g`: the rest of its slice goes to the next vCPU
// waiting here, if any.
VcpuContext* yield_guest(Vcpu& g) {
  const size_t cpu = g.cpu;
  if (!sched::has_queued(cpu)) return continue_guest(g);
  put_away(g);
  g_cpus[cpu].guest = nullptr;
  sched::requeue(g);
  return schedule(cpu);
}

[[gnu::noinline]] VcpuContext* guest_exit(Vcpu& g, TrapAction action) {
  switch (action) {
    case TrapAction::kResume:
      return continue_guest(g);
    case TrapAction::kForward:
      return forward(g);
    case TrapAction::kServerRestart:
      return restart_call(g);
    case TrapAction::kControl:
      control_call(g);
      return continue_guest(g);
    case TrapAction::kPartitionOff:
    case TrapAction::kPartitionReset: {
      // Posted writes still queued (a last line of output) go first.
      g.deferred =
          action == TrapAction::kPartitionOff ? Vcpu::Deferred::kPartitionOff : Vcpu::Deferred::kPartitionReset;
      Server* s = server_with_work_for(*g.partition);
      return s != nullptr ? call_server(g, *s) : continue_guest(g);
    }
    case TrapAction::kWaitForInterrupt:
      // Not while an interrupt is pending for it (WFI ends at once, masked
      // or not). Cleared before looking: a sender after the look sets it
      // again, and blocking checks it under the lock the sender takes.
      g.kicked.store(false, std::memory_order_seq_cst);
      refresh_irqs(g);
      if (g.partition->vgic.has_pending(g.index, g.ctx.lrs)) {
        g.wake_at = 0;
        return continue_guest(g);
      }
      g.waiting = VcpuWait::kInterrupt;
      return park_guest(g);
    case TrapAction::kSendInterrupts:
      deliver_sent(g);
      return continue_guest(g);
    case TrapAction::kTimerChanged: {
      const uint64_t now = arch::counter_ticks();
      physical_timer_level(g, now);
      if (g_cpus[g.cpu].server == nullptr) arm_for_guest(g_cpus[g.cpu], g, now);
      return continue_guest(g);
    }
    case TrapAction::kCpuOff: {
      const size_t cpu = g.cpu;
      // A request it was serving is answered for it.
      wake_requester(ffa_abort_request(g), cpu);
      put_away(g);
      g.partition->vgic.release_lrs(g.index, g.ctx.lrs);
      // Its timers go with its context (reset by the next CPU_ON): what
      // they signalled is owed no more. (Its SGIs stay pending, as in a
      // powered-down CPU's redistributor.)
      g.ctx.ptimer.ctl = 0;
      physical_timer_level(g, arch::counter_ticks());
      g.vtimer_raised = false;
      (void)g.partition->vgic.source_low(g.index, vgic::kVirtualTimerPpi, g.ctx.lrs);
      g.irqs_changed.store(true, std::memory_order_relaxed);  // what waits is placed when it is on again
      g_cpus[cpu].guest = nullptr;
      sched::retire(g, VcpuState::kOff);
      // Only now may a CPU_ON take it: its context is no longer in use.
      vpsci::mark_off(g);
      arch::send_event();  // a vCPU stopping the partition may wait for this one
      if (all_off(*g.partition)) stop_switched_off(*g.partition);
      return schedule(cpu);
    }
    case TrapAction::kCpuOn: {
      Vcpu* started = g.started;
      g.started = nullptr;
      (void)sched::wake(*started, g.cpu);
      return continue_guest(g);
    }
    case TrapAction::kDirectRequest:
      return direct_request(g);
    case TrapAction::kDirectResponse:
      wake_requester(ffa_respond(g), g.cpu);
      return message_wait(g);
    case TrapAction::kMessageWait:
      return message_wait(g);
    case TrapAction::kYield:
      return yield_guest(g);
    case TrapAction::kServerWait:
      break;
  }
  return continue_guest(g);
}

// ---- Server lifecycle -----------------------------------------------------

// Where partition `p`'s [ipa, ipa + size) is in physical memory, if all of
// it is in one of its memory regions (0 if not; a grant of a guest's RAM
// always is: a guest's RAM is one region).
uint64_t physical_run(const Partition& p, uint64_t ipa, uint64_t size) {
  for (size_t i = 0; i < p.memory_count; ++i) {
    const MemoryRegion& r = p.memory[i];
    const uint64_t base = r.ipa.value();
    if (ipa >= base && size <= r.size && ipa - base <= r.size - size) return r.pa.value() + (ipa - base);
  }
  return 0;
}

void write_info(Server& s) {
  ipc::ServerInfo& info = *s.channel.pages().info;
  info = ipc::ServerInfo{};
  info.magic = ipc::kInfoMagic;
  info.console_owner = s.console_owner ? 1 : 0;
  info.device_memory_count = static_cast<uint32_t>(s.image->device_region_count);
  for (size_t i = 0; i < s.image->device_region_count; ++i) {
    info.device_memory_base[i] = s.image->device_regions[i].base.value();
    info.device_memory_size[i] = s.image->device_regions[i].size;
  }
  info.device_irq_count = static_cast<uint32_t>(s.image->device_irq_count);
  for (size_t i = 0; i < s.image->device_irq_count; ++i) info.device_irqs[i] = s.image->device_irqs[i];
  std::memcpy(info.bootargs, s.image->bootargs.data(), sizeof(info.bootargs) - 1);
  for (size_t i = 0; i < g_partition_count; ++i) {
    const Partition& p = g_partitions[i];
    for (size_t j = 0; j < p.route_count; ++j) {
      const Route& r = p.routes[j];
      if (r.server != s.partition || r.device >= ipc::kMaxServerDevices) continue;
      info.device_base[r.device] = r.ipa.value();
      info.device_size[r.device] = r.size;
      info.device_irq[r.device] = r.irq;
      info.client_vcpus[r.device] = static_cast<uint32_t>(p.vcpu_count);
      if (r.irqchip) info.device_irqchip |= 1u << r.device;
      std::memcpy(info.client[r.device], p.name.data(), sizeof(info.client[r.device]) - 1);
      if (r.device + 1 > info.device_count) info.device_count = r.device + 1;
    }
  }
  MemoryGrant grants[ipc::kMaxServerGrants];
  const size_t n = ffa_memory_grants_to(*s.partition, grants, ipc::kMaxServerGrants);
  info.grant_count = static_cast<uint32_t>(n < ipc::kMaxServerGrants ? n : ipc::kMaxServerGrants);
  for (size_t i = 0; i < info.grant_count; ++i) {
    ipc::Grant& g = info.grants[i];
    std::memcpy(g.client, grants[i].owner->name.data(), sizeof(g.client) - 1);
    g.client_id = grants[i].owner->id;
    g.handle = grants[i].handle;
    g.ipa = grants[i].ipa;
    g.size = grants[i].size;
    g.window = grants[i].window;
    g.pa = physical_run(*grants[i].owner, grants[i].ipa, grants[i].size);
  }
  if (s.image->dma_pool_size != 0) {
    info.dma_pool_pa = s.dma_pool.value();
    info.dma_pool_size = s.image->dma_pool_size;
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
    s.planned = Server::Planned::kNone;
  }
  // reset_for_restart() took the old instance's last answers. A direct
  // request it was serving fails: the new instance never saw it.
  wake_answered(s, cpu);
  abort_direct_requests(p, cpu);
  ffa_memory_release(p);
  if (reload_partition(*s.image, p, RamOnReload::kClear) != Status::kOk) {
    console::print("hyp: server %s (id %u) could not be rebuilt\n", p.name.data(), p.id);
    arch::halt();
  }
  write_info(s);
  ++s.restarts;
  console::print("hyp: server %s (id %u) restarted (%s, restart %u): %u requests replayed\n", p.name.data(), p.id, why,
                 s.restarts, replayed);
  Vcpu& sv = s.vcpu();
  sv.state = VcpuState::kRunning;
  sv.cpu = static_cast<uint16_t>(cpu);
  arch::vcpu_load(sv.ctx, Scope::kServer);
  // A new instance: whatever run the old one was taken off in is over.
  s.preempted.store(false, std::memory_order_relaxed);
  s.run_ticks = 0;
  s.idle_waits = false;
  watch(s, g_cpus[cpu]);
  return &sv.ctx;
}

// Takes server `s` (claimed by CPU `cpu`, which runs it) out of service:
// given up on after failures (its devices then abort), or stopped by a
// control call (they read as zero). Whoever waits on it is answered that
// way, and what it borrowed or lent through FF-A goes back.
VcpuContext* take_down(Server& s, size_t cpu, bool stop) {
  Partition& p = *s.partition;
  if (stop) s.stopped.store(true, std::memory_order_release);
  s.failed.store(true, std::memory_order_release);
  if (&s == g_console) take_console_back(static_cast<int32_t>(cpu));
  {
    SpinLockGuard guard(s.channel.lock);
    s.channel.fail_all(!stop);
    s.planned = Server::Planned::kNone;
    answer_restart(s, s.restart_caller, true, cpu);
    answer_restart(s, s.restarted_caller, true, cpu);
  }
  wake_answered(s, cpu);
  abort_direct_requests(p, cpu);
  ffa_memory_release(p);
  for (size_t i = 0; i < p.vcpu_count; ++i) p.vcpus[i].state = VcpuState::kStopped;
  (void)p.transition(PartitionState::kStopped);
  return leave_server(s, cpu);
}

// A planned stop: the server answered its quiesce (or failed meanwhile).
VcpuContext* stop_server(Server& s, size_t cpu) {
  console::print("hyp: server %s (id %u) stopped; its devices read as zero\n", s.partition->name.data(),
                 s.partition->id);
  return take_down(s, cpu, true);
}

// The server stopped, faulted into its own fatal path, or broke its rings.
VcpuContext* server_failed(Server& s, size_t cpu, const char* why) {
  Partition& p = *s.partition;
  console::print("hyp: server %s (id %u) failed: %s\n", p.name.data(), p.id, why);
  ++s.failures;
  s.last_failure = why;
  s.last_failure_at = arch::counter_ticks();
  uint64_t done = 0;
  bool stopping = false;
  {
    SpinLockGuard guard(s.channel.lock);
    (void)s.channel.take_responses();
    done = s.channel.done_high();
    stopping = s.planned == Server::Planned::kStop;
  }
  // It was being stopped anyway.
  if (stopping) return stop_server(s, cpu);
  // Progress is a new high of what the server says it finished: a value
  // that only moves back and forth across replays is none.
  s.crashes_without_progress = done > s.done_at_last_crash ? 0 : s.crashes_without_progress + 1;
  if (done > s.done_at_last_crash) s.done_at_last_crash = done;
  constexpr uint32_t kGiveUpAfter = 3;
  if (s.crashes_without_progress < kGiveUpAfter) return restart_server(s, cpu, "after a failure");
  // It fails before finishing anything: stop it; its guests' accesses abort.
  console::print("hyp: server %s (id %u) failed %u times without progress: stopped; its devices now abort\n",
                 p.name.data(), p.id, kGiveUpAfter);
  return take_down(s, cpu, false);
}

// The server running on CPU `cpu` is taken off at its slice's end, its run
// not over: it keeps its work, and any CPU may take it up again (this one
// at the latest when the next slice ends). The guest it stood in for, if
// any, ends its turn too: back in its queue if its wait is over, blocked
// until it is if not.
VcpuContext* preempt_server(Server& s, size_t cpu, uint64_t now) {
  Cpu& c = g_cpus[cpu];
  s.run_ticks += now - s.entered_at;
  arch::vcpu_save(s.vcpu().ctx, Scope::kServer);
  c.server = nullptr;
  s.preempted.store(true, std::memory_order_relaxed);
  release(s);  // publishes `preempted` with the claim's release
  arch::send_event();  // an idle CPU may take it up
  c.guests_first = true;
  if (Vcpu* g = c.guest; g != nullptr) {
    arch::vcpu_load(g->ctx, Scope::kServer);
    put_away(*g);
    c.guest = nullptr;
    if (!sched::block(*g, now)) sched::requeue(*g);
  }
  return schedule(cpu);
}

VcpuContext* server_waited(Server& s, size_t cpu);

// Server `sv` answered a direct request; the response also waits, as
// FFA_MSG_WAIT. A requester standing in here goes on when the server lets
// go of the CPU.
[[gnu::always_inline]] inline VcpuContext* server_responded(Vcpu& sv) {
  Server& s = *server_of(sv.partition);
  const size_t cpu = sv.cpu;
  Vcpu* q = ffa_respond(sv);
  if (q != g_cpus[cpu].guest) {
    wake_requester(q, cpu);
    return server_waited(s, cpu);
  }
  // The short way back to it: a response is progress, and neither the
  // server's rings nor its device are looked at. Work queued for it
  // meanwhile was either queued by someone who found it claimed (and said
  // so with `wanted`, which leave_server() looks at) or has a CPU arranged
  // to take it up (posted()); its device's interrupt and its first wait
  // after a start take the long way.
  if (q != nullptr && s.up.load(std::memory_order_relaxed) && s.irq_pending.load(std::memory_order_relaxed) == 0) {
    s.run_ticks = 0;
    s.idle_waits = false;
    // Its wait is over, its response in its registers already.
    q->waiting = VcpuWait::kNothing;
    q->waits_on = nullptr;
    return leave_server(s, cpu);
  }
  return server_waited(s, cpu);
}

[[gnu::noinline]] VcpuContext* server_exit(Vcpu& sv, TrapAction action) {
  Server& s = *server_of(sv.partition);
  const size_t cpu = sv.cpu;
  switch (action) {
    case TrapAction::kResume:
    case TrapAction::kWaitForInterrupt:
      return &sv.ctx;
    case TrapAction::kSendInterrupts:
      deliver_sent(sv);
      return &sv.ctx;
    case TrapAction::kServerRestart:
    case TrapAction::kControl:
      control_call(sv);
      return &sv.ctx;
    case TrapAction::kServerWait:
      break;
    case TrapAction::kMessageWait:
      break;
    case TrapAction::kDirectResponse:
      return server_responded(sv);
    case TrapAction::kPartitionOff:
    case TrapAction::kPartitionReset:
      return server_failed(s, cpu, "it stopped itself (PSCI SYSTEM_OFF/RESET)");
    default:
      return server_failed(s, cpu, "unexpected request");
  }
  return server_waited(s, cpu);
}

// Server `s` on CPU `cpu` waited (HYP_SERVER_WAIT, FFA_MSG_WAIT, a direct
// response): what it answered is taken, and it goes on if it has more work,
// or lets go of the CPU.
[[gnu::noinline]] VcpuContext* server_waited(Server& s, size_t cpu) {
  Vcpu& sv = s.vcpu();
  bool work = false;
  bool planned = false;
  bool stop = false;
  bool progress = false;
  uint32_t completed = 0;
  const char* corrupt = nullptr;
  // The guest this server stands in for finds its own answer when it
  // resumes; anyone else answered now is blocked, here or on another CPU.
  // take_responses() counts reads answered and the quiesce of a planned
  // restart (which only makes this look); a restart call is answered apart.
  // The server has seen to its device since its interrupt came (it polls
  // before it waits): the interrupt ends, and fires again if the device
  // still asks.
  if (s.irq_pending.load(std::memory_order_relaxed) != 0) {
    const uint32_t ended = s.irq_pending.exchange(0, std::memory_order_acq_rel);
    for (size_t i = 0; i < s.image->device_irq_count && g_gic_dist.value() != 0; ++i) {
      if ((ended >> i & 1) != 0) gic::deactivate_spi(g_gic_dist, s.image->device_irqs[i]);
    }
  }
  const Vcpu* g = g_cpus[cpu].guest;
  bool donor_waits = false;
  uint64_t away_ticks = 0;  // a planned restart just completed: since its quiesce was queued
  {
    SpinLockGuard guard(s.channel.lock);
    // Under the lock: a push on another CPU may take answers too.
    donor_waits = g != nullptr && g->waiting == VcpuWait::kRead && g->waits_on == &s &&
                  !g->pending.done.load(std::memory_order_acquire);
    const Result<uint32_t> taken = s.channel.take_responses();
    if (!taken.ok()) {
      corrupt = "its response ring is corrupt";
    } else {
      completed = *taken;
      const Channel::Work w = s.channel.work();
      if (w == Channel::Work::kCorrupt) corrupt = "its request or log ring is corrupt";
      work = w == Channel::Work::kPending;
      planned = (s.restart_caller != nullptr || s.planned != Server::Planned::kNone) &&
                s.quiesce.done.load(std::memory_order_acquire);
      stop = planned && s.planned == Server::Planned::kStop;
      // The new instance has run and its channel is sound: the restart it
      // came from is complete.
      if (corrupt == nullptr && s.restarted_caller != nullptr) {
        away_ticks = arch::counter_ticks() - s.restart_asked_at;
        answer_restart(s, s.restarted_caller, false, cpu);
      }
      const uint64_t mark = s.channel.progress_mark();
      progress = mark != s.progress_at_wait;
      s.progress_at_wait = mark;
      // HYP_SERVER_WAIT says "every request taken so far is answered"; it
      // may be said owing an answer only while the response ring was full,
      // which this wait's taking of answers counts as progress. The server
      // then goes on at once: the ring has room now, and the guest owed the
      // answer may be blocked on another CPU with nobody else to run it.
      const bool owes = s.channel.owes_answer();
      if (corrupt == nullptr && !progress && owes) corrupt = "it waits owing an answer";
      work = work || owes || s.ffa_pending.load(std::memory_order_acquire);
    }
  }
  if (away_ticks != 0 && g_bench_report) {
    const uint64_t per_us = arch::counter_frequency() / 1'000'000;
    if (per_us != 0) console::print("hyp: server %s back after %lu us\n", s.partition->name.data(), away_ticks / per_us);
  }
  if (completed != 0 && s.tracing.load(std::memory_order_relaxed)) [[unlikely]] {
    traced(cpu, ipc::TraceEvent::kAnswer, s.vcpu(), completed);
  }
  const uint32_t here = donor_waits && g->pending.done.load(std::memory_order_relaxed) ? 1 : 0;
  if (completed > here) wake_answered(s, cpu);
  if (corrupt != nullptr) return server_failed(s, cpu, corrupt);
  if (stop) return stop_server(s, cpu);
  if (planned) return restart_server(s, cpu, "planned");
  // A run ends when the server waits having taken something; a server that
  // waits again and again with its work untouched is still in the same run,
  // and the watchdog's budget keeps counting.
  if (progress || !work) {
    s.run_ticks = 0;
    s.idle_waits = false;
  } else {
    s.run_ticks += arch::counter_ticks() - s.entered_at;
    s.idle_waits = true;
    if (s.run_ticks >= run_budget()) return server_failed(s, cpu, kWaitsWithoutWork);
  }
  if (!s.up.load(std::memory_order_relaxed) && !s.up.exchange(true) && s.console_owner) {
    console::print("hyp: server %s (id %u) owns the console now\n", s.partition->name.data(), s.partition->id);
    console::set_sink(log_to_server);
    work = true;
  }
  // More work: the server goes on, unless the guest it stands in for has
  // what it waited for (others' requests must not keep it from its CPU).
  const Vcpu* donor = g_cpus[cpu].guest;
  if (work && (donor == nullptr || !sched::wait_over(*donor, arch::counter_ticks_fast()))) {
    resume_from_ffa_wait(s);
    watch(s, g_cpus[cpu]);
    return &sv.ctx;
  }
  return leave_server(s, cpu, work);
}

// ---- Interrupts --------------------------------------------------------------

// The virtual machinery's PPIs, taken on CPU `c`, and interrupts that
// other CPUs made pending for the guest here (their wake-up SGI is what
// interrupted it). With a guest loaded (no server in its place), the
// virtual timer's goes to its list registers mapped (HW = 1: it stays
// active until the guest deactivates it), and the maintenance interrupt
// or another CPU's news has them filled again. A server's own timer (it
// has no virtual interrupts) is masked in its CNTV_CTL_EL0 and ended.
void virtual_interrupts(Cpu& c, const arch::Interrupts& irqs) {
  Vcpu* g = c.server == nullptr ? c.guest : nullptr;
  if (irqs.vtimer) {
    if (g != nullptr) {
      // Mapped, and placed with whatever else changed, in one refresh.
      g->irqs_changed.store(false, std::memory_order_seq_cst);
      vgic::Vgic& vg = g->partition->vgic;
      arch::save_list_registers(g->ctx);
      (void)vg.inject_hw(g->index, vgic::kVirtualTimerPpi, gic::kVirtualTimerPpi, g->ctx.lrs);
      g->vtimer_raised = true;
      if (vg.refresh(g->index, g->ctx.lrs)) arch::deactivate_interrupt(gic::kVirtualTimerPpi);
      arch::load_list_registers(g->ctx);
    } else {
      if (c.server != nullptr) arch::mask_virtual_timer();
      arch::deactivate_interrupt(gic::kVirtualTimerPpi);
    }
  }
  if (irqs.maintenance) {
    if (g != nullptr) refresh_irqs(*g);
    arch::deactivate_interrupt(gic::kMaintenancePpi);
  }
  if (g != nullptr && g->irqs_changed.load(std::memory_order_relaxed)) refresh_irqs(*g);
  // A server stands in for the guest here, whose list registers are live:
  // a query on another CPU waiting for them is answered by a sync.
  // (Read only: the server's ICH_HCR_EL2 stays; see sync_stood_in().)
  if (c.server != nullptr && c.guest != nullptr && c.guest->sync_wanted.load(std::memory_order_acquire)) {
    Vcpu& stood = *c.guest;
    arch::save_list_registers(stood.ctx);
    sync_irqs(stood);
  }
}

// The kernel's own interrupts, taken while vCPU `v` ran on CPU `cpu`
// (HCR_EL2.IMO routes physical IRQs to EL2 while a partition runs):
// acknowledged; then whatever they may announce is looked at. A wake-up SGI
// says "look at your queue, or at your vCPUs' partitions"; the timer says a
// deadline passed (a slice's end, a wake-up, a server's budget), or may
// fire early, which only makes this look again.
[[gnu::noinline]] VcpuContext* interrupted(Vcpu& v, size_t cpu) {
  const arch::Interrupts irqs = arch::acknowledge_interrupts();
  Cpu& c = g_cpus[cpu];
  // The common wake-up of a running guest: another CPU made an interrupt
  // pending for it. Only a wake-up SGI came, for the guest that runs here,
  // and since the last full look nothing was queued here and nobody asked
  // every CPU to look again: nothing but its list registers can need this
  // CPU's attention (a partition being stopped is checked too).
  if (!irqs.timer && !irqs.vtimer && !irqs.maintenance && !irqs.device && c.server == nullptr && c.guest == &v &&
      c.seen_events == arch::events_sent_count() &&
      c.seen_enqueued == sched::queue(cpu).enqueued.load(std::memory_order_acquire) &&
      !v.partition->stopping.load(std::memory_order_acquire)) [[likely]] {
    if (v.irqs_changed.load(std::memory_order_acquire)) refresh_irqs(v);
    return &v.ctx;
  }
  // Read before looking: what comes after is seen at the next interrupt.
  c.seen_events = arch::events_sent_count();
  c.seen_enqueued = sched::queue(cpu).enqueued.load(std::memory_order_acquire);
  if (irqs.device) take_device_interrupts();
  virtual_interrupts(c, irqs);
  const uint64_t now = arch::counter_ticks();
  // A guest whose partition is being stopped leaves, even if a server
  // stands in for it: the server goes on with its work.
  if (c.guest != nullptr && c.guest->partition->stopping.load(std::memory_order_acquire)) {
    Vcpu& g = *c.guest;
    if (c.server == nullptr) return leave_stopped(g);
    // Its timer and list registers are not loaded (the server's are): only
    // a timer interrupt left active for it is ended.
    if (g.partition->vgic.unmap_hw(g.index, g.ctx.lrs)) arch::deactivate_interrupt(gic::kVirtualTimerPpi);
    c.guest = nullptr;
    sched::retire(g, VcpuState::kStopped);
    arch::send_event();
  }
  const bool server_waiting = server_waits();
  c.deadline = sched::next_deadline(cpu, now, true, server_waiting);
  // Someone waits for this CPU (next_deadline() keeps a slice only then),
  // and the turn of what runs here is over.
  const bool slice_over = sched::queue(cpu).slice_end != 0 && now >= sched::queue(cpu).slice_end;
  if (c.server != nullptr) {
    Server& s = *c.server;
    if (s.run_ticks + (now - s.entered_at) >= run_budget()) {
      s.run_ticks += now - s.entered_at;
      return server_failed(s, cpu,
                           s.idle_waits ? kWaitsWithoutWork : "it ran past its budget without waiting (a stuck loop?)");
    }
    // Someone waits (a vCPU here, or another server): its turn is over.
    if (slice_over) return preempt_server(s, cpu, now);
    // Its stretch on the CPU goes on: what it ran so far counts.
    s.run_ticks += now - s.entered_at;
    watch(s, c);
    return &v.ctx;
  }
  if (slice_over) {
    put_away(v);
    c.guest = nullptr;
    sched::requeue(v);
    return schedule(cpu);
  }
  choose_wfi_trap(v, cpu, true);
  physical_timer_level(v, now);
  if (v.irqs_changed.load(std::memory_order_relaxed)) refresh_irqs(v);
  arm_for_guest(c, v, now);
  return &v.ctx;
}

// An SError taken while vCPU `v` ran.
[[gnu::noinline]] VcpuContext* serror(Vcpu& v) {
  Partition& p = *v.partition;
  console::print("hyp: %s: vCPU %u: SError at pc 0x%lx (ESR 0x%lx)\n", p.name.data(), v.index, v.ctx.pc,
                 arch::read_trap_syndrome().esr);
  if (p.kind == PartitionKind::kServer) return server_failed(*server_of(&p), v.cpu, "SError");
  return stop_or_reset(v, false, "stopped after an SError");
}

bool console_busy() {
  Server* s = g_console;
  if (s == nullptr || s->failed.load(std::memory_order_acquire)) return false;
  return s->running_on.load(std::memory_order_acquire) >= 0 || needs_cpu(*s);
}

// A server that has never run, one with work nobody is doing, or the
// console owner with log lines: claimed for CPU `cpu`.
Server* server_to_run(size_t cpu) {
  // Starting after the one taken last here: servers that need a CPU take
  // turns.
  Cpu& c = g_cpus[cpu];
  for (size_t k = 1; k <= g_server_count; ++k) {
    const size_t i = (c.last_server + k) % g_server_count;
    Server& s = g_servers[i];
    if (s.failed.load(std::memory_order_acquire) || s.running_on.load(std::memory_order_acquire) >= 0) continue;
    if (needs_cpu(s) && claim(s, cpu)) {
      c.last_server = i;
      return &s;
    }
  }
  if (Server* s = log_server_to_kick(); s != nullptr && claim(*s, cpu)) return s;
  return nullptr;
}

}  // namespace

VcpuContext* schedule(size_t cpu) {
  if (!g_ready.load(std::memory_order_acquire)) return nullptr;
  // Every guest has stopped and the console server has printed all it had
  // (it runs below until then): the first CPU to see it powers off.
  if (g_powering_off.load(std::memory_order_acquire) && !console_busy() &&
      !g_power_off_started.exchange(true, std::memory_order_acq_rel)) {
    power_off_machine();
  }
  take_device_interrupts();
  Cpu& c = g_cpus[cpu];
  const uint64_t now = arch::counter_ticks();
  (void)sched::wake_due(cpu, now);
  // Servers with work go first (a guest may be blocked on them), but not
  // straight after one was taken off here for the guests' sake.
  // A server put on this CPU gets a slice if vCPUs wait here, like a vCPU.
  auto run_server = [&](Server& s) {
    s.vcpu().state = VcpuState::kRunning;
    sched::queue(cpu).slice_end = 0;  // its own slice, not what was left of the last one
    c.deadline = sched::next_deadline(cpu, now, true, server_waits());
    return enter_server(s, cpu);
  };
  if (!c.guests_first) {
    if (Server* s = server_to_run(cpu); s != nullptr) return run_server(*s);
  }
  c.guests_first = false;
  if (Vcpu* v = sched::pick(cpu, now); v != nullptr) return enter_guest(*v, cpu);
  if (Server* s = server_to_run(cpu); s != nullptr) return run_server(*s);
  rearm(cpu, now);
  return nullptr;
}

namespace {

// The package's memory grants, as FF-A shares the kernel makes and the
// servers hold from the start.
Status make_grants(Partition* partitions, size_t count, const Package& package, Partition*& failed) {
  for (size_t i = 0; i < count; ++i) {
    const PackagedPartition& image = package.partitions[i];
    for (size_t j = 0; j < image.grant_count; ++j) {
      const PackageGrant& g = image.grants[j];
      Partition* servers[package::kMaxGrantServers] = {};
      for (size_t k = 0; k < g.server_count; ++k) servers[k] = &partitions[g.servers[k]];
      uint64_t handle = 0;
      const ffa::Error e = ffa_memory_grant(partitions[i], servers, g.server_count, g.ipa.value(), g.size, handle);
      if (e != ffa::kNoError) {
        console::print("hyp: partition %s: memory grant %zu (0x%lx+0x%lx) refused: FF-A error %d\n",
                       partitions[i].name.data(), j, g.ipa.value(), g.size, static_cast<int>(e));
        failed = &partitions[i];
        return Status::kInvalidArgument;
      }
    }
  }
  return Status::kOk;
}

}  // namespace

Status run_init(Partition* partitions, size_t count, const Package* package, LoaderEnv& env, const uint64_t* mpidr,
                const bool* online, size_t cpus, Partition*& failed) {
  g_gic_dist = Pa{};  // until run_set_interrupt_controller()
  g_partitions = partitions;
  g_partition_count = count;
  ffa_set_partitions(partitions, count);
  g_run_budget = arch::counter_frequency() / 1000 * kServerRunBudgetMs;
  g_package = package;
  // Everything from any earlier call (host tests build several systems).
  g_ready.store(false, std::memory_order_relaxed);
  g_log_kick.store(false, std::memory_order_relaxed);
  g_powering_off.store(false, std::memory_order_relaxed);
  g_power_off_started.store(false, std::memory_order_relaxed);
  g_console = nullptr;
  g_server_count = 0;
  for (Cpu& c : g_cpus) c = Cpu{};
  for (Server& s : g_servers) {
    s.running_on.store(-1, std::memory_order_relaxed);
    s.up.store(false, std::memory_order_relaxed);
    s.failed.store(false, std::memory_order_relaxed);
    s.wanted.store(false, std::memory_order_relaxed);
    s.irq_pending.store(0, std::memory_order_relaxed);
    s.preempted.store(false, std::memory_order_relaxed);
    s.stopped.store(false, std::memory_order_relaxed);
    s.never_started = false;
    s.restarts = s.crashes_without_progress = s.failures = 0;
    s.done_at_last_crash = s.run_ticks = s.entered_at = s.progress_at_wait = s.last_failure_at = 0;
    s.last_failure = nullptr;
    s.idle_waits = false;
    SpinLockGuard guard(s.channel.lock);
    s.restart_caller = s.restarted_caller = nullptr;
    s.planned = Server::Planned::kNone;
  }
  sched::init(cpus, mpidr, online, arch::counter_frequency() / 1000);
  size_t guests = 0;
  for (size_t i = 0; i < count; ++i) {
    Partition& p = partitions[i];
    if (p.kind == PartitionKind::kGuest) {
      ++guests;
      for (size_t j = 0; j < p.vcpu_count; ++j) sched::place(p.vcpus[j], sched::least_loaded_cpu());
      // Each server learns which guest each of its devices serves.
      for (size_t j = 0; j < p.route_count; ++j) {
        const Route& r = p.routes[j];
        if (r.server == nullptr || r.device >= r.server->clients.size()) continue;
        r.server->clients[r.device] = &p;
        r.server->client_routes[r.device] = &r;
      }
      continue;
    }
    Server& s = g_servers[g_server_count++];
    s.partition = &p;
    p.server = &s;
    s.image = &package->partitions[i];
    if (Status st = attach_channel(*s.partition, env, s.channel); st != Status::kOk) {
      failed = s.partition;
      return st;
    }
    if (s.image->dma_pool_size != 0) {
      auto pool = attach_dma_pool(*s.partition, env, s.image->dma_pool_size);
      if (!pool.ok()) {
        failed = s.partition;
        return pool.status();
      }
      s.dma_pool = *pool;
    }
    // The server given the console UART owns the console.
    s.console_owner = g_console == nullptr && g_console_uart.value() != 0 && s.image->has_device_at(g_console_uart);
    if (s.console_owner) g_console = &s;
    // Not started at boot: nothing claims it, its devices read as zero, and
    // its channel takes nothing until a control partition starts it.
    if (s.image->stopped) {
      s.never_started = true;
      s.stopped.store(true, std::memory_order_relaxed);
      s.failed.store(true, std::memory_order_relaxed);
      SpinLockGuard guard(s.channel.lock);
      s.channel.fail_all(false);
    }
  }
  if (Status st = make_grants(partitions, count, *package, failed); st != Status::kOk) return st;
  for (size_t i = 0; i < g_server_count; ++i) write_info(g_servers[i]);
  g_running.store(guests, std::memory_order_release);
  return Status::kOk;
}

size_t home_of(const Vcpu& v) { return v.home; }

void run_set_interrupt_controller(Pa dist) { g_gic_dist = dist; }

void run_set_console_uart(Pa uart) { g_console_uart = uart; }

void run_print_bench_report(bool on) { g_bench_report = on; }

void run_trap_every_wfi(bool on) { g_trap_every_wfi = on; }

void run_trace_from_boot(bool on) {
  if (on) set_tracing(true);
}

void run_start(size_t self) {
  for (size_t i = 0; i < g_partition_count; ++i) {
    if (g_partitions[i].kind == PartitionKind::kGuest) start_vcpu0(g_partitions[i], self);
  }
  g_ready.store(true, std::memory_order_release);  // pairs with schedule()
  arch::send_event();
}

namespace {

// The run loop records on every vCPU it puts on a CPU which CPU that is,
// and the vCPU's next exit trusts the record (the CPU's state, the stack
// to go idle on). A record that disagrees with the CPU about to resume the
// vCPU is a kernel defect (the context may be held by two CPUs): it stops
// here, said plainly. Checked at every resume, the record is right at every
// exit.
[[gnu::noinline, noreturn]] void misplaced(const Vcpu& v, size_t cpu) {
  console::print("hyp: PANIC: CPU %zu resumes vCPU %u of %s, which the run loop records on CPU %u\n", cpu, v.index,
                 v.partition->name.data(), v.cpu);
  arch::halt();
}

[[gnu::always_inline]] inline void check_placed(const VcpuContext& next, size_t cpu) {
  const Vcpu& v = *reinterpret_cast<const Vcpu*>(&next);
  if (v.cpu != cpu) [[unlikely]] misplaced(v, cpu);
}

// ESR_EL2 of an HVC #0 from AArch64: EC 0x16, IL 1, the immediate 0.
constexpr uint64_t kEsrHvc0 = (uint64_t{static_cast<uint8_t>(Ec::kHvc64)} << 26) | (uint64_t{1} << 25);

// ---- The fast path of direct messages ------------------------------------------
//
// A direct request or response by HVC #0 is a device call's round trip
// (docs/ffa.md): taken from the exit straight to ffa_direct_message(), the
// check ffa_call() would make (so it gets the same answers), and from its
// verdict straight to the run loop's handling of it, with what it calls
// inlined. SMC, and HVC with the SVE hint, take the general way.
constexpr bool takes_fast_path(ExitKind kind, uint64_t esr, const VcpuContext& ctx) {
  return kind == ExitKind::kSync && esr == kEsrHvc0 && ffa_is_direct_message(static_cast<uint32_t>(ctx.x[0]));
}

[[gnu::always_inline]] inline VcpuContext* direct_message(Vcpu& v) {
  v.exits[static_cast<size_t>(Ec::kHvc64)].bump();
  if (v.tracing.load(std::memory_order_relaxed)) [[unlikely]] {
    traced(v.cpu, ipc::TraceEvent::kExit, v, static_cast<uint32_t>(Ec::kHvc64));
  }
  const TrapAction action = ffa_direct_message(v, static_cast<uint32_t>(v.ctx.x[0]));
  if (v.partition->kind == PartitionKind::kServer) {
    if (action != TrapAction::kDirectResponse) [[unlikely]] return server_exit(v, action);
    return server_responded(v);
  }
  if (action != TrapAction::kDirectRequest) [[unlikely]] return guest_exit(v, action);
  return direct_request(v);
}

// Both halves of an exit: the trap's answer, then what runs next. Inlined
// into the exception entry's C halves so that the common case (a guest
// resumes at once with nothing pending) costs a few instructions after
// handle_trap().
[[gnu::always_inline]] inline VcpuContext* exit_to_next(Vcpu& v, ExitKind kind, const TrapInfo& trap) {
  if (v.tracing.load(std::memory_order_relaxed)) [[unlikely]] {
    const uint32_t reason = kind == ExitKind::kSync ? static_cast<uint32_t>(trap.esr >> 26 & 0x3f)
                                                    : static_cast<uint32_t>(kExitIrq) + static_cast<uint32_t>(kind) - 1;
    traced(v.cpu, ipc::TraceEvent::kExit, v, reason);
  }
  if (kind == ExitKind::kSync) [[likely]] {
    const TrapAction action = handle_trap(v, trap);
    if (v.partition->kind == PartitionKind::kServer) return server_exit(v, action);
    if (action == TrapAction::kResume && v.waiting == VcpuWait::kNothing &&
        !g_log_kick.load(std::memory_order_relaxed) && !v.irqs_changed.load(std::memory_order_relaxed)) {
      return &v.ctx;
    }
    return guest_exit(v, action);
  }
  if (kind == ExitKind::kIrq) {
    v.exits[kExitIrq].bump();
    return interrupted(v, v.cpu);
  }
  if (kind == ExitKind::kSError) {
    v.exits[kExitSError].bump();
    return serror(v);
  }
  v.exits[kExitFiq].bump();
  return &v.ctx;  // FIQs are not used (Group 0 is off)
}

}  // namespace

VcpuContext* on_exit(Vcpu& v, ExitKind kind, const TrapInfo& trap) {
  const size_t cpu = v.cpu;
  VcpuContext* next = takes_fast_path(kind, trap.esr, v.ctx) ? direct_message(v) : exit_to_next(v, kind, trap);
  if (next != nullptr) check_placed(*next, cpu);
  return next;
}

namespace {

// Sleeps with nothing to run until woken, counting the time (hyp.bench).
void sleep_idle(size_t cpu) {
  const uint64_t from = arch::counter_ticks();
  arch::wait_for_event();
  if (cpu < g_idle_ticks.size()) g_idle_ticks[cpu].fetch_add(arch::counter_ticks() - from, std::memory_order_relaxed);
}

}  // namespace

[[noreturn]] void cpu_loop(size_t cpu) {
  for (;;) {
    if (VcpuContext* next = schedule(cpu); next != nullptr) {
      check_placed(*next, cpu);
      arch::enter_vcpu(*next, cpu);
    }
    // A wake-up sent after schedule() looked stays pending and ends this at once.
    sleep_idle(cpu);
  }
}

}  // namespace hyp

namespace hyp {
namespace {

// What runs after an exit from CPU `cpu`: `next`, checked; or, with nothing
// to run (schedule() found nothing and armed the timer), the CPU sleeps,
// then looks again, on a fresh stack.
[[gnu::always_inline]] inline VcpuContext* resume_next(VcpuContext* next, size_t cpu) {
  if (next == nullptr) [[unlikely]] {
    sleep_idle(cpu);
    cpu_loop(cpu);
  }
  check_placed(*next, cpu);
  return next;
}

}  // namespace
}  // namespace hyp

// The exception entry's C halves (kernel/arch/aarch64/exceptions.S), with
// the vCPU's general registers saved in `ctx`: each returns the context to
// resume; with nothing to run, the CPU goes idle on a fresh stack instead.
// The CPU the vCPU ran on is read first: once the run loop lets go of a
// server, another CPU may take it and write its record. (The record is
// right: checked when the vCPU was resumed here.)

// A synchronous exception, with its syndrome (FAR_EL2 and HPFAR_EL2 are
// UNKNOWN for most kinds: only their handlers read them).
extern "C" hyp::VcpuContext* vcpu_sync_exit(hyp::VcpuContext* ctx, uint64_t esr, uint64_t far, uint64_t hpfar) {
  using namespace hyp;
  static_assert(offsetof(Vcpu, ctx) == 0, "the entry hands over the context; the vCPU is the object around it");
  Vcpu& v = *reinterpret_cast<Vcpu*>(ctx);
  const size_t cpu = v.cpu;
  if (takes_fast_path(ExitKind::kSync, esr, *ctx)) return resume_next(direct_message(v), cpu);
  return resume_next(exit_to_next(v, ExitKind::kSync, TrapInfo{esr, far, hpfar}), cpu);
}

// An IRQ, FIQ or SError (`kind` 1, 2, 3).
extern "C" hyp::VcpuContext* vcpu_async_exit(hyp::VcpuContext* ctx, uint64_t kind) {
  using namespace hyp;
  Vcpu& v = *reinterpret_cast<Vcpu*>(ctx);
  const size_t cpu = v.cpu;
  return resume_next(exit_to_next(v, static_cast<ExitKind>(kind), TrapInfo{}), cpu);
}
