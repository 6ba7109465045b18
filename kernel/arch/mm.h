// Architecture interface for translation tables: descriptor encoding for the
// kernel's own EL2 stage-1 regime and for partitions' Stage-2 regime, access
// to table pages by physical address, and TLB maintenance. The AArch64
// implementation follows VMSAv8-64 (Arm ARM D8.3, 4 KiB granule); the host
// fake deliberately uses another layout at every level and in each regime,
// so that generic code cannot depend on real bit positions.
#pragma once

#include <cstdint>

#include "base/addr.h"

namespace hyp::arch::mm {

using Pte = uint64_t;

enum class Regime : uint8_t {
  kEl2,     // the kernel's own stage-1 tables (TTBR0_EL2), VA -> PA
  kStage2,  // a partition's Stage-2 tables (VTTBR_EL2), IPA -> PA
};

inline constexpr int kLeafLevel = 3;
inline constexpr int kEntriesPerTable = 512;

// Where a walk starts and how many input address bits a regime translates.
struct Geometry {
  int root_level;
  int input_bits;
};

constexpr Geometry geometry(Regime r) {
  // EL2: 39-bit VA from level 1. Stage 2: 40-bit IPA from level 0 (one root
  // page of which two entries are usable; VTCR_EL2.SL0 = 2).
  return r == Regime::kEl2 ? Geometry{1, 39} : Geometry{0, 40};
}

constexpr uint64_t level_shift(int level) { return kPageShift + 9 * static_cast<uint64_t>(kLeafLevel - level); }
constexpr uint64_t level_size(int level) { return uint64_t{1} << level_shift(level); }
constexpr int level_index(uint64_t address, int level) {
  return static_cast<int>((address >> level_shift(level)) & (kEntriesPerTable - 1));
}

enum class MemType : uint8_t {
  kNormal,  // write-back cacheable, inner shareable
  kDevice,  // Device-nGnRnE
};

// Ownership state of a page in a partition's Stage-2 tables, kept in the
// descriptor's software bits (FF-A's ownership and access states). The
// transitions between them are kernel/ffa/ownership.h's; every mapping
// records one.
enum class PageState : uint8_t {
  kOwned = 0,        // owned, exclusive access
  kSharedOwned = 1,  // owned, access shared with a borrower
  kLent = 2,         // owned, access given to a borrower (no access here)
  kBorrowed = 3,     // not owned, exclusive access
  kSharedBorrowed = 4,
  kDonated = 5,  // given away, not taken yet (no access here)
};

struct Attrs {
  MemType type = MemType::kNormal;
  bool read = true;
  bool write = false;
  bool exec = false;
  PageState state = PageState::kOwned;  // Stage 2 only; always kOwned for EL2

  constexpr bool operator==(const Attrs&) const = default;
};

// Whether a leaf ("block") entry is allowed at `level` in `regime`.
bool block_allowed(Regime regime, int level);

Pte absent_pte(Regime regime, int level);
Pte table_pte(Regime regime, Pa next_table, int level);
Pte leaf_pte(Regime regime, Pa pa, Attrs attrs, int level);

bool pte_present(Regime regime, Pte pte, int level);
bool pte_is_table(Regime regime, Pte pte, int level);  // present and pointing to a next-level table
Pa pte_address(Regime regime, Pte pte, int level);     // output address or next table
Attrs pte_attrs(Regime regime, Pte pte, int level);    // for leaves only

// Access to a table page by its physical address.
Pte* table_from_pa(Pa table);

// The kernel's view of physical memory it manages (partition memory, the
// boot package): identity-mapped at EL2. Null if `pa` is not such memory.
void* phys_to_virt(Pa pa);

// Publishes a descriptor write to the table walker (and records it in the fake).
void write_pte(Pte* slot, Pte value);

// Turns on EL2 stage-1 translation with data and instruction caches, using
// the tables rooted at `root`. Called once per CPU, identity-mapped.
void enable_translation(Pa root);

// Partition memory as the kernel writes it for a partition that starts with
// its MMU and caches off (Arm ARM D7.5, "Cache maintenance requirements"):
// what the kernel wrote through its cacheable mapping must reach the point
// of coherency before the partition reads it uncached, and no instruction
// cache may hold a stale copy of code the kernel replaced.
//
// Sets [va, va + size) to zero, quickly (DC ZVA where permitted).
void zero(void* va, uint64_t size);
// Cleans [va, va + size) from the data caches to the point of coherency.
void clean_to_poc(const void* va, uint64_t size);
// Invalidates all instruction caches to the point of unification, on every
// CPU in the inner shareable domain.
void invalidate_icache();

// Invalidates all EL2 TLB entries on every CPU in the inner shareable domain
// and waits for completion.
void invalidate_el2_tlbs();

// Invalidates, on every CPU, the Stage-2 and combined stage-1/2 TLB entries
// of the VM with `vmid` (which the caller must make current in VTTBR_EL2 or
// pass through; see the implementation).
void invalidate_stage2_tlbs(uint16_t vmid);

}  // namespace hyp::arch::mm
