// Split virtqueues against a driver written here: the chains a friendly
// driver posts, the interrupts it asks for, and every rule a hostile one
// can break, each refused without a read or write outside granted memory
// (AddressSanitizer would see one: the granted memory is the test's own
// buffer, with nothing around it that is the guest's).
#include "servers/virtio/virtqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "servers/virtio/testing/driver.h"

namespace hyp::virtio {
namespace {

using namespace test_driver;  // the guest's RAM, and where the driver puts things

constexpr uint32_t kSize = 8;

class VirtqueueTest : public ::testing::Test {
 public:  // the driver's steps, for the cases below

  void SetUp() override { ASSERT_TRUE(q_.setup(&memory_, kSize, kDesc, kAvail, kUsed, false, true)); }

  uint8_t* at(uint64_t ipa) { return ram_.at(ipa); }
  template <typename T>
  void poke(uint64_t ipa, T v) {
    ram_.poke(ipa, v);
  }
  template <typename T>
  T peek(uint64_t ipa) {
    return ram_.peek<T>(ipa);
  }

  void desc(uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    poke(table + 16 * i, addr);
    poke(table + 16 * i + 8, len);
    poke(table + 16 * i + 12, flags);
    poke(table + 16 * i + 14, next);
  }
  // Offers `head` in the available ring and moves its index on.
  void offer(uint16_t head) {
    const uint16_t idx = peek<uint16_t>(kAvail + 2);
    poke<uint16_t>(kAvail + 4 + 2 * (idx % kSize), head);
    poke<uint16_t>(kAvail + 2, static_cast<uint16_t>(idx + 1));
  }
  Take take() { return q_.take(chain_); }

