// Architecture interface for the kernel's own (EL2 stage-1) translation
// tables: descriptor encoding, physical-to-virtual access to table pages, and
// TLB maintenance. The AArch64 implementation follows the VMSAv8-64 formats
// (Arm ARM D8.3); the host fake deliberately uses another layout at every
// level so that generic code cannot depend on the real bit positions.
#pragma once

#include <cstdint>

#include "base/addr.h"

namespace hyp::arch::mm {

using Pte = uint64_t;

// Translation starts at level kRootLevel and ends at level 3 (4 KiB pages).
inline constexpr int kRootLevel = 1;
inline constexpr int kLeafLevel = 3;
inline constexpr int kEntriesPerTable = 512;
inline constexpr int kVaBits = 39;

// Bytes mapped by one entry at `level`.
constexpr uint64_t level_shift(int level) { return kPageShift + 9 * static_cast<uint64_t>(kLeafLevel - level); }
constexpr uint64_t level_size(int level) { return uint64_t{1} << level_shift(level); }
constexpr int level_index(Va va, int level) {
  return static_cast<int>((va.value() >> level_shift(level)) & (kEntriesPerTable - 1));
}

enum class MemType : uint8_t {
  kNormal,        // write-back cacheable, inner shareable
  kDevice,        // Device-nGnRnE
};

struct Attrs {
  MemType type = MemType::kNormal;
  bool write = false;
  bool exec = false;

  constexpr bool operator==(const Attrs&) const = default;
};

// Whether a leaf ("block") entry is allowed at `level`.
bool block_allowed(int level);

Pte absent_pte(int level);
Pte table_pte(Pa next_table, int level);
Pte leaf_pte(Pa pa, Attrs attrs, int level);

bool pte_present(Pte pte, int level);
bool pte_is_table(Pte pte, int level);  // present and pointing to a next-level table
Pa pte_address(Pte pte, int level);     // output address or next table
Attrs pte_attrs(Pte pte, int level);    // for leaves only

// Access to a table page by its physical address.
Pte* table_from_pa(Pa table);

// Publishes a descriptor write to the table walker (and records it in the fake).
void write_pte(Pte* slot, Pte value);

// Turns on EL2 stage-1 translation with data and instruction caches, using
// the tables rooted at `root`. Called once per CPU, identity-mapped.
void enable_translation(Pa root);

// Invalidates all EL2 TLB entries on every CPU in the inner shareable domain
// and waits for completion.
void invalidate_el2_tlbs();

}  // namespace hyp::arch::mm
