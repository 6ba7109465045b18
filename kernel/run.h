// The run loop: what each physical CPU runs, and what happens when a
// partition's vCPU leaves it for EL2. Guest vCPUs are scheduled by
// kernel/sched/scheduler.h (fixed home CPUs, round robin, blocking waits);
// a device server's vCPU runs wherever it is needed: in place of a guest
// vCPU that waits for its answer (switched to directly, the fast path), or
// on a CPU with nothing better to do while it has work queued
// (docs/scheduler.md, docs/servers.md).
//
// Every function here returns what the CPU runs next: a vCPU context to
// enter, or null to sleep until woken (and then ask schedule() again). The
// exception entry calls vcpu_sync_exit() or vcpu_async_exit() (defined
// here, around what on_exit() does), and
// idle CPUs cpu_loop(); entering a vCPU is the arch layer's
// (arch::enter_vcpu). Host tests drive on_exit() and schedule() against
// the arch fake.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/boot/package.h"
#include "kernel/partition/loader.h"
#include "kernel/partition/partition.h"
#include "kernel/trap/dispatch.h"

namespace hyp {

// Everything the run loop needs: the partitions, their package, and the
// CPUs (`mpidr[i]` for CPU i, `online[i]` whether it runs). Gives every
// server its channel, makes the package's memory grants (ffa_memory_grant)
// and places every guest vCPU on a CPU. On failure `failed` names the
// server that has no channel (kNoMemory) or the guest whose grant was
// refused (kInvalidArgument, and the kernel said why).
Status run_init(Partition* partitions, size_t count, const Package* package, LoaderEnv& env, const uint64_t* mpidr,
                const bool* online, size_t cpus, Partition*& failed);

// Turns on vCPU 0 of every guest and lets the CPUs look for work.
void run_start(size_t self);
// The kernel's console UART (before run_init()): the server whose device
// memory holds it owns the console, printing the kernel's and guests' lines.
void run_set_console_uart(Pa uart);

// The physical distributor, through which devices' interrupts that servers
// own are ended (main.cc enables them).
void run_set_interrupt_controller(Pa dist);
// Print each CPU's idle time, each partition's exits by reason and each
// guest's virtual counter offset when a guest resets and when the last
// partition stops (the hypervisor's command line word hyp.bench;
// //tests/bench:linux_boot, //tests/bench:virtio_blk).
void run_print_bench_report(bool on);
// Trap every guest WFI, even that of a vCPU alone on its CPU, so that all
// idle time is the kernel's own and counted (hyp.trapwfi;
// //tests/bench:virtio_blk).
void run_trap_every_wfi(bool on);
// Record the trace from boot on (the command line word hyp.trace;
// //tests/bench:exits_traced). After run_init().
void run_trace_from_boot(bool on);

// The CPU placed for guest vCPU `v` (after run_init).
size_t home_of(const Vcpu& v);

// How a vCPU left for EL2 (the exception vector's group).
enum class ExitKind : uint8_t { kSync = 0, kIrq = 1, kFiq = 2, kSError = 3 };

// vCPU `v` (on CPU v.cpu) took an exception to EL2, its registers in v.ctx;
// `trap` is the syndrome of a synchronous one.
VcpuContext* on_exit(Vcpu& v, ExitKind kind, const TrapInfo& trap);

// What CPU `cpu`, which runs nothing, runs now. Null: nothing; its timer
// is armed for the next thing it must look at, and it may sleep.
VcpuContext* schedule(size_t cpu);

// CPU `cpu` runs what schedule() gives it, and sleeps in between. Never
// returns (each vCPU entry starts the CPU's kernel stack afresh).
[[noreturn]] void cpu_loop(size_t cpu);

}  // namespace hyp
