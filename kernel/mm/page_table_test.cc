#include "kernel/mm/page_table.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "kernel/arch/fake/fake.h"

namespace hyp {
namespace {

namespace mm = arch::mm;
using arch::fake::MmEvent;

constexpr uint64_t k4K = 4096;
constexpr uint64_t k2M = 2ull << 20;
constexpr mm::Attrs kRw{.type = mm::MemType::kNormal, .write = true, .exec = false};
constexpr mm::Attrs kRx{.type = mm::MemType::kNormal, .write = false, .exec = true};
constexpr mm::Attrs kDev{.type = mm::MemType::kDevice, .write = true, .exec = false};

class PageTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    arch::fake::reset();
    pool_.add(memory_.base(), memory_.pages());
    auto table = PageTable::create(pool_);
    ASSERT_TRUE(table.ok());
    table_ = *table;
    arch::fake::mm_events().clear();
  }

  size_t writes() const {
    const auto& ev = arch::fake::mm_events();
    return static_cast<size_t>(
        std::count_if(ev.begin(), ev.end(), [](const MmEvent& e) { return e.kind == MmEvent::Kind::kWritePte; }));
  }

  arch::fake::PhysMemory memory_{16};
  PagePool pool_;
  PageTable table_;
};

TEST_F(PageTableTest, SinglePageTranslatesWithItsAttributes) {
  ASSERT_EQ(table_.map(Va(0x4020'0000), Pa(0x8000'0000), k4K, kRx), Status::kOk);

  auto t = table_.translate(Va(0x4020'0123));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->pa, Pa(0x8000'0123));
  EXPECT_EQ(t->attrs, kRx);
  EXPECT_EQ(t->level, 3);
  EXPECT_FALSE(table_.translate(Va(0x4020'1000)).has_value());
  EXPECT_FALSE(table_.translate(Va(0x401f'f000)).has_value());
}

TEST_F(PageTableTest, AlignedRangeUsesTheLargestLeafTheArchitectureAllows) {
  // The fake allows leaves at levels 2 and 3 only: a 1 GiB aligned range
  // must become 512 level-2 blocks, not a level-1 leaf.
  ASSERT_EQ(table_.map(Va(0x4000'0000), Pa(0x4000'0000), 1ull << 30, kRw), Status::kOk);

  auto t = table_.translate(Va(0x5234'5678));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->pa, Pa(0x5234'5678));
  EXPECT_EQ(t->level, 2);
  EXPECT_EQ(writes(), 512u + 1u);  // the blocks, then the table that holds them
}

TEST_F(PageTableTest, MisalignedPhysicalAddressFallsBackToPages) {
  ASSERT_EQ(table_.map(Va(0x4000'0000), Pa(0x4000'1000), k2M, kRw), Status::kOk);

  auto t = table_.translate(Va(0x401f'f000));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->pa, Pa(0x4020'0000));
  EXPECT_EQ(t->level, 3);
}

TEST_F(PageTableTest, RangeStraddlingABlockBoundaryMixesBlocksAndPages) {
  // 4 KiB below a 2 MiB boundary, then 2 MiB, then 4 KiB.
  const uint64_t start = 0x4000'0000 + k2M - k4K;
  ASSERT_EQ(table_.map(Va(start), Pa(start), k2M + 2 * k4K, kDev), Status::kOk);

  EXPECT_EQ(table_.translate(Va(start))->level, 3);
  EXPECT_EQ(table_.translate(Va(start + k4K))->level, 2);
  EXPECT_EQ(table_.translate(Va(start + k4K + k2M))->level, 3);
  EXPECT_EQ(table_.translate(Va(start + k4K + k2M))->attrs, kDev);
  EXPECT_FALSE(table_.translate(Va(start + 2 * k4K + k2M)).has_value());
}

TEST_F(PageTableTest, OverlappingMapFailsAndChangesNothing) {
  ASSERT_EQ(table_.map(Va(0x4020'3000), Pa(0x4020'3000), k4K, kRw), Status::kOk);
  const size_t free_before = pool_.free_pages();
  arch::fake::mm_events().clear();

  // The overlap is at the end of a range whose start needs new tables.
  EXPECT_EQ(table_.map(Va(0x3fe0'0000), Pa(0x3fe0'0000), 0x4020'4000 - 0x3fe0'0000, kRw), Status::kAlreadyExists);

  EXPECT_TRUE(arch::fake::mm_events().empty());
  EXPECT_EQ(pool_.free_pages(), free_before);
  EXPECT_FALSE(table_.translate(Va(0x3fe0'0000)).has_value());
}

TEST_F(PageTableTest, MapOverAnExistingBlockFails) {
  ASSERT_EQ(table_.map(Va(0x4000'0000), Pa(0x4000'0000), k2M, kRw), Status::kOk);
  EXPECT_EQ(table_.map(Va(0x4000'1000), Pa(0x9000'0000), k4K, kRw), Status::kAlreadyExists);
}

TEST_F(PageTableTest, RunningOutOfTablesFailsBeforeWritingAnything) {
  // Root plus 15 free pages. Mapping 16 separate 1 GiB regions needs one
  // level-2 and one level-3 table each: far more than the pool holds.
  arch::fake::mm_events().clear();
  const size_t free_before = pool_.free_pages();
  EXPECT_EQ(table_.map(Va(0x1000), Pa(0x1000), (16ull << 30) - 0x1000, kRw), Status::kNoMemory);
  EXPECT_TRUE(arch::fake::mm_events().empty());
  EXPECT_EQ(pool_.free_pages(), free_before);
}

TEST_F(PageTableTest, RejectsUnalignedEmptyAndOutOfRangeRequests) {
  EXPECT_EQ(table_.map(Va(0x1001), Pa(0x1000), k4K, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(Va(0x1000), Pa(0x1800), k4K, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(Va(0x1000), Pa(0x1000), 100, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(Va(0x1000), Pa(0x1000), 0, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(Va(1ull << 39), Pa(0), k4K, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(Va((1ull << 39) - k4K), Pa(0), 2 * k4K, kRw), Status::kInvalidArgument);
  EXPECT_EQ(table_.map(Va(0), Pa(~0ull - k4K + 1), 2 * k4K, kRw), Status::kInvalidArgument);
  EXPECT_TRUE(arch::fake::mm_events().empty());
}

TEST_F(PageTableTest, NewTablesArePublishedAfterTheirContents) {
  ASSERT_EQ(table_.map(Va(0x4000'0000), Pa(0x4000'0000), k4K, kRw), Status::kOk);
  // Writes: the level-3 page, then the level-2 table entry, then the root.
  const auto& ev = arch::fake::mm_events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(mm::pte_present(ev[0].new_value, 3));
  EXPECT_TRUE(mm::pte_is_table(ev[1].new_value, 2));
  EXPECT_TRUE(mm::pte_is_table(ev[2].new_value, 1));
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
    *arch::mm::table_from_pa(p) = 0x55;  // dirty it
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

}  // namespace
}  // namespace hyp
