// virtio-rng through the virtio-mmio transport, as Linux's virtio-rng
// driver uses it: requests filled from the source, partly when it has
// less, waiting when it has none and completed in order when it has more;
// a stopped queue drops what waited; a restart resumes without losing or
// repeating a request.
#include "servers/virtio/rng_device.h"

#include <gtest/gtest.h>

#include <cstring>

#include "servers/virtio/testing/driver.h"

namespace hyp::virtio {
namespace {

using namespace test_driver;  // the guest's RAM and driver

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
  void SetUp() override { ASSERT_TRUE(driver_.start(kFeatureVersion1)); }
  void w(uint64_t offset, uint64_t value) { driver_.w(offset, value); }
  uint32_t r(uint64_t offset) { return driver_.r(offset); }
  // A request for `len` bytes at kData + 0x100 * slot, in descriptor
  // `slot`, offered and notified.
  void ask(uint16_t slot, uint32_t len, uint16_t flags = kDescWrite) {
    driver_.offer(slot, len, flags);
    driver_.notify();
  }
  uint16_t used() { return driver_.used(); }
  uint32_t used_len(uint16_t i) { return driver_.used_len(i); }
  uint32_t used_id(uint16_t i) { return driver_.used_id(i); }

  GuestRam ram_;
  Counter source_;
  RngDevice device_{ram_.memory, source_};
  MmioTransport t_{device_, ram_.memory};
  MmioDriver driver_{t_, ram_, kQueue};
};

TEST_F(RngTest, RequestsAreFilledAsFarAsTheSourceGoes) {
  EXPECT_EQ(r(0x008), 4u) << "an entropy device";
  source_.budget = 100;
  ask(0, 16);
  ASSERT_EQ(used(), 1);
  EXPECT_EQ(used_len(0), 16u);
  EXPECT_EQ(ram_.peek<uint8_t>(kData), 1);
  EXPECT_EQ(ram_.peek<uint8_t>(kData + 15), 16);
  EXPECT_TRUE(t_.interrupt_pending());
  ask(1, 200);
  ASSERT_EQ(used(), 2);
  EXPECT_EQ(used_len(1), 84u) << "what the source had";
  EXPECT_EQ(ram_.peek<uint8_t>(kData + 0x100), 17);
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
  ram_.clear(0x3000);
  w(0x044, 1);  // the same place, from scratch
  source_.budget = 100;
  t_.run_queue(0);
  EXPECT_EQ(used(), 0) << "the old request is not completed into the new queue";
  ask(5, 4);
  ASSERT_EQ(used(), 1);
  EXPECT_EQ(used_id(0), 5u);
}

// A new instance of the server, from the transport state the old one kept
// (TransportState in its state page): the request the old instance took
// and had not completed is taken again and completed once; the one it did
// complete is not repeated; the driver is interrupted in case the old
// instance completed something without saying so; and the queue goes on.
TEST_F(RngTest, ARestartedServerTakesTheWaitingRequestAgain) {
  TransportState saved{};
  MmioTransport first{device_, ram_.memory};
  first.attach(&saved, false);
  MmioDriver driver{first, ram_, kQueue};
  ASSERT_TRUE(driver.start(kFeatureVersion1));
  source_.budget = 8;
  driver.offer(0, 8, kDescWrite);
  driver.notify();
  driver.offer(1, 8, kDescWrite);
  driver.notify();  // taken, waiting
  ASSERT_EQ(used(), 1);
  ASSERT_EQ(driver.r(0x060), kInterruptUsedBuffer);  // the driver saw the first
  driver.w(0x064, kInterruptUsedBuffer);
  ASSERT_FALSE(first.interrupt_pending());

  Counter source;
  RngDevice device{ram_.memory, source};
  MmioTransport second{device, ram_.memory};
  second.attach(&saved, true);
  EXPECT_EQ(second.status() & (kStatusDriverOk | kStatusNeedsReset), kStatusDriverOk) << "the setup carried over";
  EXPECT_TRUE(second.interrupt_pending());
  source.budget = 8;
  second.run_queue(0);
  ASSERT_EQ(used(), 2) << "the waiting request, completed once";
  EXPECT_EQ(used_id(1), 1u);
  EXPECT_EQ(used_len(1), 8u);
  second.run_queue(0);
  EXPECT_EQ(used(), 2) << "and not again";
  MmioDriver again{second, ram_, kQueue};
  source.budget = 4;
  again.offer(2, 4, kDescWrite);
  again.notify();
  ASSERT_EQ(used(), 3) << "the queue goes on";
  EXPECT_EQ(used_id(2), 2u);

  // A state that no longer fits the device (corrupted, or from another
  // image): the queue is not set up from it, and the device needs a reset.
  saved.queues[0].num = 2 * RngDevice::kQueueMax;
  MmioTransport third{device, ram_.memory};
  third.attach(&saved, true);
  EXPECT_NE(third.status() & kStatusNeedsReset, 0u);
  third.run_queue(0);
  EXPECT_EQ(used(), 3);
  TransportState fresh = saved;
  MmioTransport fourth{device, ram_.memory};
  fourth.attach(&fresh, false);
  EXPECT_EQ(fourth.status(), 0u) << "not resumed: reset";
}

}  // namespace
}  // namespace hyp::virtio
