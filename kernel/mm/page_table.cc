#include "kernel/mm/page_table.h"

namespace hyp {

namespace mm = arch::mm;

Result<PageTable> PageTable::create(PagePool& pool, Regime regime, uint16_t vmid) {
  auto root = pool.alloc();
  if (!root.ok()) return root.status();
  const int level = mm::geometry(regime).root_level;
  mm::Pte* table = mm::table_from_pa(*root);
  for (int i = 0; i < mm::kEntriesPerTable; ++i) table[i] = mm::absent_pte(regime, level);
  return PageTable(pool, regime, vmid, *root);
}

Status PageTable::map(uint64_t in, Pa pa, uint64_t size, Attrs attrs) { return run(Op::kMap, in, size, pa, attrs); }

Status PageTable::unmap(uint64_t in, uint64_t size) { return run(Op::kUnmap, in, size, Pa(), Attrs()); }

Status PageTable::protect(uint64_t in, uint64_t size, Attrs attrs) { return run(Op::kProtect, in, size, Pa(), attrs); }

Status PageTable::check_request(uint64_t in, uint64_t size, Attrs attrs) const {
  const mm::Geometry g = mm::geometry(regime_);
  const uint64_t limit = uint64_t{1} << g.input_bits;
  if (pool_ == nullptr || size == 0 || (in & (kPageSize - 1)) != 0 || (size & (kPageSize - 1)) != 0 || in >= limit ||
      size > limit - in) {
    return Status::kInvalidArgument;
  }
  if (regime_ == Regime::kEl2 && (attrs.state != mm::PageState::kOwned || !attrs.read)) {
    return Status::kInvalidArgument;
  }
  return Status::kOk;
}

Status PageTable::dry_run(Op op, uint64_t in, uint64_t size, Pa pa, Attrs attrs, size_t& tables) {
  if (Status s = check_request(in, size, attrs); s != Status::kOk) return s;
  if (op == Op::kMap && (!pa.is_aligned(kPageSize) || pa.value() + size < pa.value())) return Status::kInvalidArgument;
  Walk dry{op, in, pa, attrs, false};
  if (Status s = walk_level(dry, mm::table_from_pa(root_), Virtual{}, mm::geometry(regime_).root_level, in, in + size);
      s != Status::kOk) {
    return s;
  }
  tables += dry.tables_needed;
  return Status::kOk;
}

Status PageTable::commit(Op op, uint64_t in, uint64_t size, Pa pa, Attrs attrs) {
  Walk commit{op, in, pa, attrs, true};
  const Status s =
      walk_level(commit, mm::table_from_pa(root_), Virtual{}, mm::geometry(regime_).root_level, in, in + size);
  if (commit.flush) invalidate();
  return s;
}

Status PageTable::run(Op op, uint64_t in, uint64_t size, Pa pa, Attrs attrs) {
  if (Status s = check_request(in, size, attrs); s != Status::kOk) return s;
  // The pool is shared by every table: what the dry run counts must still be
  // there when the commit allocates it.
  SpinLockGuard hold(pool_->lock());
  size_t tables = 0;
  if (Status s = dry_run(op, in, size, pa, attrs, tables); s != Status::kOk) return s;
  if (tables > pool_->free_pages()) return Status::kNoMemory;
  return commit(op, in, size, pa, attrs);
}

// ---- Batches ---------------------------------------------------------------
//
// The analysis cannot see that a table's pool is the batch's (checked at
// run time instead), so it does not look inside these.

Status PageTable::Batch::check_map(PageTable& t, uint64_t in, Pa pa, uint64_t size, Attrs attrs)
    HYP_NO_THREAD_SAFETY_ANALYSIS {
  if (t.pool_ != &pool_) return Status::kInvalidArgument;
  return t.dry_run(Op::kMap, in, size, pa, attrs, tables_needed_);
}

Status PageTable::Batch::check_unmap(PageTable& t, uint64_t in, uint64_t size) HYP_NO_THREAD_SAFETY_ANALYSIS {
  if (t.pool_ != &pool_) return Status::kInvalidArgument;
  return t.dry_run(Op::kUnmap, in, size, Pa(), Attrs(), tables_needed_);
}

Status PageTable::Batch::check_protect(PageTable& t, uint64_t in, uint64_t size, Attrs attrs)
    HYP_NO_THREAD_SAFETY_ANALYSIS {
  if (t.pool_ != &pool_) return Status::kInvalidArgument;
  return t.dry_run(Op::kProtect, in, size, Pa(), attrs, tables_needed_);
}

Status PageTable::Batch::reserve() const {
  return tables_needed_ > pool_.free_pages() ? Status::kNoMemory : Status::kOk;
}

void PageTable::Batch::apply_map(PageTable& t, uint64_t in, Pa pa, uint64_t size, Attrs attrs)
    HYP_NO_THREAD_SAFETY_ANALYSIS {
  (void)t.commit(Op::kMap, in, size, pa, attrs);
}

void PageTable::Batch::apply_unmap(PageTable& t, uint64_t in, uint64_t size) HYP_NO_THREAD_SAFETY_ANALYSIS {
  (void)t.commit(Op::kUnmap, in, size, Pa(), Attrs());
}

void PageTable::Batch::apply_protect(PageTable& t, uint64_t in, uint64_t size, Attrs attrs)
    HYP_NO_THREAD_SAFETY_ANALYSIS {
  (void)t.commit(Op::kProtect, in, size, Pa(), attrs);
}

mm::Pte PageTable::entry(mm::Pte* table, const Virtual& virt, int level, int index, uint64_t address) const {
  if (table != nullptr) return table[index];
  if (!virt.leaves) return mm::absent_pte(regime_, level);
  // A block being split in the dry run: its pieces are leaves one level down.
  const uint64_t offset = address & (mm::level_size(level - 1) - 1);
  return mm::leaf_pte(regime_, virt.pa.offset(align_down(offset, mm::level_size(level))), virt.attrs, level);
}

Status PageTable::walk_level(Walk& w, mm::Pte* table, const Virtual& virt, int level, uint64_t begin,
                             uint64_t end) {
  const uint64_t entry_size = mm::level_size(level);
  for (uint64_t cur = begin; cur < end;) {
    const uint64_t entry_start = align_down(cur, entry_size);
    const uint64_t chunk_end = entry_start + entry_size < end ? entry_start + entry_size : end;
    const bool whole = cur == entry_start && chunk_end == entry_start + entry_size;
    const int index = mm::level_index(cur, level);
    const mm::Pte pte = entry(table, virt, level, index, cur);
    mm::Pte* slot = table != nullptr ? &table[index] : nullptr;

    Status s = Status::kOk;
    if (mm::pte_is_table(regime_, pte, level)) {
      mm::Pte* next = table != nullptr ? mm::table_from_pa(mm::pte_address(regime_, pte, level)) : nullptr;
      if (w.op == Op::kUnmap && whole) {
        if (w.commit) {
          // The walker may hold the old tables in its caches until the TLB
          // invalidation completes: only then may their pages be reused.
          const Pa old = mm::pte_address(regime_, pte, level);
          mm::write_pte(slot, mm::absent_pte(regime_, level));
          invalidate();
          free_subtree(old, level + 1);
        }
      } else {
        s = walk_level(w, next, Virtual{}, level + 1, cur, chunk_end);
      }
    } else if (mm::pte_present(regime_, pte, level)) {
      const Pa block_pa = mm::pte_address(regime_, pte, level);
      const Attrs old_attrs = mm::pte_attrs(regime_, pte, level);
      if (w.op == Op::kMap) return Status::kAlreadyExists;
      if (whole && w.op == Op::kUnmap) {
        if (w.commit) {
          mm::write_pte(slot, mm::absent_pte(regime_, level));
          w.flush = true;
        }
      } else if (whole && w.op == Op::kProtect) {
        if (w.commit && !(old_attrs == w.attrs)) {
          const mm::Pte updated = mm::leaf_pte(regime_, block_pa, w.attrs, level);
          if (old_attrs.type != w.attrs.type) {
            replace(slot, level, updated);
          } else {
            mm::write_pte(slot, updated);
            w.flush = true;
          }
        }
      } else {
        // Split the block into a table of leaves one level down, then apply
        // the operation to the part of it in range.
        const Virtual pieces{true, block_pa, old_attrs};
        if (w.commit) {
          auto split = new_table(level + 1, pieces);
          if (!split.ok()) return split.status();
          replace(slot, level, mm::table_pte(regime_, *split, level));
          s = walk_level(w, mm::table_from_pa(*split), Virtual{}, level + 1, cur, chunk_end);
        } else {
          ++w.tables_needed;
          s = walk_level(w, nullptr, pieces, level + 1, cur, chunk_end);
        }
      }
    } else {
      // Absent.
      if (w.op == Op::kProtect) return Status::kNotFound;
      if (w.op == Op::kMap) {
        const Pa out = w.pa.offset(cur - w.start);
        if (whole && out.is_aligned(entry_size) && mm::block_allowed(regime_, level)) {
          if (w.commit) mm::write_pte(slot, mm::leaf_pte(regime_, out, w.attrs, level));
        } else if (w.commit) {
          auto fresh = new_table(level + 1, Virtual{});
          if (!fresh.ok()) return fresh.status();
          // Fill the new table before publishing it.
          s = walk_level(w, mm::table_from_pa(*fresh), Virtual{}, level + 1, cur, chunk_end);
          mm::write_pte(slot, mm::table_pte(regime_, *fresh, level));
        } else {
          ++w.tables_needed;
          s = walk_level(w, nullptr, Virtual{}, level + 1, cur, chunk_end);
        }
      }
    }
    if (s != Status::kOk) return s;
    cur = chunk_end;
  }
  return Status::kOk;
}

Result<Pa> PageTable::new_table(int level, const Virtual& content) {
  auto page = pool_->alloc_held();
  if (!page.ok()) return page.status();
  mm::Pte* table = mm::table_from_pa(*page);
  for (int i = 0; i < mm::kEntriesPerTable; ++i) {
    table[i] = content.leaves ? mm::leaf_pte(regime_, content.pa.offset(static_cast<uint64_t>(i) * mm::level_size(level)),
                                             content.attrs, level)
                              : mm::absent_pte(regime_, level);
  }
  return *page;
}

void PageTable::replace(mm::Pte* slot, int level, mm::Pte value) {
  mm::write_pte(slot, mm::absent_pte(regime_, level));
  invalidate();
  mm::write_pte(slot, value);
}

void PageTable::invalidate() {
  if (regime_ == Regime::kEl2) {
    mm::invalidate_el2_tlbs();
  } else {
    mm::invalidate_stage2_tlbs(vmid_);
  }
}

void PageTable::free_subtree(Pa table, int level) {
  mm::Pte* entries = mm::table_from_pa(table);
  for (int i = 0; i < mm::kEntriesPerTable; ++i) {
    if (mm::pte_is_table(regime_, entries[i], level)) free_subtree(mm::pte_address(regime_, entries[i], level), level + 1);
  }
  pool_->free_held(table);
}

void PageTable::destroy() {
  if (pool_ == nullptr) return;
  SpinLockGuard hold(pool_->lock());
  free_subtree(root_, mm::geometry(regime_).root_level);
  pool_ = nullptr;
  root_ = Pa();
}

std::optional<PageTable::Translation> PageTable::translate(uint64_t in) const {
  const mm::Geometry g = mm::geometry(regime_);
  if (pool_ == nullptr || in >= (uint64_t{1} << g.input_bits)) return std::nullopt;
  const mm::Pte* table = mm::table_from_pa(root_);
  for (int level = g.root_level; level <= mm::kLeafLevel; ++level) {
    const mm::Pte pte = table[mm::level_index(in, level)];
    if (!mm::pte_present(regime_, pte, level)) return std::nullopt;
    if (mm::pte_is_table(regime_, pte, level)) {
      table = mm::table_from_pa(mm::pte_address(regime_, pte, level));
      continue;
    }
    const uint64_t offset = in & (mm::level_size(level) - 1);
    return Translation{mm::pte_address(regime_, pte, level).offset(offset), mm::pte_attrs(regime_, pte, level), level};
  }
  return std::nullopt;
}

}  // namespace hyp
