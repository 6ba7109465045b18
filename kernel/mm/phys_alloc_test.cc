#include "kernel/mm/phys_alloc.h"

#include <gtest/gtest.h>

namespace hyp {
namespace {

constexpr uint64_t k2M = 2ull << 20;
constexpr uint64_t k1G = 1ull << 30;

TEST(PhysAllocator, AllocatesTopDownAroundReservations) {
  PhysAllocator a;
  ASSERT_EQ(a.add(Pa(0x4000'0000), k1G), Status::kOk);
  ASSERT_EQ(a.reserve(Pa(0x7fe0'0000), 0x1000), Status::kOk);  // e.g. a device tree at the top
  auto first = a.alloc(64ull << 20, k2M);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, Pa(0x7fe0'0000 - (64ull << 20)));
  auto second = a.alloc(k2M, k2M);
  ASSERT_TRUE(second.ok());
  EXPECT_LT(second->value() + k2M, first->value() + 1);
  // The 2 MiB block holding the reservation keeps its free tail.
  EXPECT_EQ(a.free_bytes(), k1G - 0x1000 - (64ull << 20) - k2M);
}

TEST(PhysAllocator, NeverHandsOutReservedOrOverlappingMemory) {
  PhysAllocator a;
  ASSERT_EQ(a.add(Pa(0x4000'0000), 16 * k2M), Status::kOk);
  ASSERT_EQ(a.reserve(Pa(0x4020'0000), 0x4'c000), Status::kOk);  // the kernel image
  ASSERT_EQ(a.reserve(Pa(0x4800'0000), 0x10'0000), Status::kOk);  // outside RAM: ignored
  uint64_t taken = 0;
  for (;;) {
    auto p = a.alloc(k2M, k2M);
    if (!p.ok()) {
      EXPECT_EQ(p.status(), Status::kNoMemory);
      break;
    }
    EXPECT_FALSE(p->value() < 0x4024'c000 && p->value() + k2M > 0x4020'0000) << std::hex << p->value();
    taken += k2M;
  }
  EXPECT_EQ(taken, 15 * k2M);
}

TEST(PhysAllocator, RejectsBadRequests) {
  PhysAllocator a;
  ASSERT_EQ(a.add(Pa(0x4000'0000), k1G), Status::kOk);
  EXPECT_EQ(a.alloc(0, k2M).status(), Status::kInvalidArgument);
  EXPECT_EQ(a.alloc(k2M, 3).status(), Status::kInvalidArgument);
  EXPECT_EQ(a.alloc(2 * k1G, k2M).status(), Status::kNoMemory);
  EXPECT_EQ(a.add(Pa(~0ull - 10), 100), Status::kInvalidArgument);
}

}  // namespace
}  // namespace hyp
