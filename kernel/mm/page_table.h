// Translation tables built from the architecture's descriptor encoding
// (//kernel/arch:mm.h). Used for the kernel's own EL2 stage-1 tables.
//
// map() is all-or-nothing: it first walks the range without writing, checking
// that nothing in it is mapped and counting the tables it needs; only if the
// pool can supply them does it write descriptors.
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
  struct Translation {
    Pa pa;
    arch::mm::Attrs attrs;
    int level;  // the level of the leaf that maps it
  };

  // A table with an empty root taken from `pool`.
  static Result<PageTable> create(PagePool& pool);

  PageTable() = default;

  // Maps [va, va + size) to [pa, pa + size), with the largest leaves that the
  // alignment of va and pa allows. Fails with kInvalidArgument on unaligned or
  // out-of-range input, kAlreadyExists if any page in the range is mapped, and
  // kNoMemory if the pool cannot supply the tables; in each case nothing changes.
  Status map(Va va, Pa pa, uint64_t size, arch::mm::Attrs attrs);

  std::optional<Translation> translate(Va va) const;

  Pa root() const { return root_; }

 private:
  PageTable(PagePool& pool, Pa root) : pool_(&pool), root_(root) {}

  // Walks one table. With commit == false, `table` may be null (a table not
  // yet allocated, known empty) and nothing is written; `tables_needed`
  // counts allocations the commit pass will make.
  Status map_level(arch::mm::Pte* table, int level, Va va, Pa pa, uint64_t size, arch::mm::Attrs attrs, bool commit,
                   size_t& tables_needed);

  PagePool* pool_ = nullptr;
  Pa root_{};
};

}  // namespace hyp
