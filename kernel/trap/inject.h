// Injecting synchronous exceptions into a vCPU's EL1 (Arm ARM D1.10.2,
// "Exception entry"): what the hardware would do had the exception been
// taken to EL1 instead of EL2.
#pragma once

#include <cstdint>

namespace hyp {

// The EL1 registers an exception entry reads and writes. The caller moves
// them between the hardware (vCPU loaded) or the saved context and here.
struct El1ExceptionRegs {
  uint64_t vbar_el1;
  uint64_t elr_el1;
  uint64_t spsr_el1;
  uint64_t esr_el1;
  uint64_t far_el1;
};

// Where the vCPU was when the exception happened and where it resumes.
struct GuestPc {
  uint64_t pc;
  uint64_t pstate;
};

// Moves the vCPU past the instruction that trapped, as the hardware does on
// completing it (Arm ARM D1.x, "Instruction set state"; for T32, J1
// "ITAdvance"): by 4 bytes for a 32-bit instruction (ESR.IL = 1), by 2 for a
// 16-bit T32 one, wrapping at 32 bits in AArch32 state; inside an IT block
// the saved ITSTATE advances too, so the next instruction runs under its
// own condition.
void skip_instruction(GuestPc& at, bool il32);

// ESR values for injected exceptions.
uint64_t esr_undefined(bool il32);
// A synchronous external abort on a data access (DFSC 0x10), from EL0 or EL1.
uint64_t esr_external_data_abort(bool from_el0, bool write, bool il32);
uint64_t esr_external_instruction_abort(bool from_el0);

// Takes a synchronous exception with syndrome `esr` (and `far`, if the class
// reports one) to EL1: saves PC and PSTATE to ELR_EL1/SPSR_EL1, selects the
// vector for the current EL and stack, and enters EL1h with DAIF masked.
void inject_sync(GuestPc& at, El1ExceptionRegs& el1, uint64_t esr, const uint64_t* far);

}  // namespace hyp
