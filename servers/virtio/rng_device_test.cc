// virtio-rng through the virtio-mmio transport, as Linux's virtio-rng
// driver uses it: requests filled from the source, partly when it has
// less, waiting when it has none and completed in order when it has more;
// a stopped queue drops what waited; a restart resumes without losing or
// repeating a request.
#include "servers/virtio/rng_device.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

namespace hyp::virtio {
namespace {

constexpr uint64_t kRam = 0x4000'0000;
constexpr uint64_t kRamSize = 1 << 20;
constexpr uint64_t kDesc = kRam;
constexpr uint64_t kAvail = kRam + 0x1000;
constexpr uint64_t kUsed = kRam + 0x2000;
constexpr uint64_t kData = kRam + 0x10000;
constexpr uint32_t kQueue = 8;

// Bytes 1, 2, 3, ... as many as it is given leave to hand out.
class Counter final : public EntropySource {
 public:
  size_t take(uint8_t* out, size_t len) override {
    const size_t n = len < budget ? len : budget;
    for (size_t i = 0; i < n; ++i) out[i] = ++next_;
    budget -= n;
    return n;
  }
  size_t budget = 0;

 private:
  uint8_t next_ = 0;
};

class RngTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ram_ = std::make_unique<uint8_t[]>(kRamSize);
    std::memset(ram_.get(), 0, kRamSize);
    ASSERT_TRUE(memory_.add(kRam, kRamSize, ram_.get()));
    start();
  }
  void w(uint64_t offset, uint64_t value) { t_.write(offset, 4, value); }
  uint32_t r(uint64_t offset) { return static_cast<uint32_t>(t_.read(offset, 4)); }
  template <typename T>
  void poke(uint64_t ipa, T v) {
    std::memcpy(ram_.get() + (ipa - kRam), &v, sizeof(v));
  }
  template <typename T>
  T peek(uint64_t ipa) {
    T v;
    std::memcpy(&v, ram_.get() + (ipa - kRam), sizeof(v));
    return v;
  }
  void start() {
    w(0x070, 0);
    w(0x070, kStatusAcknowledge | kStatusDriver);
    w(0x024, 1);
    w(0x020, 1);  // VERSION_1
    w(0x070, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
    w(0x030, 0);
    w(0x038, kQueue);
    w(0x080, kDesc);
    w(0x090, kAvail);
    w(0x0a0, kUsed);
    w(0x044, 1);
    w(0x070, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
    ASSERT_EQ(r(0x044), 1u);
    ASSERT_EQ(r(0x070) & kStatusNeedsReset, 0u);
  }
  // A request for `len` bytes at kData + 0x100 * slot, in descriptor
  // `slot`, offered and notified.
  void ask(uint16_t slot, uint32_t len, uint16_t flags = kDescWrite) {
    poke<uint64_t>(kDesc + 16 * slot, kData + 0x100 * slot);
    poke<uint32_t>(kDesc + 16 * slot + 8, len);
    poke<uint16_t>(kDesc + 16 * slot + 12, flags);
    const uint16_t idx = peek<uint16_t>(kAvail + 2);
    poke<uint16_t>(kAvail + 4 + 2 * (idx % kQueue), slot);
    poke<uint16_t>(kAvail + 2, static_cast<uint16_t>(idx + 1));
    w(0x050, 0);
  }
  uint16_t used() { return peek<uint16_t>(kUsed + 2); }
  uint32_t used_len(uint16_t i) { return peek<uint32_t>(kUsed + 4 + 8 * (i % kQueue) + 4); }
  uint32_t used_id(uint16_t i) { return peek<uint32_t>(kUsed + 4 + 8 * (i % kQueue)); }

  std::unique_ptr<uint8_t[]> ram_;
  GuestMemory memory_;
  Counter source_;
  RngDevice device_{memory_, source_};
  MmioTransport t_{device_, memory_};
};

TEST_F(RngTest, RequestsAreFilledAsFarAsTheSourceGoes) {
  EXPECT_EQ(r(0x008), 4u) << "an entropy device";
  source_.budget = 100;
  ask(0, 16);
  ASSERT_EQ(used(), 1);
  EXPECT_EQ(used_len(0), 16u);
  EXPECT_EQ(peek<uint8_t>(kData), 1);
  EXPECT_EQ(peek<uint8_t>(kData + 15), 16);
  EXPECT_TRUE(t_.interrupt_pending());
  ask(1, 200);
  ASSERT_EQ(used(), 2);
  EXPECT_EQ(used_len(1), 84u) << "what the source had";
  EXPECT_EQ(peek<uint8_t>(kData + 0x100), 17);
}

TEST_F(RngTest, RequestsWaitForEntropyAndCompleteInOrder) {
  ask(0, 8);
  ask(1, 8);
  EXPECT_EQ(used(), 0) << "no entropy yet";
  EXPECT_FALSE(t_.interrupt_pending());
  source_.budget = 12;
  t_.run_queue(0);  // entropy came
  ASSERT_EQ(used(), 2);
  EXPECT_EQ(used_id(0), 0u);
  EXPECT_EQ(used_len(0), 8u);
  EXPECT_EQ(used_id(1), 1u);
  EXPECT_EQ(used_len(1), 4u);
  EXPECT_TRUE(t_.interrupt_pending());
  ask(2, 0, kDescWrite);  // nothing to fill: done at once
  EXPECT_EQ(used(), 3);
  EXPECT_EQ(used_len(2), 0u);
  ask(3, 8, 0);  // nothing writable: done at once
  EXPECT_EQ(used(), 4);
}

TEST_F(RngTest, AStoppedQueueDropsTheWaitingRequest) {
  ask(0, 8);
  w(0x030, 0);
  w(0x044, 0);
  std::memset(ram_.get(), 0, 0x3000);
  w(0x044, 1);  // the same place, from scratch
  source_.budget = 100;
  t_.run_queue(0);
  EXPECT_EQ(used(), 0) << "the old request is not completed into the new queue";
  ask(5, 4);
  ASSERT_EQ(used(), 1);
  EXPECT_EQ(used_id(0), 5u);
}

TEST_F(RngTest, ARestartedServerTakesTheWaitingRequestAgain) {
  source_.budget = 8;
  ask(0, 8);
  ask(1, 8);  // taken, waiting
  ASSERT_EQ(used(), 1);
  // A new instance: its state page kept the used index only.
  const uint16_t kept = 1;
  Counter source;
  RngDevice device{memory_, source};
  Virtqueue q;
  ASSERT_TRUE(q.setup(&memory_, kQueue, kDesc, kAvail, kUsed, false, false));
  q.resume(kept, kept);
  source.budget = 8;
  (void)device.notify(0, q, 0);
  ASSERT_EQ(used(), 2) << "the waiting request, completed once";
  EXPECT_EQ(used_id(1), 1u);
  (void)device.notify(0, q, 0);
  EXPECT_EQ(used(), 2) << "and not again";
}

}  // namespace
}  // namespace hyp::virtio
