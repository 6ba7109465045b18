// Turning on EL2 stage-1 translation (Arm ARM D8.2 for TCR_EL2, D17.2 for
// SCTLR_EL2, non-VHE layouts).
#include "kernel/arch/aarch64/boot_layout.h"
#include "kernel/arch/aarch64/mair.h"
#include "kernel/arch/aarch64/sysreg.h"
#include "kernel/arch/mm.h"

namespace hyp::arch::mm {
namespace {

constexpr uint64_t kTcrRes1 = (uint64_t{1} << 31) | (uint64_t{1} << 23);
constexpr uint64_t kTcrT0sz = 64 - static_cast<uint64_t>(geometry(Regime::kEl2).input_bits);
constexpr uint64_t kTcrIrgn0Wbwa = uint64_t{1} << 8;
constexpr uint64_t kTcrOrgn0Wbwa = uint64_t{1} << 10;
constexpr uint64_t kTcrSh0Inner = uint64_t{3} << 12;
constexpr uint64_t kTcrTg0_4k = 0;
constexpr int kTcrPsShift = 16;
// PS at most 40 bits (encoding 2): what the tables are built for.
constexpr uint64_t kMaxPaRange = 2;

constexpr uint64_t kSctlrM = uint64_t{1} << 0;
constexpr uint64_t kSctlrC = uint64_t{1} << 2;
constexpr uint64_t kSctlrSa = uint64_t{1} << 3;
constexpr uint64_t kSctlrI = uint64_t{1} << 12;
constexpr uint64_t kSctlrWxn = uint64_t{1} << 19;

}  // namespace

void enable_translation(Pa root) {
  uint64_t pa_range = HYP_READ_SYSREG(id_aa64mmfr0_el1) & 0xf;
  if (pa_range > kMaxPaRange) pa_range = kMaxPaRange;
  const uint64_t tcr = kTcrRes1 | kTcrT0sz | kTcrIrgn0Wbwa | kTcrOrgn0Wbwa | kTcrSh0Inner | kTcrTg0_4k |
                       (pa_range << kTcrPsShift);
  HYP_WRITE_SYSREG(mair_el2, kMairValue);
  HYP_WRITE_SYSREG(tcr_el2, tcr);
  HYP_WRITE_SYSREG(ttbr0_el2, root.value());
  // Nothing stale may survive from before: TLBs and the instruction cache.
  dsb_ish();
  asm volatile("tlbi alle2" ::: "memory");
  asm volatile("ic iallu" ::: "memory");
  dsb_ish();
  isb();
  HYP_WRITE_SYSREG(sctlr_el2, SCTLR_EL2_RES1 | kSctlrM | kSctlrC | kSctlrSa | kSctlrI | kSctlrWxn);
  isb();
}

}  // namespace hyp::arch::mm
