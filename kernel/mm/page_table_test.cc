#include "kernel/mm/page_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "kernel/arch/fake/fake.h"

namespace hyp {
namespace {

namespace mm = arch::mm;
using arch::fake::MmEvent;
using mm::Attrs;
using mm::MemType;
using mm::PageState;
using mm::Regime;

constexpr uint64_t k4K = 4096;
constexpr uint64_t k2M = 2ull << 20;
constexpr uint64_t k1G = 1ull << 30;
constexpr Attrs kRw{.type = MemType::kNormal, .read = true, .write = true, .exec = false};
constexpr Attrs kRx{.type = MemType::kNormal, .read = true, .write = false, .exec = true};
constexpr Attrs kRo{.type = MemType::kNormal, .read = true, .write = false, .exec = false};
constexpr Attrs kDev{.type = MemType::kDevice, .read = true, .write = true, .exec = false};
constexpr Attrs kRwx{.type = MemType::kNormal, .read = true, .write = true, .exec = true};
constexpr Attrs kLent{.type = MemType::kNormal, .read = false, .write = false, .exec = false, .state = PageState::kLent};

size_t count(MmEvent::Kind kind) {
  const auto& ev = arch::fake::mm_events();
  return static_cast<size_t>(std::count_if(ev.begin(), ev.end(), [&](const MmEvent& e) { return e.kind == kind; }));
}

class PageTableTest : public ::testing::TestWithParam<Regime> {
 protected:
  void SetUp() override {
    arch::fake::reset();
    pool_.add(memory_.base(), memory_.pages());
    auto table = PageTable::create(pool_, GetParam(), 7);
    ASSERT_TRUE(table.ok());
    table_ = *table;
    arch::fake::mm_events().clear();
  }

  size_t writes() const { return count(MmEvent::Kind::kWritePte); }
  size_t flushes() const {
    return count(GetParam() == Regime::kEl2 ? MmEvent::Kind::kInvalidateEl2Tlbs : MmEvent::Kind::kInvalidateStage2Tlbs);
  }

  arch::fake::PhysMemory memory_{24};
  PagePool pool_;
  PageTable table_;
};

INSTANTIATE_TEST_SUITE_P(BothRegimes, PageTableTest, ::testing::Values(Regime::kEl2, Regime::kStage2),
                         [](const auto& info) { return info.param == Regime::kEl2 ? "El2" : "Stage2"; });

TEST_P(PageTableTest, SinglePageTranslatesWithItsAttributes) {
  ASSERT_EQ(table_.map(0x4020'0000, Pa(0x8000'0000), k4K, kRx), Status::kOk);

