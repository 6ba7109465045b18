// Decoding a data abort with a valid syndrome (ISV = 1) into the access it
// describes, and completing such an access on the vCPU. Linux's MMIO
// accessors compile to single LDR/STR forms, which report ISV = 1; others
// (LDP/STP, writeback forms) report ISV = 0 and are not decoded here.
#pragma once

#include <cstdint>
#include <optional>

#include "base/addr.h"
#include "kernel/trap/esr.h"
#include "kernel/vcpu/context.h"

namespace hyp {

struct MmioAccess {
  Ipa ipa;
  uint8_t bytes;      // 1, 2, 4 or 8
  bool write;
  uint8_t reg;        // Xt/Wt; 31 means XZR/WZR (AArch64 only)
  bool sign_extend;   // loads: sign-extend to the register width
  bool sixty_four;    // loads: the register is Xt (else Wt, upper half zeroed)
  bool il32;          // ESR.IL: a 32-bit instruction (else 16-bit T32)
  bool va_valid;      // `va` holds the faulting virtual address (ESR.FnV clear)
  uint64_t va;        // FAR: reported again if the access is answered with an abort
};

// Null if the syndrome does not describe a single register access (ISV = 0,
// a cache-maintenance or stage-1-walk fault, or, from AArch32 state, a
// register other than R0..R14 of the user-mode view). `far` is FAR_EL2.
std::optional<MmioAccess> decode_mmio(EsrDataAbort esr, Ipa ipa, uint64_t far, bool aarch32);

// The value a write stores: Rt truncated to the access width (0 for XZR).
uint64_t mmio_write_value(const VcpuContext& ctx, const MmioAccess& access);

// Completes a read with `value` (the device's bytes, zero-extended), applying
// width, sign extension and register width; steps past the access.
void complete_mmio_read(VcpuContext& ctx, const MmioAccess& access, uint64_t value);

// Completes a write: steps past the access.
void complete_mmio_write(VcpuContext& ctx, const MmioAccess& access);

// Steps past the trapped instruction (skip_instruction on the context).
void step_over(VcpuContext& ctx, bool il32);

}  // namespace hyp