  GuestRam ram_;
  GuestMemory& memory_ = ram_.memory;
  Virtqueue q_;
  Chain chain_;
};

TEST_F(VirtqueueTest, AChainIsTakenAndItsCompletionPublished) {
  EXPECT_EQ(take(), Take::kEmpty);
  desc(kDesc, 3, kData, 16, kDescNext, 5);
  desc(kDesc, 5, kData + 16, 512, kDescNext, 1);
  desc(kDesc, 1, kData + 1024, 1, kDescWrite);
  offer(3);
  ASSERT_EQ(take(), Take::kChain);
  EXPECT_EQ(chain_.head, 3);
  ASSERT_EQ(chain_.count, 3u);
  EXPECT_EQ(chain_.buffers[0].ipa, kData);
  EXPECT_EQ(chain_.buffers[1].len, 512u);
  EXPECT_FALSE(chain_.buffers[1].write);
  EXPECT_TRUE(chain_.buffers[2].write);
  EXPECT_EQ(chain_.readable, 528u);
  EXPECT_EQ(chain_.writable, 1u);
  EXPECT_EQ(take(), Take::kEmpty);
  EXPECT_TRUE(q_.put(3, 1)) << "the driver did not say otherwise";
  EXPECT_EQ(peek<uint16_t>(kUsed + 2), 1);
  EXPECT_EQ(peek<uint32_t>(kUsed + 4), 3u);
  EXPECT_EQ(peek<uint32_t>(kUsed + 8), 1u);
  poke<uint16_t>(kAvail, kAvailNoInterrupt);
  desc(kDesc, 0, kData, 8, 0);
  offer(0);
  ASSERT_EQ(take(), Take::kChain);
  EXPECT_FALSE(q_.put(0, 0)) << "VIRTQ_AVAIL_F_NO_INTERRUPT";
  EXPECT_EQ(q_.next_avail(), 2);
  EXPECT_EQ(q_.next_used(), 2);
}

TEST_F(VirtqueueTest, TheIndicesWrapAndResume) {
  desc(kDesc, 0, kData, 8, 0);
  for (int i = 0; i < 70000; ++i) {
    offer(0);
    ASSERT_EQ(take(), Take::kChain) << i;
    q_.put(0, 0);
  }
  EXPECT_EQ(q_.next_avail(), static_cast<uint16_t>(70000));
  // A new instance of the server picks up where the old one was.
  Virtqueue again;
  ASSERT_TRUE(again.setup(&memory_, kSize, kDesc, kAvail, kUsed, false, true));
  again.resume(q_.next_avail(), q_.next_used());
  EXPECT_EQ(again.take(chain_), Take::kEmpty) << "nothing is taken twice";
  offer(0);
  EXPECT_EQ(again.take(chain_), Take::kChain);
}

TEST_F(VirtqueueTest, EventIndexSaysWhenToInterruptAndWhereTheDeviceRead) {
  ASSERT_TRUE(q_.setup(&memory_, kSize, kDesc, kAvail, kUsed, true, true));
  desc(kDesc, 0, kData, 8, 0);
  const uint64_t used_event = kAvail + 4 + 2 * kSize;
  const uint64_t avail_event = kUsed + 4 + 8 * kSize;
  poke<uint16_t>(used_event, 1);  // tell me when the used index passes 1
  for (int i = 0; i < 3; ++i) offer(0);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(take(), Take::kChain);
  EXPECT_EQ(peek<uint16_t>(avail_event), 3) << "the device read up to 3";
  EXPECT_FALSE(q_.put(0, 0)) << "used index 1: not past 1";
  EXPECT_TRUE(q_.put(0, 0)) << "used index 2: past 1";
  EXPECT_FALSE(q_.put(0, 0));
}

TEST_F(VirtqueueTest, IndirectTablesAfterDirectDescriptors) {
  const uint64_t table = kRam + 0x3000;
  desc(table, 0, kData, 100, kDescNext, 2);
  desc(table, 2, kData + 200, 50, kDescNext | kDescWrite, 1);
  desc(table, 1, kData + 300, 60, kDescWrite);
  desc(kDesc, 4, kData + 400, 4, kDescNext, 6);
  desc(kDesc, 6, table, 3 * 16, kDescIndirect | kDescWrite);  // WRITE means nothing here
  offer(4);
  ASSERT_EQ(take(), Take::kChain);
  ASSERT_EQ(chain_.count, 4u);
  EXPECT_EQ(chain_.buffers[0].ipa, kData + 400);
  EXPECT_EQ(chain_.buffers[1].ipa, kData);
  EXPECT_EQ(chain_.readable, 104u);
  EXPECT_EQ(chain_.writable, 110u);
}

// Each way a driver can break the rules, from a fresh queue: refused, and
// the queue stays refused.
TEST_F(VirtqueueTest, EveryBrokenRuleIsRefused) {
  struct Case {
    const char* what;
    void (*build)(VirtqueueTest&);
    bool indirect = true;
  };
  const Case cases[] = {
      {"a head past the queue", [](VirtqueueTest& t) { t.offer(kSize); }},
      {"a next past the queue",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, kData, 8, kDescNext, kSize);
         t.offer(0);
       }},
      {"a loop",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, kData, 8, kDescNext, 1);
         t.desc(kDesc, 1, kData, 8, kDescNext, 0);
         t.offer(0);
       }},
      {"a descriptor pointing at itself",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 2, kData, 8, kDescNext, 2);
         t.offer(2);
       }},
      {"a buffer outside granted memory",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, kRam - 8, 8, 0);
         t.offer(0);
       }},
      {"a buffer running past granted memory",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, kRam + kRamSize - 8, 16, kDescWrite);
         t.offer(0);
       }},
      {"a buffer whose end wraps",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, ~uint64_t{0} - 4, 16, 0);
         t.offer(0);
       }},
      {"a readable buffer after a writable one",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, kData, 8, kDescWrite | kDescNext, 1);
         t.desc(kDesc, 1, kData, 8, 0);
         t.offer(0);
       }},
      {"a length past granted memory",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, kData, 0xffff'fff0, 0);
         t.offer(0);
       }},
      {"the available index more than a queue ahead",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, kData, 8, 0);
         t.poke<uint16_t>(kAvail + 2, kSize + 1);
       }},
      {"an indirect table without the feature",
       [](VirtqueueTest& t) {
         t.desc(kRam + 0x3000, 0, kData, 8, 0);
         t.desc(kDesc, 0, kRam + 0x3000, 16, kDescIndirect);
         t.offer(0);
       },
       false},
      {"an indirect descriptor with NEXT",
       [](VirtqueueTest& t) {
         t.desc(kRam + 0x3000, 0, kData, 8, 0);
         t.desc(kDesc, 0, kRam + 0x3000, 16, kDescIndirect | kDescNext, 1);
         t.desc(kDesc, 1, kData, 8, 0);
         t.offer(0);
       }},
      {"an indirect table of part of a descriptor",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, kRam + 0x3000, 24, kDescIndirect);
         t.offer(0);
       }},
      {"an empty indirect table",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, kRam + 0x3000, 0, kDescIndirect);
         t.offer(0);
       }},
      {"an indirect table outside granted memory",
       [](VirtqueueTest& t) {
         t.desc(kDesc, 0, kRam + kRamSize - 16, 32, kDescIndirect);
         t.offer(0);
       }},
      {"an indirect descriptor in an indirect table",
       [](VirtqueueTest& t) {
         t.desc(kRam + 0x3000, 0, kRam + 0x3000, 16, kDescIndirect);
         t.desc(kDesc, 0, kRam + 0x3000, 16, kDescIndirect);
         t.offer(0);
       }},
      {"a loop in an indirect table",
       [](VirtqueueTest& t) {
         t.desc(kRam + 0x3000, 0, kData, 8, kDescNext, 1);
         t.desc(kRam + 0x3000, 1, kData, 8, kDescNext, 0);
         t.desc(kDesc, 0, kRam + 0x3000, 32, kDescIndirect);
         t.offer(0);
       }},
      {"a next past an indirect table",
       [](VirtqueueTest& t) {
         t.desc(kRam + 0x3000, 0, kData, 8, kDescNext, 2);
         t.desc(kDesc, 0, kRam + 0x3000, 32, kDescIndirect);
         t.offer(0);
       }},
      {"more buffers than a device takes",
       [](VirtqueueTest& t) {
         for (uint32_t i = 0; i <= kMaxChainBuffers; ++i) {
           t.desc(kRam + 0x3000, i, kData, 8, i < kMaxChainBuffers ? kDescNext : 0, static_cast<uint16_t>(i + 1));
         }
         t.desc(kDesc, 0, kRam + 0x3000, 16 * (kMaxChainBuffers + 1), kDescIndirect);
         t.offer(0);
       }},
  };
  for (const Case& c : cases) {
    ram_.clear(kRamSize);
    ASSERT_TRUE(q_.setup(&memory_, kSize, kDesc, kAvail, kUsed, false, c.indirect)) << c.what;
    c.build(*this);
    EXPECT_EQ(take(), Take::kBroken) << c.what;
    EXPECT_TRUE(q_.broken()) << c.what;
    // Broken for good, whatever the driver does next, until a reset.
    desc(kDesc, 7, kData, 8, 0);
    offer(7);
    EXPECT_EQ(take(), Take::kBroken) << c.what;
    EXPECT_FALSE(q_.put(0, 0)) << c.what;
    EXPECT_EQ(peek<uint16_t>(kUsed + 2), 0) << c.what << ": nothing published";
  }
}

