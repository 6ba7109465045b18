// The EL1 physical timer (CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTP_TVAL_EL0) of a
// guest vCPU, emulated as KVM offers it: its registers trap (CNTHCTL_EL2.
// EL1PCEN clear), its count is the physical counter (no offset), and its
// interrupt is the level-triggered PPI 30 of the vCPU's virtual GIC, high
// while the timer is enabled, unmasked and past its compare value. The
// kernel raises that level when the time comes (the vCPU's CPU timer is
// armed for it, or its wake-up from WFI) and lowers it when the guest's
// writes make the condition false.
#pragma once

#include <cstdint>

namespace hyp::ptimer {

inline constexpr uint64_t kEnable = 1;
inline constexpr uint64_t kMask = 2;
inline constexpr uint64_t kStatus = 4;

struct State {
  uint64_t ctl = 0;   // ENABLE and IMASK as written
  uint64_t cval = 0;
  bool line = false;  // the level last given to the virtual GIC
};

// What a trapped access did.
enum class Register : uint8_t { kCtl, kCval, kTval };

// A read at counter value `now`.
uint64_t read(const State& t, Register r, uint64_t now);
// A write at `now`. The caller then updates the interrupt (level()).
void write(State& t, Register r, uint64_t value, uint64_t now);

// The interrupt's level at `now`.
bool level(const State& t, uint64_t now);
// When the level rises next, if the timer is enabled and unmasked and not
// yet due: the compare value; 0 otherwise.
uint64_t deadline(const State& t, uint64_t now);

}  // namespace hyp::ptimer
