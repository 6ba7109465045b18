// The virtio-mmio transport driven as Linux's virtio_mmio driver drives it,
// and as a hostile guest might: identification, feature negotiation, queue
// setup, notifications and interrupts, DEVICE_NEEDS_RESET, and the
// configuration space, with a small device model that fills each chain's
// writable buffers with a counter.
#include "servers/virtio/mmio_transport.h"

#include <gtest/gtest.h>

#include <cstring>

#include "servers/virtio/testing/driver.h"

namespace hyp::virtio {
namespace {

using namespace test_driver;  // the guest's RAM and driver

// A device with one queue of up to 16 that writes 0, 1, 2, ... into the
// writable buffers of each chain, and 8 bytes of configuration space.
class CounterDevice final : public VirtioDevice {
 public:
  explicit CounterDevice(const GuestMemory& memory) : memory_(memory) {}
  uint32_t device_id() const override { return 4; }
  uint64_t features() const override { return 1u << 3; }
  uint32_t queue_count() const override { return 1; }
  uint32_t queue_max(uint32_t) const override { return 16; }
  uint32_t config_size() const override { return 8; }
  uint64_t config_read(uint32_t offset, unsigned width) override {
    uint64_t v = 0;
    std::memcpy(&v, config_ + offset, width);
    return v;
  }
  void config_write(uint32_t offset, unsigned width, uint64_t value) override {
    std::memcpy(config_ + offset, &value, width);
  }
  void reset() override { ++resets; }
  bool notify(uint32_t, Virtqueue& q, uint64_t) override {
    bool interrupt = false;
    Chain c;
    while (q.take(c) == Take::kChain) {
      for (uint32_t i = 0; i < c.count; ++i) {
        if (!c.buffers[i].write) continue;
        uint8_t* p = memory_.translate(c.buffers[i].ipa, c.buffers[i].len);
        for (uint32_t j = 0; j < c.buffers[i].len; ++j) p[j] = next_++;
      }
      interrupt = q.put(c.head, c.writable) || interrupt;
    }
    return interrupt;
  }
  int resets = 0;

 private:
  const GuestMemory& memory_;
  uint8_t config_[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t next_ = 0;
};

class MmioTransportTest : public ::testing::Test {
 protected:
  uint32_t r(uint64_t offset) { return driver_.r(offset); }
  void w(uint64_t offset, uint64_t value) { driver_.w(offset, value); }
  bool negotiate(uint64_t features) { return driver_.negotiate(features); }
  void start() { ASSERT_TRUE(driver_.start(kFeatureVersion1 | (1u << 3))); }
  // One writable buffer of `len` bytes at kData in descriptor 0, offered.
  void offer(uint32_t len, uint16_t flags = kDescWrite, uint16_t next = 0) { driver_.offer(0, len, flags, next); }

