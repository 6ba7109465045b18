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
// waits for. send_event() wakes every CPU sleeping here, after making the
// caller's earlier memory writes visible to them.
void wait_for_event();
void send_event();

// A 64-bit random number from the CPU's RNDR (FEAT_RNG; the caller checks
// ID_AA64ISAR0_EL1.RNDR first). False when the hardware had none to give
// this time (RNDR sets Z): the caller may try again.
bool random64(uint64_t& out);

// The top of CPU `cpu`'s kernel stack (exceptions from partitions start there).
uint64_t kernel_stack_top(size_t cpu);

}  // namespace hyp::arch
