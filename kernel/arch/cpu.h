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

// This CPU's GIC CPU interface, for the kernel's own interrupts: system
// registers on, every priority unmasked, group 1 on. After the CPU's
// redistributor is set up (gic::init_redistributor).
void irq_cpu_interface_init();
// Acknowledges and ends every interrupt pending at this CPU's interface
// (the kernel's SGIs: their work is found by looking, not by their number).
// True if the watchdog timer was among them (it is then disarmed).
bool acknowledge_interrupts();

// The watchdog timer of this CPU (the EL2 physical timer, CNTHP): raises
// its interrupt once `ticks` counter ticks have passed from now, until
// disarmed. Returns now (the counter, read without ordering against earlier
// instructions: this is on the switch fast path, and a few instructions
// either way change nothing).
uint64_t watchdog_arm_in(uint64_t ticks);
void watchdog_disarm();

// A 64-bit random number from the CPU's RNDR (FEAT_RNG; the caller checks
// ID_AA64ISAR0_EL1.RNDR first). False when the hardware had none to give
// this time (RNDR sets Z): the caller may try again.
bool random64(uint64_t& out);

// The top of CPU `cpu`'s kernel stack (exceptions from partitions start there).
uint64_t kernel_stack_top(size_t cpu);

}  // namespace hyp::arch