  GuestRam ram_;
  CounterDevice device_{ram_.memory};
  MmioTransport t_{device_, ram_.memory};
  MmioDriver driver_{t_, ram_, 16};
};

TEST_F(MmioTransportTest, IdentifiesItselfToThirtyTwoBitReadsOnly) {
  EXPECT_EQ(r(0x000), 0x7472'6976u);
  EXPECT_EQ(r(0x004), 2u) << "version 2: virtio 1.x";
  EXPECT_EQ(r(0x008), 4u);
  EXPECT_EQ(r(0x00c), MmioTransport::kVendor);
  EXPECT_EQ(t_.read(0x000, 2), 0u) << "registers take 32-bit accesses";
  EXPECT_EQ(t_.read(0x000, 8), 0u);
  EXPECT_EQ(r(0x034), 16u) << "queue 0's maximum";
  w(0x030, 1);
  EXPECT_EQ(r(0x034), 0u) << "no queue 1";
  w(0x030, 0xffff'ffff);
  EXPECT_EQ(r(0x034), 0u);
  EXPECT_EQ(r(0x0b0), 0xffff'ffffu) << "no shared memory";
  EXPECT_EQ(r(0x1fc), 0u) << "past the configuration space";
}

TEST_F(MmioTransportTest, FeaturesAreNegotiatedOnlyWithinWhatIsOffered) {
  w(0x014, 0);
  EXPECT_EQ(r(0x010), (1u << 3) | (1u << 28) | (1u << 29));
  w(0x014, 1);
  EXPECT_EQ(r(0x010), 1u) << "VERSION_1";
  w(0x014, 2);
  EXPECT_EQ(r(0x010), 0u);
  EXPECT_FALSE(negotiate(1u << 3)) << "without VERSION_1";
  EXPECT_FALSE(negotiate(kFeatureVersion1 | (1u << 5))) << "a feature not offered";
  EXPECT_FALSE(negotiate(kFeatureVersion1 | (uint64_t{1} << 40))) << "a high feature not offered";
  // FEATURES_OK before DRIVER.
  w(0x070, 0);
  w(0x070, kStatusAcknowledge | kStatusFeaturesOk);
  EXPECT_EQ(r(0x070) & kStatusFeaturesOk, 0u);
  // DRIVER_OK without FEATURES_OK.
  w(0x070, kStatusAcknowledge | kStatusDriver | kStatusDriverOk);
  EXPECT_EQ(r(0x070) & kStatusDriverOk, 0u);
  EXPECT_TRUE(negotiate(kFeatureVersion1 | kFeatureEventIdx | (1u << 3)));
  EXPECT_EQ(t_.driver_features(), kFeatureVersion1 | kFeatureEventIdx | (1u << 3));
  // Fixed once accepted.
  w(0x024, 0);
  w(0x020, 0);
  EXPECT_EQ(t_.driver_features(), kFeatureVersion1 | kFeatureEventIdx | (1u << 3));
  w(0x070, kStatusAcknowledge);
  EXPECT_NE(r(0x070) & kStatusFeaturesOk, 0u) << "the driver cannot clear bits but by a reset";
}

TEST_F(MmioTransportTest, ANotificationRunsTheDeviceAndRaisesTheInterrupt) {
  start();
  EXPECT_FALSE(t_.interrupt_pending());
  offer(4);
  w(0x050, 0);
  EXPECT_EQ(ram_.peek<uint16_t>(kUsed + 2), 1) << "completed";
  EXPECT_EQ(ram_.peek<uint32_t>(kUsed + 8), 4u);
  EXPECT_EQ(ram_.peek<uint8_t>(kData + 3), 3);
  EXPECT_TRUE(t_.interrupt_pending());
  EXPECT_EQ(r(0x060), kInterruptUsedBuffer);
  w(0x064, kInterruptUsedBuffer);
  EXPECT_FALSE(t_.interrupt_pending());
  w(0x050, 7);  // no such queue
  w(0x050, 0xffff'ffff);
  EXPECT_FALSE(t_.interrupt_pending());
}

// The guest's acknowledgement is a posted write, applied some time after
// the guest made it; a completion in between is not acknowledged by it,
// and the line stays up for it.
TEST_F(MmioTransportTest, AnAcknowledgementDoesNotSwallowACompletionAfterTheStatusWasRead) {
  start();
  offer(4);
  w(0x050, 0);
  ASSERT_EQ(r(0x060), kInterruptUsedBuffer);  // the driver's handler reads the status
  offer(4);  // meanwhile the device completes another request
  w(0x050, 0);
  ASSERT_EQ(ram_.peek<uint16_t>(kUsed + 2), 2);
  w(0x064, kInterruptUsedBuffer);  // the acknowledgement of what it read arrives
  EXPECT_TRUE(t_.interrupt_pending()) << "the second completion still wants the driver";
  EXPECT_EQ(r(0x060), kInterruptUsedBuffer);
  w(0x064, kInterruptUsedBuffer);
  EXPECT_FALSE(t_.interrupt_pending()) << "acknowledged after being read";
}

TEST_F(MmioTransportTest, AQueueInUseCannotBeMoved) {
  start();
  w(0x080, kRam + 0x5000);
  w(0x038, 4);
  offer(2);
  w(0x050, 0);
  EXPECT_EQ(ram_.peek<uint16_t>(kUsed + 2), 1) << "still at the old place, size 16";
  // Stopped (QueueReady 0), then moved.
  w(0x044, 0);
  EXPECT_EQ(r(0x044), 0u);
  w(0x080, kRam + 0x5000);
  w(0x044, 1);
  EXPECT_EQ(r(0x044), 1u);
}

TEST_F(MmioTransportTest, ABadQueueOrABrokenChainNeedsAReset) {
  ASSERT_TRUE(negotiate(kFeatureVersion1));
  driver_.queue(32);
  EXPECT_EQ(r(0x044), 0u) << "larger than the maximum";
  EXPECT_NE(r(0x070) & kStatusNeedsReset, 0u);
  EXPECT_FALSE(t_.interrupt_pending()) << "no interrupt before DRIVER_OK";
  ASSERT_TRUE(negotiate(kFeatureVersion1));
  EXPECT_EQ(r(0x070) & kStatusNeedsReset, 0u) << "a reset clears it";
  driver_.queue(16, kRam + kRamSize - 0x40);
  EXPECT_EQ(r(0x044), 0u) << "descriptors outside granted memory";
  EXPECT_NE(r(0x070) & kStatusNeedsReset, 0u);
  ASSERT_TRUE(negotiate(kFeatureVersion1));
  driver_.queue(16, kDesc, kAvail + 1);
  EXPECT_NE(r(0x070) & kStatusNeedsReset, 0u) << "a misaligned ring";
  // A queue before FEATURES_OK.
  w(0x070, 0);
  w(0x070, kStatusAcknowledge | kStatusDriver);
  driver_.queue(16);
  EXPECT_EQ(r(0x044), 0u);
  // A chain the driver breaks after DRIVER_OK.
  const int resets = device_.resets;
  start();
  offer(4, kDescWrite | kDescNext, 0);  // a descriptor pointing at itself
  w(0x050, 0);
  EXPECT_NE(r(0x070) & kStatusNeedsReset, 0u);
  EXPECT_EQ(r(0x060), kInterruptConfigChange) << "the spec's notice of DEVICE_NEEDS_RESET";
  EXPECT_EQ(ram_.peek<uint16_t>(kUsed + 2), 0) << "nothing completed";
  offer(4);
  w(0x050, 0);
  EXPECT_EQ(ram_.peek<uint16_t>(kUsed + 2), 0) << "the device does nothing until reset";
  w(0x070, 0);
  EXPECT_EQ(r(0x070), 0u);
  EXPECT_EQ(r(0x044), 0u);
  EXPECT_EQ(r(0x060), 0u);
  EXPECT_GT(device_.resets, resets);
  ram_.clear(0x3000);
  start();
  offer(4);
  w(0x050, 0);
  EXPECT_EQ(ram_.peek<uint16_t>(kUsed + 2), 1) << "working again";
}

TEST_F(MmioTransportTest, TheConfigurationSpaceTakesAnyWidthInside) {
  EXPECT_EQ(t_.read(0x100, 1), 1u);
  EXPECT_EQ(t_.read(0x102, 2), 0x0403u);
  EXPECT_EQ(t_.read(0x100, 8), 0x0807'0605'0403'0201u);
  EXPECT_EQ(t_.read(0x104, 8), 0u) << "running past it";
  t_.write(0x106, 2, 0xbeef);
  EXPECT_EQ(t_.read(0x104, 4), 0xbeef'0605u);
  t_.write(0x107, 2, 0xffff);  // past it: ignored
  EXPECT_EQ(t_.read(0x107, 1), 0xbeu);
  start();
  const uint32_t generation = r(0x0fc);
  t_.config_changed();
  EXPECT_EQ(r(0x0fc), generation + 1);
  EXPECT_EQ(r(0x060), kInterruptConfigChange);
}

}  // namespace
}  // namespace hyp::virtio
