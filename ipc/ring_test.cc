#include "ipc/ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "ipc/message.h"

namespace hyp::ipc {
namespace {

using SmallRing = Ring<uint64_t, 4>;

std::unique_ptr<SmallRing> make_ring() { return std::make_unique<SmallRing>(); }

TEST(Ring, EntriesComeOutInOrderAndFullAndEmptyAreReported) {
  auto ring = make_ring();
  RingProducer<uint64_t, 4> p(ring.get());
  RingConsumer<uint64_t, 4> c(ring.get());
  uint64_t v = 0;
  EXPECT_EQ(c.pop(v), RingStatus::kEmpty);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(p.push(i * 10), RingStatus::kOk);
  EXPECT_EQ(p.push(99), RingStatus::kFull);
  for (uint64_t i = 0; i < 4; ++i) {
    ASSERT_EQ(c.pop(v), RingStatus::kOk);
    EXPECT_EQ(v, i * 10);
  }
  EXPECT_EQ(c.pop(v), RingStatus::kEmpty);
}

TEST(Ring, IndicesWrapAroundTwoToTheThirtyTwo) {
  auto ring = make_ring();
  const uint32_t start = UINT32_MAX - 2;
  ring->tail.store(start);
  ring->head.store(start);
  RingProducer<uint64_t, 4> p(ring.get(), start);
  RingConsumer<uint64_t, 4> c(ring.get(), start);
  for (uint64_t round = 0; round < 10; ++round) {
    for (uint64_t i = 0; i < 3; ++i) ASSERT_EQ(p.push(round * 100 + i), RingStatus::kOk);
    uint64_t v = 0;
    for (uint64_t i = 0; i < 3; ++i) {
      ASSERT_EQ(c.pop(v), RingStatus::kOk);
      EXPECT_EQ(v, round * 100 + i);
    }
  }
  EXPECT_EQ(p.tail(), start + 30);
}

TEST(Ring, ImpossibleIndicesFromThePeerAreCorruptionNotAccesses) {
  auto ring = make_ring();
  RingProducer<uint64_t, 4> p(ring.get());
  RingConsumer<uint64_t, 4> c(ring.get());
  ASSERT_EQ(p.push(1), RingStatus::kOk);
  // A consumer that claims to have taken more than was ever produced.
  ring->head.store(7);
  EXPECT_EQ(p.push(2), RingStatus::kCorrupt);
  // A producer that claims more entries than the ring holds.
  ring->head.store(0);
  ring->tail.store(1000);
  uint64_t v = 0;
  EXPECT_EQ(c.pop(v), RingStatus::kCorrupt);
  EXPECT_EQ(c.head(), 0u) << "the consumer's own index is untouched";
}

// Two threads, the producer and the consumer on different CPUs, with the
// consumer polling: every message arrives, in order, with its contents
// intact. Run under ThreadSanitizer too (ring_test_tsan), which checks the
// acquire/release pairs (1) and (2). How a waiting side is woken is the
// channel's business (kernel/server/channel_test.cc).
TEST(Ring, TwoThreadsLoseNothingAndKeepOrder) {
  using BigRing = Ring<Request, 64>;
  auto ring = std::make_unique<BigRing>();
  constexpr uint64_t kMessages = 200000;

  std::thread producer([&] {
    RingProducer<Request, 64> p(ring.get());
    for (uint64_t i = 0; i < kMessages;) {
      Request r{};
      r.seq = i;
      r.kind = RequestKind::kWrite;
      r.width = 8;
      r.data = i * 3;
      const RingStatus s = p.push(r);
      ASSERT_NE(s, RingStatus::kCorrupt);
      if (s == RingStatus::kFull) {
        std::this_thread::yield();
        continue;
      }
      ++i;
    }
  });

  RingConsumer<Request, 64> c(ring.get());
  uint64_t expected = 0;
  while (expected < kMessages) {
    Request r{};
    const RingStatus s = c.pop(r);
    ASSERT_NE(s, RingStatus::kCorrupt);
    if (s != RingStatus::kOk) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_EQ(r.seq, expected);
    ASSERT_EQ(r.data, expected * 3);
    ASSERT_TRUE(request_well_formed(r));
    ++expected;
  }
  producer.join();
  EXPECT_EQ(expected, kMessages);
}

TEST(Message, WellFormedRequestsOnly) {
  Request r{};
  r.kind = RequestKind::kRead;
  r.width = 4;
  r.offset = 0x18;
  EXPECT_TRUE(request_well_formed(r));
  r.width = 3;
  EXPECT_FALSE(request_well_formed(r));
  r.width = 4;
  r.offset = 0x1a;
  EXPECT_FALSE(request_well_formed(r)) << "unaligned";
  r.offset = 0x18;
  r.flags = kRequestPosted;
  EXPECT_FALSE(request_well_formed(r)) << "a posted read";
  r.flags = 0;
  r.kind = RequestKind::kWrite;
  r.data = 0x1'0000'0000;
  EXPECT_FALSE(request_well_formed(r)) << "data wider than the access";
  r.data = 0xffff'ffff;
  EXPECT_TRUE(request_well_formed(r));
  r.kind = static_cast<RequestKind>(9);
  EXPECT_FALSE(request_well_formed(r));
  r.kind = RequestKind::kQuiesce;
  EXPECT_TRUE(request_well_formed(r));
}

}  // namespace
}  // namespace hyp::ipc
