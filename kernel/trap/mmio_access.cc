#include "kernel/trap/mmio_access.h"

#include "kernel/trap/inject.h"

namespace hyp {
namespace {

uint64_t width_mask(unsigned bytes) { return bytes >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * bytes)) - 1; }

}  // namespace

std::optional<MmioAccess> decode_mmio(EsrDataAbort esr, Ipa ipa, uint64_t far, bool aarch32) {
  if (!esr.isv() || esr.cache_maintenance() || esr.s1ptw()) return std::nullopt;
  // From AArch32 (EL0 only: EL1 is AArch64), SRT is the AArch64 view of a
  // user-mode register: R0..R14 are X0..X14. Anything else is not a
  // register this vCPU could have named.
  if (aarch32 && esr.srt() > 14) return std::nullopt;
  return MmioAccess{
      .ipa = ipa,
      .bytes = static_cast<uint8_t>(esr.access_bytes()),
      .write = esr.write(),
      .reg = static_cast<uint8_t>(esr.srt()),
      .sign_extend = esr.sign_extend(),
      .sixty_four = esr.sixty_four(),
      .il32 = esr.il(),
      .va_valid = !esr.far_not_valid(),
      .va = far,
  };
}

void step_over(VcpuContext& ctx, bool il32) {
  GuestPc at{ctx.pc, ctx.pstate};
  skip_instruction(at, il32);
  ctx.pc = at.pc;
  ctx.pstate = at.pstate;
}

void complete_mmio_write(VcpuContext& ctx, const MmioAccess& access) { step_over(ctx, access.il32); }

uint64_t mmio_write_value(const VcpuContext& ctx, const MmioAccess& access) {
  if (access.reg == 31) return 0;
  return ctx.x[access.reg] & width_mask(access.bytes);
}

void complete_mmio_read(VcpuContext& ctx, const MmioAccess& access, uint64_t value) {
  uint64_t v = value & width_mask(access.bytes);
  if (access.sign_extend && access.bytes < 8) {
    const uint64_t sign = uint64_t{1} << (8 * access.bytes - 1);
    v = (v ^ sign) - sign;
  }
  if (!access.sixty_four) v &= 0xffff'ffff;
  if (access.reg != 31) ctx.x[access.reg] = v;
  step_over(ctx, access.il32);
}

}  // namespace hyp