  auto t = table_.translate(0x4020'0123);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->pa, Pa(0x8000'0123));
  EXPECT_EQ(t->attrs, kRx);
  EXPECT_EQ(t->level, 3);
  EXPECT_FALSE(table_.translate(0x4020'1000).has_value());
  EXPECT_FALSE(table_.translate(0x401f'f000).has_value());
}

TEST_P(PageTableTest, AlignedRangeUsesTheLargestLeafTheArchitectureAllows) {
  // The fake allows leaves at levels 2 and 3 only: a 1 GiB aligned range
  // must become 512 level-2 blocks, not a level-1 leaf.
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x4000'0000), k1G, kRw), Status::kOk);

  auto t = table_.translate(0x5234'5678);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->pa, Pa(0x5234'5678));
  EXPECT_EQ(t->level, 2);
  // The blocks, the level-2 table's entry, and for Stage 2 (root at level 0)
  // the level-1 table's entry.
  EXPECT_EQ(writes(), 512u + (GetParam() == Regime::kEl2 ? 1u : 2u));
  EXPECT_EQ(flushes(), 0u) << "nothing was valid before: no invalidation needed";
}

TEST_P(PageTableTest, MisalignedOutputFallsBackToPages) {
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x4000'1000), k2M, kRw), Status::kOk);
  auto t = table_.translate(0x401f'f000);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->pa, Pa(0x4020'0000));
  EXPECT_EQ(t->level, 3);
}

TEST_P(PageTableTest, RangeStraddlingABlockBoundaryMixesBlocksAndPages) {
  const uint64_t start = 0x4000'0000 + k2M - k4K;
  ASSERT_EQ(table_.map(start, Pa(start), k2M + 2 * k4K, kDev), Status::kOk);
  EXPECT_EQ(table_.translate(start)->level, 3);
  EXPECT_EQ(table_.translate(start + k4K)->level, 2);
  EXPECT_EQ(table_.translate(start + k4K + k2M)->level, 3);
  EXPECT_EQ(table_.translate(start + k4K + k2M)->attrs, kDev);
  EXPECT_FALSE(table_.translate(start + 2 * k4K + k2M).has_value());
}

TEST_P(PageTableTest, OverlappingMapFailsAndChangesNothing) {
  ASSERT_EQ(table_.map(0x4020'3000, Pa(0x4020'3000), k4K, kRw), Status::kOk);
  const size_t free_before = pool_.free_pages();
  arch::fake::mm_events().clear();
  EXPECT_EQ(table_.map(0x3fe0'0000, Pa(0x3fe0'0000), 0x4020'4000 - 0x3fe0'0000, kRw), Status::kAlreadyExists);
  EXPECT_TRUE(arch::fake::mm_events().empty());
  EXPECT_EQ(pool_.free_pages(), free_before);
  EXPECT_FALSE(table_.translate(0x3fe0'0000).has_value());
}

TEST_P(PageTableTest, RunningOutOfTablesFailsBeforeWritingAnything) {
  const size_t free_before = pool_.free_pages();
  EXPECT_EQ(table_.map(0x1000, Pa(0x1000), 32 * k1G - 0x1000, kRw), Status::kNoMemory);
  EXPECT_TRUE(arch::fake::mm_events().empty());
  EXPECT_EQ(pool_.free_pages(), free_before);
}

TEST_P(PageTableTest, RejectsUnalignedEmptyAndOutOfRangeRequests) {
  const uint64_t limit = uint64_t{1} << mm::geometry(GetParam()).input_bits;
  EXPECT_EQ(table_.map(0x1001, Pa(0x1000), k4K, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(0x1000, Pa(0x1800), k4K, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(0x1000, Pa(0x1000), 100, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(0x1000, Pa(0x1000), 0, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(limit, Pa(0), k4K, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(limit - k4K, Pa(0), 2 * k4K, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(0, Pa(~0ull - k4K + 1), 2 * k4K, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.unmap(0x1800, k4K), Status::kInvalidArgument);
  EXPECT_EQ(table_.protect(0, ~0ull & ~(k4K - 1), kRo), Status::kInvalidArgument);
  EXPECT_TRUE(arch::fake::mm_events().empty());
}

TEST_P(PageTableTest, NewTablesArePublishedAfterTheirContents) {
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x4000'0000), k4K, kRw), Status::kOk);
  const auto& ev = arch::fake::mm_events();
  ASSERT_GE(ev.size(), 3u);
  EXPECT_TRUE(mm::pte_present(GetParam(), ev[0].new_value, 3));
  for (size_t i = 1; i < ev.size(); ++i) {
    EXPECT_TRUE(mm::pte_is_table(GetParam(), ev[i].new_value, 3 - static_cast<int>(i)));
  }
}

TEST_P(PageTableTest, UnmappingPartOfABlockSplitsItWithBreakBeforeMake) {
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x8000'0000), k2M, kRw), Status::kOk);
  arch::fake::mm_events().clear();

  ASSERT_EQ(table_.unmap(0x4000'1000, k4K), Status::kOk);

  EXPECT_FALSE(table_.translate(0x4000'1000).has_value());
  auto before = table_.translate(0x4000'0000);
  auto after = table_.translate(0x4000'2000);
  ASSERT_TRUE(before && after);
  EXPECT_EQ(before->pa, Pa(0x8000'0000));
  EXPECT_EQ(after->pa, Pa(0x8000'2000));
  EXPECT_EQ(after->attrs, kRw);
  EXPECT_EQ(after->level, 3);
  // The block was made absent, invalidated, then replaced by the table.
  const auto& ev = arch::fake::mm_events();
  ASSERT_GE(ev.size(), 4u);
  EXPECT_EQ(ev[0].kind, MmEvent::Kind::kWritePte);
  EXPECT_FALSE(mm::pte_present(GetParam(), ev[0].new_value, 2));
  EXPECT_NE(ev[1].kind, MmEvent::Kind::kWritePte);
  if (GetParam() == Regime::kStage2) EXPECT_EQ(ev[1].vmid, 7);
  EXPECT_EQ(ev[2].slot, ev[0].slot);
  EXPECT_TRUE(mm::pte_is_table(GetParam(), ev[2].new_value, 2));
  // And the removed page was invalidated after it went.
  EXPECT_NE(ev.back().kind, MmEvent::Kind::kWritePte);
}

TEST_P(PageTableTest, ProtectChangesPermissionsInPlaceAndKeepsAddresses) {
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x8000'0000), 4 * k4K, kRwx), Status::kOk);
  arch::fake::mm_events().clear();

  ASSERT_EQ(table_.protect(0x4000'1000, 2 * k4K, kRo), Status::kOk);

  EXPECT_EQ(table_.translate(0x4000'0000)->attrs, kRwx);
  EXPECT_EQ(table_.translate(0x4000'1000)->attrs, kRo);
  EXPECT_EQ(table_.translate(0x4000'2000)->attrs, kRo);
  EXPECT_EQ(table_.translate(0x4000'2000)->pa, Pa(0x8000'2000));
  EXPECT_EQ(table_.translate(0x4000'3000)->attrs, kRwx);
  EXPECT_EQ(writes(), 2u);
  EXPECT_EQ(flushes(), 1u) << "one invalidation for the whole operation";
}

TEST_P(PageTableTest, ProtectOverAHoleFailsAndChangesNothing) {
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x8000'0000), k4K, kRw), Status::kOk);
  ASSERT_EQ(table_.map(0x4000'2000, Pa(0x8000'2000), k4K, kRw), Status::kOk);
  arch::fake::mm_events().clear();
  EXPECT_EQ(table_.protect(0x4000'0000, 3 * k4K, kRo), Status::kNotFound);
  EXPECT_TRUE(arch::fake::mm_events().empty());
  EXPECT_EQ(table_.translate(0x4000'0000)->attrs, kRw);
}

TEST_P(PageTableTest, ProtectInsideABlockSplitsOnlyWhatItMust) {
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x4000'0000), 2 * k2M, kRw), Status::kOk);
  ASSERT_EQ(table_.protect(0x4000'0000 + k2M - k4K, 2 * k4K, kRo), Status::kOk);
  EXPECT_EQ(table_.translate(0x4000'0000)->level, 3);
  EXPECT_EQ(table_.translate(0x4000'0000 + k2M - k4K)->attrs, kRo);
  EXPECT_EQ(table_.translate(0x4000'0000 + k2M)->attrs, kRo);
  EXPECT_EQ(table_.translate(0x4000'0000 + k2M + k4K)->attrs, kRw);
  EXPECT_EQ(table_.translate(0x4000'0000 + k2M + k4K)->pa, Pa(0x4000'0000 + k2M + k4K));
}

TEST_P(PageTableTest, ChangingMemoryTypeUsesBreakBeforeMake) {
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x4000'0000), k4K, kRw), Status::kOk);
  arch::fake::mm_events().clear();
  ASSERT_EQ(table_.protect(0x4000'0000, k4K, kDev), Status::kOk);
  const auto& ev = arch::fake::mm_events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_FALSE(mm::pte_present(GetParam(), ev[0].new_value, 3));
  EXPECT_NE(ev[1].kind, MmEvent::Kind::kWritePte);
  EXPECT_EQ(mm::pte_attrs(GetParam(), ev[2].new_value, 3), kDev);
}

TEST_P(PageTableTest, UnmapOfWholeTablesReturnsTheirPagesAfterInvalidation) {
  const size_t free_at_start = pool_.free_pages();
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x4000'0000), 3 * k4K, kRw), Status::kOk);
  EXPECT_LT(pool_.free_pages(), free_at_start);
  ASSERT_EQ(table_.unmap(0, k1G * 2), Status::kOk);
  // Tables wholly inside the range go back to the pool. Stage 2's level-1
  // table covers 512 GiB, more than the range, so it stays (empty).
  EXPECT_EQ(pool_.free_pages(), free_at_start - (GetParam() == Regime::kStage2 ? 1 : 0));
  EXPECT_FALSE(table_.translate(0x4000'0000).has_value());
  EXPECT_GE(flushes(), 1u);
}

TEST_P(PageTableTest, DestroyReturnsEveryPage) {
  const size_t free_at_start = pool_.free_pages();
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x4000'0000), k2M + k4K, kRw), Status::kOk);
  ASSERT_EQ(table_.map(0x9000'0000, Pa(0x9000'0000), k4K, kDev), Status::kOk);
  table_.destroy();
  EXPECT_EQ(pool_.free_pages(), free_at_start + 1);  // the root too
}

TEST(Stage2PageTable, RecordsPageStatesEvenWithoutAccess) {
  arch::fake::reset();
  arch::fake::PhysMemory memory(8);
  PagePool pool;
  pool.add(memory.base(), memory.pages());
  auto table = PageTable::create(pool, Regime::kStage2, 3);
  ASSERT_TRUE(table.ok());
  ASSERT_EQ(table->map(0x4000'0000, Pa(0x4000'0000), 2 * k4K, kRw), Status::kOk);
  ASSERT_EQ(table->protect(0x4000'1000, k4K, kLent), Status::kOk);
  auto t = table->translate(0x4000'1000);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->attrs.state, PageState::kLent);
  EXPECT_FALSE(t->attrs.read);
  EXPECT_EQ(table->translate(0x4000'0000)->attrs.state, PageState::kOwned);
}

TEST(El2PageTable, RefusesPageStatesAndNoAccessMappings) {
  arch::fake::reset();
  arch::fake::PhysMemory memory(4);
  PagePool pool;
  pool.add(memory.base(), memory.pages());
  auto table = PageTable::create(pool, Regime::kEl2);
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->map(0x4000'0000, Pa(0x4000'0000), k4K, kLent), Status::kInvalidArgument);
}

TEST(PagePool, HandsOutEachPageOnceAndZeroed) {
  arch::fake::reset();
  arch::fake::PhysMemory memory(3);
  PagePool pool;
  pool.add(memory.base(), 3);
  Pa pages[3];
  for (auto& p : pages) {
    auto r = pool.alloc();
    ASSERT_TRUE(r.ok());
    p = *r;
    EXPECT_EQ(*arch::mm::table_from_pa(p), 0u);
    *arch::mm::table_from_pa(p) = 0x55;
  }
  EXPECT_NE(pages[0], pages[1]);
  EXPECT_NE(pages[1], pages[2]);
  EXPECT_EQ(pool.alloc().status(), Status::kNoMemory);
  pool.free(pages[1]);
  auto again = pool.alloc();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, pages[1]);
  EXPECT_EQ(*arch::mm::table_from_pa(*again), 0u);
}

// Tables of different partitions share one pool, and change on several CPUs
// at once (FF-A calls): two threads build, change and tear down tables of
// their own from one pool, every table page counted back at the end.
TEST(PagePoolTest, TablesOfTwoCpusShareOnePool) {
  arch::fake::reset();
  arch::fake::PhysMemory memory{64};
  arch::fake::PhysMemory ram{4};
  PagePool pool;
  pool.add(memory.base(), memory.pages());
  const size_t free_before = pool.free_pages();
  auto run = [&](uint64_t base) {
    for (int round = 0; round < 300; ++round) {
      auto table = PageTable::create(pool, Regime::kStage2, 1);
      ASSERT_TRUE(table.ok());
      // Pages far apart: each needs tables of its own.
      for (uint64_t i = 0; i < 3; ++i) {
        ASSERT_EQ(table->map(base + i * (uint64_t{1} << 30), ram.base(), kPageSize,
                             arch::mm::Attrs{.read = true, .write = true}),
                  Status::kOk);
      }
      ASSERT_EQ(table->protect(base, kPageSize, arch::mm::Attrs{.read = true}), Status::kOk);
      table->destroy();
    }
  };
  std::thread a(run, uint64_t{0x20'0000'0000});
  std::thread b(run, uint64_t{0x10'0000'0000});
  a.join();
  b.join();
  EXPECT_EQ(pool.free_pages(), free_before);
}

TEST_P(PageTableTest, VisitReportsLeavesInOrderAndStopsAtAHole) {
  ASSERT_EQ(table_.map(0x4000'0000, Pa(0x8000'0000), k2M, kRw), Status::kOk);
  ASSERT_EQ(table_.map(0x4020'0000, Pa(0x9000'0000), 2 * k4K, kRo), Status::kOk);
  std::vector<PageTable::Leaf> seen;
  auto record = [&](const PageTable::Leaf& l) {
    seen.push_back(l);
    return true;
  };
  // From inside the block to the second page.
  EXPECT_TRUE(table_.visit(0x401f'f000, 3 * k4K, record));
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].in, 0x401f'f000u);
  EXPECT_EQ(seen[0].size, k4K) << "the block's part inside the range";
  EXPECT_EQ(seen[0].pa, Pa(0x801f'f000));
  EXPECT_EQ(seen[0].attrs, kRw);
  EXPECT_EQ(seen[1].pa, Pa(0x9000'0000));
  EXPECT_EQ(seen[2].in, 0x4020'1000u);
  EXPECT_EQ(seen[2].attrs, kRo);
  // A whole block is one leaf.
  seen.clear();
  EXPECT_TRUE(table_.visit(0x4000'0000, k2M, record));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].size, k2M);
  // A hole ends the visit, reported once.
  seen.clear();
  EXPECT_FALSE(table_.visit(0x4020'0000, 4 * k4K, record));
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_FALSE(seen[2].present);
  EXPECT_EQ(seen[2].in, 0x4020'2000u);
  // So does fn saying so.
  seen.clear();
  EXPECT_FALSE(table_.visit(0x4020'0000, 2 * k4K, [&](const PageTable::Leaf& l) {
    seen.push_back(l);
    return false;
  }));
  EXPECT_EQ(seen.size(), 1u);
}

PageTable stage2_table(PagePool& pool, uint16_t vmid) {
  auto t = PageTable::create(pool, Regime::kStage2, vmid);
  EXPECT_TRUE(t.ok());
  return *t;
}

// Two tables from one pool changed together: each change checked first,
// the table pages for all of them reserved, then all made.
TEST(PageTableBatch, ChangesSeveralTablesAllOrNothing) {
  arch::fake::reset();
  arch::fake::PhysMemory memory(8);
  PagePool pool;
  pool.add(memory.base(), memory.pages());
  PageTable a = stage2_table(pool, 1);
  PageTable b = stage2_table(pool, 2);
  ASSERT_EQ(a.map(0x4000'0000, Pa(0x8000'0000), k2M, kRw), Status::kOk);
  {
    PageTable::Batch batch(pool);
    ASSERT_EQ(batch.check_protect(a, 0x4000'1000, k4K, kLent), Status::kOk);
    ASSERT_EQ(batch.check_map(b, 0x1'0000'0000, Pa(0x8000'1000), k4K, kRw), Status::kOk);
    EXPECT_EQ(batch.check_protect(b, 0x4000'0000, k4K, kRo), Status::kNotFound) << "checked, refused";
    ASSERT_EQ(batch.reserve(), Status::kOk);
    batch.apply_protect(a, 0x4000'1000, k4K, kLent);
    batch.apply_map(b, 0x1'0000'0000, Pa(0x8000'1000), k4K, kRw);
  }
  EXPECT_EQ(a.translate(0x4000'1000)->attrs, kLent);
  EXPECT_EQ(a.translate(0x4000'2000)->attrs, kRw);
  EXPECT_EQ(b.translate(0x1'0000'0000)->pa, Pa(0x8000'1000));
}

TEST(PageTableBatch, ReserveCountsTheTablesOfEveryChange) {
  arch::fake::reset();
  arch::fake::PhysMemory memory(6);
  PagePool pool;
  pool.add(memory.base(), memory.pages());
  PageTable a = stage2_table(pool, 1);
  PageTable b = stage2_table(pool, 2);
  ASSERT_EQ(a.map(0x4000'0000, Pa(0x8000'0000), k2M, kRw), Status::kOk);
  ASSERT_EQ(b.map(0x4000'0000, Pa(0x8020'0000), k2M, kRw), Status::kOk);
  const size_t free_pages = pool.free_pages();
  ASSERT_LT(free_pages, 4u);
  // Each change alone fits; together they need more than the pool has
  // (a split of each block, and a path of tables for b's new page).
  PageTable::Batch batch(pool);
  ASSERT_EQ(batch.check_protect(a, 0x4000'1000, k4K, kLent), Status::kOk);
  ASSERT_EQ(batch.check_protect(b, 0x4000'1000, k4K, kLent), Status::kOk);
  ASSERT_EQ(batch.check_map(b, 0x80'0000'0000, Pa(0x8000'1000), k4K, kRw), Status::kOk);
  EXPECT_EQ(batch.reserve(), Status::kNoMemory);
  EXPECT_EQ(pool.free_pages(), free_pages) << "checks take nothing";
}

TEST(PageTableBatch, RefusesATableOfAnotherPool) {
  arch::fake::reset();
  arch::fake::PhysMemory memory(4);
  arch::fake::PhysMemory other(4);
  PagePool pool;
  PagePool pool2;
  pool.add(memory.base(), memory.pages());
  pool2.add(other.base(), other.pages());
  PageTable t = stage2_table(pool2, 1);
  PageTable::Batch batch(pool);
  EXPECT_EQ(batch.check_map(t, 0x4000'0000, Pa(0x8000'0000), k4K, kRw), Status::kInvalidArgument);
}

// A batch holds the pool's lock throughout: another CPU's table change
// waits for it, so none comes between a batch's checks and its changes.
TEST(PageTableBatch, OtherChangesWaitForTheBatch) {
  arch::fake::reset();
  arch::fake::PhysMemory memory(8);
  PagePool pool;
  pool.add(memory.base(), memory.pages());
  PageTable a = stage2_table(pool, 1);
  ASSERT_EQ(a.map(0x4000'0000, Pa(0x8000'0000), k4K, kRw), Status::kOk);
  std::atomic<bool> started{false};
  std::atomic<bool> done{false};
  std::thread other;
  {
    PageTable::Batch batch(pool);
    ASSERT_EQ(batch.check_protect(a, 0x4000'0000, k4K, kLent), Status::kOk);
    other = std::thread([&] {
      started = true;
      EXPECT_EQ(a.unmap(0x4000'0000, k4K), Status::kOk);
      done = true;
    });
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(done) << "the other change ran inside the batch";
    ASSERT_EQ(batch.reserve(), Status::kOk);
    batch.apply_protect(a, 0x4000'0000, k4K, kLent);
    EXPECT_EQ(a.translate(0x4000'0000)->attrs, kLent) << "the page is still there for the batch's change";
  }
  other.join();
  EXPECT_TRUE(done);
  EXPECT_FALSE(a.translate(0x4000'0000).has_value());
}

}  // namespace
}  // namespace hyp
