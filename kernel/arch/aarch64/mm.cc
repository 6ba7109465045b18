// VMSAv8-64 descriptors (Arm ARM D8.3) for the EL2 stage-1 regime and the
// Stage-2 regime, 4 KiB granule. EL2 attribute indices refer to MAIR_EL2 as
// programmed by mmu.cc; Stage-2 attributes are encoded directly (FWB off).
#include "kernel/arch/mm.h"

#include "kernel/arch/aarch64/mair.h"
#include "kernel/arch/aarch64/sysreg.h"

namespace hyp::arch::mm {
namespace {

constexpr Pte kValid = 1u << 0;
constexpr Pte kTableOrPage = 1u << 1;  // table at levels 0-2, page at level 3
constexpr Pte kShInner = Pte{3} << 8;
constexpr Pte kAccessFlag = Pte{1} << 10;
constexpr Pte kAddressMask = 0x0000'ffff'ffff'f000;

// EL2 stage 1.
constexpr int kAttrIndexShift = 2;
constexpr Pte kAttrIndexMask = Pte{7} << kAttrIndexShift;
constexpr Pte kApRes1 = Pte{1} << 6;  // AP[1] is RES1 in the EL2 regime
constexpr Pte kApReadOnly = Pte{1} << 7;
constexpr Pte kXn = Pte{1} << 54;

// Stage 2.
constexpr int kS2MemAttrShift = 2;
constexpr Pte kS2MemAttrMask = Pte{0xf} << kS2MemAttrShift;
constexpr Pte kS2MemAttrNormalWb = Pte{0xf} << kS2MemAttrShift;  // outer WB, inner WB
constexpr Pte kS2MemAttrDevice = Pte{0x0} << kS2MemAttrShift;    // Device-nGnRnE
constexpr Pte kS2ApRead = Pte{1} << 6;
constexpr Pte kS2ApWrite = Pte{1} << 7;
constexpr Pte kS2Xn = Pte{2} << 53;  // XN[1:0] = 0b10: not executable at EL1 or EL0
constexpr int kSwShift = 55;         // software bits [58:55]
constexpr Pte kSwMask = Pte{7} << kSwShift;

}  // namespace

bool block_allowed(Regime /*regime*/, int level) { return level >= 1 && level <= 3; }

Pte absent_pte(Regime /*regime*/, int /*level*/) { return 0; }

Pte table_pte(Regime /*regime*/, Pa next_table, int /*level*/) {
  return (next_table.value() & kAddressMask) | kTableOrPage | kValid;
}

Pte leaf_pte(Regime regime, Pa pa, Attrs attrs, int level) {
  Pte pte = (pa.value() & kAddressMask) | kValid | kAccessFlag;
  if (level == kLeafLevel) pte |= kTableOrPage;
  if (attrs.type == MemType::kNormal) pte |= kShInner;
  if (regime == Regime::kEl2) {
    pte |= kApRes1;
    pte |= (attrs.type == MemType::kNormal ? kMairIndexNormal : kMairIndexDevice) << kAttrIndexShift;
    if (!attrs.write) pte |= kApReadOnly;
    if (!attrs.exec) pte |= kXn;
    return pte;
  }
  pte |= attrs.type == MemType::kNormal ? kS2MemAttrNormalWb : kS2MemAttrDevice;
  if (attrs.read) pte |= kS2ApRead;
  if (attrs.write) pte |= kS2ApWrite;
  if (!attrs.exec) pte |= kS2Xn;
  pte |= static_cast<Pte>(attrs.state) << kSwShift;
  return pte;
}

bool pte_present(Regime /*regime*/, Pte pte, int /*level*/) { return (pte & kValid) != 0; }

bool pte_is_table(Regime /*regime*/, Pte pte, int level) {
  return level < kLeafLevel && (pte & (kValid | kTableOrPage)) == (kValid | kTableOrPage);
}

Pa pte_address(Regime /*regime*/, Pte pte, int /*level*/) { return Pa(pte & kAddressMask); }

Attrs pte_attrs(Regime regime, Pte pte, int /*level*/) {
  if (regime == Regime::kEl2) {
    const auto index = (pte & kAttrIndexMask) >> kAttrIndexShift;
    return Attrs{
        .type = index == kMairIndexNormal ? MemType::kNormal : MemType::kDevice,
        .read = true,
        .write = (pte & kApReadOnly) == 0,
        .exec = (pte & kXn) == 0,
        .state = PageState::kOwned,
    };
  }
  return Attrs{
      .type = (pte & kS2MemAttrMask) == kS2MemAttrDevice ? MemType::kDevice : MemType::kNormal,
      .read = (pte & kS2ApRead) != 0,
      .write = (pte & kS2ApWrite) != 0,
      .exec = (pte & kS2Xn) == 0,
      .state = static_cast<PageState>((pte & kSwMask) >> kSwShift),
  };
}

// EL2 runs identity-mapped: a table's physical address is its address.
Pte* table_from_pa(Pa table) { return reinterpret_cast<Pte*>(table.value()); }

void* phys_to_virt(Pa pa) { return reinterpret_cast<void*>(pa.value()); }

void write_pte(Pte* slot, Pte value) {
  *reinterpret_cast<volatile Pte*>(slot) = value;
  // Make the descriptor visible to the table walker before any TLB
  // maintenance or translation that depends on it.
  dsb_ishst();
}

namespace {

// CTR_EL0.DminLine: log2 of the smallest data cache line, in words.
uint64_t dcache_line() { return uint64_t{4} << ((HYP_READ_SYSREG(ctr_el0) >> 16) & 0xf); }

}  // namespace

// DC `op` on eight consecutive `step`-byte blocks from address `at`.
#define HYP_DC_STEP(op) "add x16, x16, %[s]\n\tdc " op ", x16\n\t"
#define HYP_DC_EIGHT(op, at, step)                                                                       \
  asm volatile("dc " op ", %[a]\n\tadd x16, %[a], %[s]\n\tdc " op ", x16\n\t" HYP_DC_STEP(op) HYP_DC_STEP(op) \
                   HYP_DC_STEP(op) HYP_DC_STEP(op) HYP_DC_STEP(op) "add x16, x16, %[s]\n\tdc " op ", x16" \
               :                                                                                         \
               : [a] "r"(at), [s] "r"(step)                                                              \
               : "x16", "memory")

// Both loops below do eight lines or blocks per iteration: clearing a
// server's RAM on each restart is most of the restart's cost.
void zero(void* va, uint64_t size) {
  auto p = reinterpret_cast<uint64_t>(va);
  const uint64_t end = p + size;
  const uint64_t dczid = HYP_READ_SYSREG(dczid_el0);
  if ((dczid & (1u << 4)) == 0) {  // DZP clear: DC ZVA is permitted
    const uint64_t block = uint64_t{4} << (dczid & 0xf);
    const uint64_t first = (p + block - 1) & ~(block - 1);
    const uint64_t last = end & ~(block - 1);
    if (first < last) {
      __builtin_memset(reinterpret_cast<void*>(p), 0, first - p);
      for (p = first; last - p >= 8 * block; p += 8 * block) {
        HYP_DC_EIGHT("zva", p, block);
      }
      for (; p < last; p += block) asm volatile("dc zva, %0" ::"r"(p) : "memory");
    }
  }
  __builtin_memset(reinterpret_cast<void*>(p), 0, end - p);
}

void clean_to_poc(const void* va, uint64_t size) {
  const uint64_t line = dcache_line();
  uint64_t p = reinterpret_cast<uint64_t>(va) & ~(line - 1);
  const uint64_t end = reinterpret_cast<uint64_t>(va) + size;
  for (; end - p >= 8 * line && p < end; p += 8 * line) {
    HYP_DC_EIGHT("cvac", p, line);
  }
  for (; p < end; p += line) asm volatile("dc cvac, %0" ::"r"(p) : "memory");
  dsb_ish();
}

void invalidate_icache() {
  dsb_ish();
  asm volatile("ic ialluis" ::: "memory");
  dsb_ish();
  isb();
}

void invalidate_el2_tlbs() {
  dsb_ishst();
  asm volatile("tlbi alle2is" ::: "memory");
  dsb_ish();
  isb();
}

void invalidate_stage2_tlbs(uint16_t vmid) {
  // TLBI VMALLS12E1IS acts on the VMID in VTTBR_EL2: switch to it briefly.
  const uint64_t saved = HYP_READ_SYSREG(vttbr_el2);
  dsb_ishst();
  HYP_WRITE_SYSREG(vttbr_el2, uint64_t{vmid} << 48);
  isb();
  asm volatile("tlbi vmalls12e1is" ::: "memory");
  dsb_ish();
  HYP_WRITE_SYSREG(vttbr_el2, saved);
  isb();
}

}  // namespace hyp::arch::mm
