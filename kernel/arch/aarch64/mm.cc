// VMSAv8-64 stage-1 descriptors for the EL2 translation regime (Arm ARM
// D8.3, 4 KiB granule). Attribute indices refer to MAIR_EL2 as programmed by
// mmu.cc.
#include "kernel/arch/mm.h"

#include "kernel/arch/aarch64/mair.h"
#include "kernel/arch/aarch64/sysreg.h"

namespace hyp::arch::mm {
namespace {

constexpr Pte kValid = 1u << 0;
constexpr Pte kTableOrPage = 1u << 1;  // table at levels 0-2, page at level 3
constexpr int kAttrIndexShift = 2;
constexpr Pte kAttrIndexMask = Pte{7} << kAttrIndexShift;
constexpr Pte kApRes1 = Pte{1} << 6;   // AP[1] is RES1 in the EL2 regime
constexpr Pte kApReadOnly = Pte{1} << 7;
constexpr Pte kShInner = Pte{3} << 8;
constexpr Pte kAccessFlag = Pte{1} << 10;
constexpr Pte kXn = Pte{1} << 54;
constexpr Pte kAddressMask = 0x0000'ffff'ffff'f000;

}  // namespace

bool block_allowed(int level) { return level >= 1 && level <= 3; }

Pte absent_pte(int /*level*/) { return 0; }

Pte table_pte(Pa next_table, int /*level*/) { return (next_table.value() & kAddressMask) | kTableOrPage | kValid; }

Pte leaf_pte(Pa pa, Attrs attrs, int level) {
  Pte pte = (pa.value() & kAddressMask) | kValid | kAccessFlag | kApRes1;
  if (level == kLeafLevel) pte |= kTableOrPage;
  if (attrs.type == MemType::kNormal) {
    pte |= Pte{kMairIndexNormal} << kAttrIndexShift | kShInner;
  } else {
    pte |= Pte{kMairIndexDevice} << kAttrIndexShift;
  }
  if (!attrs.write) pte |= kApReadOnly;
  if (!attrs.exec) pte |= kXn;
  return pte;
}

bool pte_present(Pte pte, int /*level*/) { return (pte & kValid) != 0; }

bool pte_is_table(Pte pte, int level) { return level < kLeafLevel && (pte & (kValid | kTableOrPage)) == (kValid | kTableOrPage); }

Pa pte_address(Pte pte, int /*level*/) { return Pa(pte & kAddressMask); }

Attrs pte_attrs(Pte pte, int /*level*/) {
  const auto index = (pte & kAttrIndexMask) >> kAttrIndexShift;
  return Attrs{
      .type = index == kMairIndexNormal ? MemType::kNormal : MemType::kDevice,
      .write = (pte & kApReadOnly) == 0,
      .exec = (pte & kXn) == 0,
  };
}

// EL2 runs identity-mapped: a table's physical address is its address.
Pte* table_from_pa(Pa table) { return reinterpret_cast<Pte*>(table.value()); }

void write_pte(Pte* slot, Pte value) {
  *reinterpret_cast<volatile Pte*>(slot) = value;
  // Make the descriptor visible to the table walker before any TLB
  // maintenance or translation that depends on it.
  dsb_ishst();
}

void invalidate_el2_tlbs() {
  dsb_ishst();
  asm volatile("tlbi alle2is" ::: "memory");
  dsb_ish();
  isb();
}

}  // namespace hyp::arch::mm
