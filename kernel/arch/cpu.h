// Architecture interface for the current CPU.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hyp::arch {

// MPIDR_EL1 affinity fields (Aff3..Aff0) of the calling CPU.
uint64_t current_mpidr();

// Parks the calling CPU forever with interrupts masked.
[[noreturn]] void halt();

// The system counter (CNTPCT_EL0) and its frequency in Hz (CNTFRQ_EL0).
uint64_t counter_ticks();
uint64_t counter_frequency();

// Waits a little; used in polling loops.
void cpu_relax();

// Sleeps until an event (or any other wake-up): the caller re-checks what it
// waits for. send_event() wakes every other CPU sleeping here, after making
// the caller's earlier memory writes visible to them. On AArch64 a CPU
// sleeps in WFI (so that an idle CPU really idles: SEV does not end WFI) and
// is woken by the kernel's wake-up SGI (kernel/irq/gic.h), acknowledged
// here before the caller looks again; a wake-up sent after the caller's
// last look stays pending and ends the next WFI at once.
void wait_for_event();
void send_event();
// How many send_event() calls this machine has made so far (any CPU): a
// CPU that saw the same count before and after some work knows nobody
// asked every CPU to look again meanwhile.
uint64_t events_sent_count();
// Interrupts the CPU with affinity `mpidr` (the kernel's wake-up SGI): it
// leaves a partition for EL2, or stops sleeping, and looks at its queue.
void wake_cpu(uint64_t mpidr);

// This CPU's GIC CPU interface, for the kernel's own interrupts: system
// registers on, every priority unmasked, group 1 on. After the CPU's
// redistributor is set up (gic::init_redistributor).
void irq_cpu_interface_init();
// What acknowledge_interrupts() took.
struct Interrupts {
  bool timer = false;        // this CPU's timer (then disarmed)
  bool vtimer = false;       // the EL1 virtual timer's PPI: still active
  bool maintenance = false;  // the GIC's maintenance PPI: still active
  bool device = false;       // SPIs: still active, see take_device_interrupt()
};
// Acknowledges every interrupt pending at this CPU's interface (the CPU
// interface runs with EOImode 1: priority drop and deactivation apart).
// The kernel's SGIs and its timer are ended at once (their work is found
// by looking, not by their number). The virtual timer's and maintenance
// PPIs are level-triggered by state the caller changes: they stay active,
// so they do not fire again, until deactivate_interrupt() (or, for the
// virtual timer mapped into a guest's list register with HW = 1, the
// guest's own deactivation).
Interrupts acknowledge_interrupts();
void deactivate_interrupt(uint32_t intid);
// SPIs (devices' interrupts, for their servers) taken by any CPU, whose
// priority was dropped: one at a time, true while there are any. The
// caller ends each (gic::deactivate_spi) once its server has seen to it.
bool take_device_interrupt(uint32_t& intid);

// This CPU's timer (the EL2 physical timer, CNTHP), which the scheduler
// multiplexes (slice ends, wake-ups, the servers' watchdog): raises its
// interrupt once the counter reaches `deadline`, until disarmed or set
// again. 0 disarms it.
void timer_arm_at(uint64_t deadline);
// The counter, read without ordering against earlier instructions (for the
// switch fast path, where a few instructions either way change nothing).
uint64_t counter_ticks_fast();

// A 64-bit random number from the CPU's RNDR (FEAT_RNG; the caller checks
// ID_AA64ISAR0_EL1.RNDR first). False when the hardware had none to give
// this time (RNDR sets Z): the caller may try again.
bool random64(uint64_t& out);

// The top of CPU `cpu`'s kernel stack (exceptions from partitions start there).
uint64_t kernel_stack_top(size_t cpu);

}  // namespace hyp::arch

namespace hyp {
struct VcpuContext;
}

namespace hyp::arch {

// Enters the vCPU whose state is `ctx` (loaded with vcpu_load) on CPU
// `cpu`, starting that CPU's kernel stack afresh: its next exit comes to
// the exception entry with an empty stack.
[[noreturn]] void enter_vcpu(VcpuContext& ctx, size_t cpu);

}  // namespace hyp::arch