// Buffers that each lie in granted memory but add up to 4 GiB or more: a
// guest granting 3 GiB, its buffers mapped (never touched here) at an
// address of the test's that nothing dereferences.
TEST_F(VirtqueueTest, LengthsAddingUpTo4GiBAreRefused) {
  constexpr uint64_t kBig = 0x1'0000'0000;
  ASSERT_TRUE(memory_.add(kBig, 3ull << 30, reinterpret_cast<uint8_t*>(uintptr_t{1} << 40)));
  desc(kDesc, 0, kBig, 0xc000'0000, kDescNext, 1);
  desc(kDesc, 1, kBig, 0x4000'0000, kDescWrite);
  offer(0);
  EXPECT_EQ(take(), Take::kBroken);
  ASSERT_TRUE(q_.setup(&memory_, kSize, kDesc, kAvail, kUsed, false, true));
  desc(kDesc, 1, kBig, 0x3fff'ffff, kDescWrite);
  q_.resume(1, 0);
  offer(0);
  ASSERT_EQ(take(), Take::kChain) << "one byte short of 4 GiB";
  EXPECT_EQ(chain_.readable + uint64_t{chain_.writable}, 0xffff'ffffu);
}

// A driver on another CPU rewrites the descriptor table and the available
// ring while the device takes chains: whatever the device reads, every
// chain it returns is made of granted buffers, at most kMaxChainBuffers,
// readable ones first, and its totals are the sum of what it returned
// (each value read once); the device never hangs (a broken queue is set
// up again), and AddressSanitizer sees no access outside the granted RAM.
TEST_F(VirtqueueTest, ADriverRewritingEverythingMeanwhileGetsNothingOutOfBounds) {
  std::atomic<bool> stop{false};
  std::atomic<uint16_t> device_at{0};  // where the device has taken up to, as a driver could see it
  std::thread driver([&] {
    uint64_t x = 0x9e37'79b9'7f4a'7c15;
    auto* desc = reinterpret_cast<uint64_t*>(at(kDesc));
    auto* avail = reinterpret_cast<uint16_t*>(at(kAvail));
    // Flags mostly as a driver sets them, now and then anything.
    constexpr uint16_t kFlags[8] = {0, 0, kDescWrite, kDescWrite, kDescNext, kDescNext | kDescWrite, kDescIndirect,
                                    0xffff};
    while (!stop.load(std::memory_order_relaxed)) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const uint32_t i = static_cast<uint32_t>(x % kSize);
      // Addresses mostly inside the RAM, lengths up to past its end.
      const uint64_t addr = (x & 1) != 0 ? kRam + (x >> 8) % kRamSize : x;
      const uint64_t len = (x & 2) != 0 ? (x >> 12) % 0x1000 : (x >> 12) & 0xffff'ffff;
      const uint64_t meta = len | uint64_t{kFlags[(x >> 44) % 8]} << 32 | ((x >> 50) % (kSize + 1)) << 48;
      __atomic_store_n(&desc[2 * i], addr, __ATOMIC_RELAXED);
      __atomic_store_n(&desc[2 * i + 1], meta, __ATOMIC_RELAXED);
      __atomic_store_n(&avail[2 + (x >> 20) % kSize], static_cast<uint16_t>((x >> 24) % (kSize + 1)),
                       __ATOMIC_RELAXED);
      const uint16_t ahead = static_cast<uint16_t>(1 + (x >> 60) % 3);
      __atomic_store_n(&avail[1], static_cast<uint16_t>(device_at.load() + ahead), __ATOMIC_RELEASE);
    }
  });
  uint64_t chains = 0;
  uint64_t broken = 0;
  bool bad = false;
  // Until a thousand chains were taken and ten queues broken (the driver's
  // thread may start late on a loaded machine), for at most 20 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((chains < 1000 || broken < 10) && !bad && std::chrono::steady_clock::now() < deadline) {
    const Take t = take();
    device_at.store(q_.next_avail());
    if (t == Take::kBroken) {
      ++broken;
      ASSERT_TRUE(q_.setup(&memory_, kSize, kDesc, kAvail, kUsed, false, true));
      device_at.store(0);
      continue;
    }
    if (t != Take::kChain) continue;
    ++chains;
    bool seen_write = false;
    uint64_t readable = 0;
    uint64_t writable = 0;
    bad = chain_.count > kMaxChainBuffers || chain_.head >= kSize;
    for (uint32_t b = 0; b < chain_.count && !bad; ++b) {
      const Buffer& buf = chain_.buffers[b];
      bad = (buf.len != 0 && memory_.translate(buf.ipa, buf.len) == nullptr) || (!buf.write && seen_write);
      seen_write = seen_write || buf.write;
      (buf.write ? writable : readable) += buf.len;
    }
    bad = bad || readable != chain_.readable || writable != chain_.writable;
    q_.put(chain_.head, chain_.writable);
  }
  stop.store(true);
  driver.join();
  EXPECT_FALSE(bad) << "chain " << chains;
  EXPECT_GE(chains, 1000u) << "the race took chains";
  EXPECT_GE(broken, 10u) << "and refused broken ones";
}

TEST_F(VirtqueueTest, SetupChecksTheQueue) {
  EXPECT_FALSE(q_.setup(&memory_, 0, kDesc, kAvail, kUsed, false, false)) << "empty";
  EXPECT_FALSE(q_.setup(&memory_, 12, kDesc, kAvail, kUsed, false, false)) << "not a power of 2";
  EXPECT_FALSE(q_.setup(&memory_, 65536, kDesc, kAvail, kUsed, false, false)) << "too big";
  EXPECT_FALSE(q_.setup(&memory_, kSize, kDesc + 8, kAvail, kUsed, false, false)) << "descriptors unaligned";
  EXPECT_FALSE(q_.setup(&memory_, kSize, kDesc, kAvail + 1, kUsed, false, false)) << "available ring unaligned";
  EXPECT_FALSE(q_.setup(&memory_, kSize, kDesc, kAvail, kUsed + 2, false, false)) << "used ring unaligned";
  EXPECT_FALSE(q_.setup(&memory_, kSize, kRam + kRamSize - 64, kAvail, kUsed, false, false)) << "table past memory";
  EXPECT_FALSE(q_.setup(&memory_, kSize, kDesc, kRam - 0x1000, kUsed, false, false)) << "ring outside memory";
  EXPECT_FALSE(q_.setup(&memory_, kSize, kDesc, kAvail, kRam + kRamSize - 0x40, false, false)) << "used past memory";
  EXPECT_FALSE(q_.setup(nullptr, kSize, kDesc, kAvail, kUsed, false, false));
  EXPECT_FALSE(q_.ready());
  EXPECT_EQ(q_.take(chain_), Take::kBroken) << "not set up";
  EXPECT_TRUE(q_.setup(&memory_, 32768, kDesc, kRam + 0x80000, kRam + 0x90000, false, false)) << "the largest";
}

TEST(GuestMemory, RangesAreCheckedAndTranslated) {
  uint8_t a[64];
  uint8_t b[64];
  GuestMemory m;
  ASSERT_TRUE(m.add(0x1000, sizeof(a), a));
  EXPECT_FALSE(m.add(0x1020, sizeof(b), b)) << "overlapping";
  EXPECT_FALSE(m.add(~uint64_t{0} - 8, 64, b)) << "wrapping";
  EXPECT_FALSE(m.add(0x9000, 0, b)) << "empty";
  ASSERT_TRUE(m.add(0x2000, sizeof(b), b));
  EXPECT_EQ(m.translate(0x1000, 64), a);
  EXPECT_EQ(m.translate(0x1010, 16), a + 16);
  EXPECT_EQ(m.translate(0x2000, 1), b);
  EXPECT_EQ(m.translate(0x1000, 65), nullptr) << "past the end";
  EXPECT_EQ(m.translate(0x1030, 32), nullptr) << "across the end";
  EXPECT_EQ(m.translate(0x1040, 1), nullptr) << "between the ranges";
  EXPECT_EQ(m.translate(0x1000, 0), nullptr) << "nothing";
  EXPECT_EQ(m.translate(~uint64_t{0}, 2), nullptr) << "wrapping";
}

}  // namespace
}  // namespace hyp::virtio
