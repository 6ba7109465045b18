#include "kernel/trap/inject.h"

#include "kernel/trap/esr.h"
#include "kernel/vcpu/context.h"

namespace hyp {
namespace {

constexpr uint64_t kEsrIl = uint64_t{1} << 25;
constexpr uint64_t kEcShift = 26;
constexpr uint64_t kDfscSyncExternal = 0x10;
constexpr uint64_t kWnr = uint64_t{1} << 6;

// Vector offsets from VBAR_EL1 for synchronous exceptions (D1.10.2).
constexpr uint64_t kVectorCurrentSp0 = 0x000;
constexpr uint64_t kVectorCurrentSpx = 0x200;
constexpr uint64_t kVectorLower64 = 0x400;
constexpr uint64_t kVectorLower32 = 0x600;

uint64_t esr(Ec ec, uint64_t iss, bool il32) {
  return (uint64_t{static_cast<uint8_t>(ec)} << kEcShift) | (il32 ? kEsrIl : 0) | iss;
}

// SPSR fields of AArch32 state (Arm ARM C5.2.x, SPSR_EL2 for AArch32):
// IT[1:0] in bits 26:25 and IT[7:2] in bits 15:10.
constexpr uint64_t kSpsrItLowShift = 25;
constexpr uint64_t kSpsrItHighShift = 10;
constexpr uint64_t kSpsrItMask = (uint64_t{3} << kSpsrItLowShift) | (uint64_t{0x3f} << kSpsrItHighShift);

uint32_t it_state(uint64_t pstate) {
  return static_cast<uint32_t>(((pstate >> kSpsrItLowShift) & 3) | (((pstate >> kSpsrItHighShift) & 0x3f) << 2));
}

uint64_t with_it_state(uint64_t pstate, uint32_t it) {
  return (pstate & ~kSpsrItMask) | (uint64_t{it & 3} << kSpsrItLowShift) |
         (uint64_t{(it >> 2) & 0x3f} << kSpsrItHighShift);
}

}  // namespace

void skip_instruction(GuestPc& at, bool il32) {
  if ((at.pstate & kPstateAarch32) == 0) {
    at.pc += 4;
    return;
  }
  at.pc = (at.pc + (il32 ? 4 : 2)) & 0xffff'ffff;
  // ITAdvance: the block ends after its last instruction (IT[2:0] == 0),
  // otherwise the mask shifts left by one, keeping the base condition.
  uint32_t it = it_state(at.pstate);
  if (it == 0) return;
  it = (it & 7) == 0 ? 0 : (it & 0xe0) | ((it << 1) & 0x1f);
  at.pstate = with_it_state(at.pstate, it);
}

uint64_t esr_undefined(bool il32) { return esr(Ec::kUnknown, 0, il32); }

uint64_t esr_external_data_abort(bool from_el0, bool write, bool il32) {
  return esr(from_el0 ? Ec::kDataAbortLower : Ec::kDataAbortSame, kDfscSyncExternal | (write ? kWnr : 0), il32);
}

uint64_t esr_external_instruction_abort(bool from_el0) {
  return esr(from_el0 ? Ec::kInstAbortLower : Ec::kInstAbortSame, kDfscSyncExternal, true);
}

void inject_sync(GuestPc& at, El1ExceptionRegs& el1, uint64_t syndrome, const uint64_t* far) {
  uint64_t offset;
  if ((at.pstate & kPstateAarch32) != 0) {
    offset = kVectorLower32;
  } else {
    switch (at.pstate & kPstateModeMask) {
      case kPstateEl1h: offset = kVectorCurrentSpx; break;
      case kPstateEl1t: offset = kVectorCurrentSp0; break;
      default: offset = kVectorLower64; break;  // EL0t
    }
  }
  el1.elr_el1 = at.pc;
  el1.spsr_el1 = at.pstate;
  el1.esr_el1 = syndrome;
  if (far != nullptr) el1.far_el1 = *far;
  at.pc = el1.vbar_el1 + offset;
  at.pstate = kPstateEl1h | kPstateDaif;
}

}  // namespace hyp
