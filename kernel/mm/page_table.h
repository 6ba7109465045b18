// Translation tables built from the architecture's descriptor encoding
// (kernel/arch/mm.h), for either regime: the kernel's EL2 stage-1 tables or a
// partition's Stage-2 tables.
//
// Every operation is all-or-nothing. It first walks its range without
// writing, checking the request against what is mapped and counting the
// table pages it will need (new tables and block splits); only if the pool
// holds that many does it write. Changing a present descriptor's output
// address, memory type or block size follows break-before-make (Arm ARM
// D8.16.1): invalid, TLB invalidation, then the new descriptor. Permission
// and software-bit changes are written in place and invalidated once at the
// end of the operation.
#pragma once

#include <cstdint>
#include <optional>

#include "base/addr.h"
#include "base/status.h"
#include "kernel/arch/mm.h"
#include "kernel/mm/page_pool.h"

namespace hyp {

class PageTable {
 public:
  using Attrs = arch::mm::Attrs;
  using Regime = arch::mm::Regime;

  struct Translation {
    Pa pa;
    Attrs attrs;
    int level;  // the level of the leaf that maps it
  };

  // A table with an empty root from `pool`. `vmid` tags Stage-2 TLB entries.
  static Result<PageTable> create(PagePool& pool, Regime regime, uint16_t vmid = 0);

  constexpr PageTable() = default;

  // Maps [in, in + size) to [pa, pa + size) with the largest leaves the
  // alignment of both allows. kAlreadyExists if any page is mapped.
  Status map(uint64_t in, Pa pa, uint64_t size, Attrs attrs);

  // Removes every mapping in [in, in + size), splitting blocks that straddle
  // its ends. Unmapped pages in the range are fine.
  Status unmap(uint64_t in, uint64_t size);

  // Gives every page of [in, in + size) the attributes `attrs`, keeping its
  // output address. kNotFound if any page is not mapped.
  Status protect(uint64_t in, uint64_t size, Attrs attrs);

  std::optional<Translation> translate(uint64_t in) const;

  // Frees every table page, the root included. The table is empty after.
  void destroy();

  Pa root() const { return root_; }
  Regime regime() const { return regime_; }
  uint16_t vmid() const { return vmid_; }

  // Errors common to all operations: kInvalidArgument for unaligned, empty
  // or out-of-range requests; kNoMemory if the pool cannot supply the tables.

 private:
  enum class Op : uint8_t { kMap, kUnmap, kProtect };

  // What a table that does not exist yet (dry run) would contain.
  struct Virtual {
    bool leaves = false;  // false: all absent; true: leaves continuing `pa`
    Pa pa{};
    Attrs attrs{};
  };

  struct Walk {
    Op op;
    uint64_t start;
    Pa pa;  // for kMap: output address of `start`
    Attrs attrs;
    bool commit;
    size_t tables_needed = 0;
    bool flush = false;  // a TLB invalidation is owed at the end
  };

  PageTable(PagePool& pool, Regime regime, uint16_t vmid, Pa root)
      : pool_(&pool), root_(root), regime_(regime), vmid_(vmid) {}

  Status run(Op op, uint64_t in, uint64_t size, Pa pa, Attrs attrs);
  Status walk_level(Walk& w, arch::mm::Pte* table, const Virtual& virt, int level, uint64_t begin, uint64_t end)
      HYP_REQUIRES(pool_->lock());
  arch::mm::Pte entry(arch::mm::Pte* table, const Virtual& virt, int level, int index, uint64_t address) const;
  Result<Pa> new_table(int level, const Virtual& content) HYP_REQUIRES(pool_->lock());
  void replace(arch::mm::Pte* slot, int level, arch::mm::Pte value);
  void invalidate();
  void free_subtree(Pa table, int level) HYP_REQUIRES(pool_->lock());

  PagePool* pool_ = nullptr;
  Pa root_{};
  Regime regime_ = Regime::kEl2;
  uint16_t vmid_ = 0;
};

}  // namespace hyp
