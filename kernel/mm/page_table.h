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

  // The mapping of [in, in + size) leaf by leaf, in order: `fn(Leaf)` for
  // each leaf's part inside the range, or for the first page that is not
  // mapped (with `present` false), after which the visit ends. The visit
  // also ends when fn returns false. Returns whether it went to the end.
  // The table must not change meanwhile (hold the pool's lock, as a Batch
  // does, if another CPU may change it).
  struct Leaf {
    uint64_t in;
    uint64_t size;
    Pa pa;
    Attrs attrs;
    bool present;
  };
  template <typename Fn>
  bool visit(uint64_t in, uint64_t size, Fn fn) const;

  // Changes to one or more tables that share a pool, made all or nothing:
  // every change is checked (and the table pages it may need counted)
  // before any is made, with the pool's lock held from the first check to
  // the last change, so that no other table operation comes between. The
  // caller checks all its changes with check(), then calls reserve(), then
  // makes the same changes, in the same order, with apply(), which cannot
  // fail then. Changes to one table must not overlap. The count is
  // conservative: two changes splitting one block count a table each.
  class HYP_SCOPED_CAPABILITY Batch {
   public:
    explicit Batch(PagePool& pool) HYP_ACQUIRE(pool.lock()) : pool_(pool) { pool_.lock().lock(); }
    ~Batch() HYP_RELEASE() { pool_.lock().unlock(); }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

    // What PageTable::map/unmap/protect would answer, without changing
    // anything. `t` must draw its tables from this batch's pool.
    Status check_map(PageTable& t, uint64_t in, Pa pa, uint64_t size, Attrs attrs);
    Status check_unmap(PageTable& t, uint64_t in, uint64_t size);
    Status check_protect(PageTable& t, uint64_t in, uint64_t size, Attrs attrs);
    // kNoMemory if the pool cannot supply what the checked changes need.
    Status reserve() const;
    // The changes, made.
    void apply_map(PageTable& t, uint64_t in, Pa pa, uint64_t size, Attrs attrs);
    void apply_unmap(PageTable& t, uint64_t in, uint64_t size);
    void apply_protect(PageTable& t, uint64_t in, uint64_t size, Attrs attrs);

   private:
    PagePool& pool_;
    size_t tables_needed_ = 0;
  };

  // Frees every table page, the root included. The table is empty after.
  void destroy();

  Pa root() const { return root_; }
  PagePool* pool() const { return pool_; }
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
  // The argument checks every operation makes.
  Status check_request(uint64_t in, uint64_t size, Attrs attrs) const;
  // run()'s two halves, with the pool's lock held: the dry run (adding the
  // table pages it needs to `tables`) and the change.
  Status dry_run(Op op, uint64_t in, uint64_t size, Pa pa, Attrs attrs, size_t& tables)
      HYP_REQUIRES(pool_->lock());
  Status commit(Op op, uint64_t in, uint64_t size, Pa pa, Attrs attrs) HYP_REQUIRES(pool_->lock());
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

template <typename Fn>
bool PageTable::visit(uint64_t in, uint64_t size, Fn fn) const {
  const uint64_t end = in + size;
  for (uint64_t cur = in; cur < end;) {
    const std::optional<Translation> t = translate(cur);
    if (!t) {
      (void)fn(Leaf{cur, kPageSize, Pa(), Attrs(), false});
      return false;
    }
    const uint64_t leaf_size = arch::mm::level_size(t->level);
    const uint64_t leaf_end = (cur & ~(leaf_size - 1)) + leaf_size;
    const uint64_t part_end = leaf_end < end ? leaf_end : end;
    if (!fn(Leaf{cur, part_end - cur, t->pa, t->attrs, true})) return false;
    cur = part_end;
  }
  return true;
}

}  // namespace hyp
