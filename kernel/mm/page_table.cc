#include "kernel/mm/page_table.h"

namespace hyp {

namespace mm = arch::mm;

Result<PageTable> PageTable::create(PagePool& pool) {
  auto root = pool.alloc();
  if (!root.ok()) return root.status();
  mm::Pte* table = mm::table_from_pa(*root);
  for (int i = 0; i < mm::kEntriesPerTable; ++i) table[i] = mm::absent_pte(mm::kRootLevel);
  return PageTable(pool, *root);
}

Status PageTable::map(Va va, Pa pa, uint64_t size, mm::Attrs attrs) {
  constexpr uint64_t kVaLimit = uint64_t{1} << mm::kVaBits;
  if (pool_ == nullptr || size == 0 || !va.is_aligned(kPageSize) || !pa.is_aligned(kPageSize) ||
      (size & (kPageSize - 1)) != 0 || va.value() >= kVaLimit || size > kVaLimit - va.value() ||
      pa.value() + size < pa.value()) {
    return Status::kInvalidArgument;
  }
  size_t tables_needed = 0;
  mm::Pte* root = mm::table_from_pa(root_);
  if (Status s = map_level(root, mm::kRootLevel, va, pa, size, attrs, false, tables_needed); s != Status::kOk) {
    return s;
  }
  if (tables_needed > pool_->free_pages()) return Status::kNoMemory;
  size_t unused = 0;
  return map_level(root, mm::kRootLevel, va, pa, size, attrs, true, unused);
}

Status PageTable::map_level(mm::Pte* table, int level, Va va, Pa pa, uint64_t size, mm::Attrs attrs, bool commit,
                            size_t& tables_needed) {
  const uint64_t entry_size = mm::level_size(level);
  const uint64_t end = va.value() + size;
  uint64_t cur = va.value();
  while (cur < end) {
    const uint64_t entry_end = align_down(cur, entry_size) + entry_size;
    const uint64_t chunk_end = entry_end < end ? entry_end : end;
    const uint64_t chunk = chunk_end - cur;
    const Pa chunk_pa = pa.offset(cur - va.value());
    const int index = mm::level_index(Va(cur), level);
    const mm::Pte pte = table != nullptr ? table[index] : mm::absent_pte(level);

    const bool whole_entry = chunk == entry_size && chunk_pa.is_aligned(entry_size);
    if (mm::pte_is_table(pte, level)) {
      mm::Pte* next = mm::table_from_pa(mm::pte_address(pte, level));
      if (Status s = map_level(next, level + 1, Va(cur), chunk_pa, chunk, attrs, commit, tables_needed);
          s != Status::kOk) {
        return s;
      }
    } else if (mm::pte_present(pte, level)) {
      return Status::kAlreadyExists;
    } else if (whole_entry && mm::block_allowed(level)) {
      if (commit) mm::write_pte(&table[index], mm::leaf_pte(chunk_pa, attrs, level));
    } else {
      // Needs a next-level table. The dry run checked the pool holds enough.
      mm::Pte* next = nullptr;
      if (commit) {
        auto page = pool_->alloc();
        if (!page.ok()) return page.status();
        next = mm::table_from_pa(*page);
        for (int i = 0; i < mm::kEntriesPerTable; ++i) next[i] = mm::absent_pte(level + 1);
        if (Status s = map_level(next, level + 1, Va(cur), chunk_pa, chunk, attrs, commit, tables_needed);
            s != Status::kOk) {
          return s;
        }
        // Publish the table only once it is complete.
        mm::write_pte(&table[index], mm::table_pte(*page, level));
      } else {
        ++tables_needed;
        if (Status s = map_level(nullptr, level + 1, Va(cur), chunk_pa, chunk, attrs, commit, tables_needed);
            s != Status::kOk) {
          return s;
        }
      }
    }
    cur = chunk_end;
  }
  return Status::kOk;
}

std::optional<PageTable::Translation> PageTable::translate(Va va) const {
  if (pool_ == nullptr || va.value() >= (uint64_t{1} << mm::kVaBits)) return std::nullopt;
  const mm::Pte* table = mm::table_from_pa(root_);
  for (int level = mm::kRootLevel; level <= mm::kLeafLevel; ++level) {
    const mm::Pte pte = table[mm::level_index(va, level)];
    if (!mm::pte_present(pte, level)) return std::nullopt;
    if (mm::pte_is_table(pte, level)) {
      table = mm::table_from_pa(mm::pte_address(pte, level));
      continue;
    }
    const uint64_t offset = va.value() & (mm::level_size(level) - 1);
    return Translation{mm::pte_address(pte, level).offset(offset), mm::pte_attrs(pte, level), level};
  }
  return std::nullopt;
}

}  // namespace hyp
