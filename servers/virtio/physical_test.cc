// The driver side (PhysicalDevice) against a real device side: this
// project's virtio-mmio transport with its virtio-rng model, which checks
// every descriptor as it would a guest's. Memory is one buffer that both
// sides see, at "physical" addresses from kRam.
#include "servers/virtio/physical.h"

#include <gtest/gtest.h>

#include <cstring>

#include "servers/virtio/mmio_registers.h"
#include "servers/virtio/rng_device.h"
#include "servers/virtio/testing/driver.h"

namespace hyp::virtio {
namespace {

using test_driver::GuestRam;
using test_driver::kRam;
using test_driver::kRamSize;

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

class TransportRegisters final : public Registers {
 public:
  explicit TransportRegisters(MmioTransport& t) : t_(t) {}
  uint32_t read32(uint32_t offset) override { return static_cast<uint32_t>(t_.read(offset, 4)); }
  void write32(uint32_t offset, uint32_t value) override {
    if (offset == reg::kQueueNotify) ++notifies;
    t_.write(offset, 4, value);
  }
  uint32_t notifies = 0;

 private:
  MmioTransport& t_;
};

class PhysicalTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(dev_.start(regs_, RngDevice::kDeviceId, 0, PhysicalDevice::kMaxSlots, pool_), PhysicalDevice::Start::kOk); }

  // Where the test's data buffers go: past what start() carved.
  uint64_t data(uint64_t offset) { return pool_.pa + offset; }

  GuestRam ram_;
  Counter source_;
  RngDevice rng_{ram_.memory, source_};
  MmioTransport t_{rng_, ram_.memory};
  TransportRegisters regs_{t_};
  DmaMemory pool_{ram_.at(kRam), kRam, kRamSize};
  PhysicalDevice dev_;
};

TEST_F(PhysicalTest, BringsTheDeviceUpWithIndirectRequestsOnly) {
  EXPECT_TRUE(dev_.live());
  EXPECT_EQ(t_.status() & kStatusDriverOk, kStatusDriverOk);
  EXPECT_EQ(dev_.features(), kFeatureVersion1 | kFeatureIndirectDesc) << "no event index, nothing unasked";
  EXPECT_EQ(t_.driver_features(), dev_.features());
  EXPECT_EQ(dev_.slots(), RngDevice::kQueueMax) << "the ring is as large as the device allows, up to kMaxSlots";
  EXPECT_GT(pool_.pa, kRam) << "the ring and tables were carved from the memory";
}

TEST_F(PhysicalTest, ARequestOfManySegmentsIsFilledInOrder) {
  source_.budget = 1000;
  const Segment segs[] = {{data(0), 3, true}, {data(0x100), 5, true}, {data(0x200), 2, true}};
  uint16_t slot = 0;
  ASSERT_TRUE(dev_.submit(segs, 3, slot));
  EXPECT_EQ(dev_.in_flight(), 1u);
  uint16_t done = 0;
  uint32_t written = 0;
  EXPECT_FALSE(dev_.complete(done, written)) << "not before the device is told";
  dev_.kick();
  EXPECT_EQ(regs_.notifies, 1u);
  ASSERT_TRUE(dev_.complete(done, written));
  EXPECT_EQ(done, slot);
  EXPECT_EQ(written, 10u);
  EXPECT_EQ(dev_.in_flight(), 0u);
  const uint8_t expect[3][5] = {{1, 2, 3}, {4, 5, 6, 7, 8}, {9, 10}};
  EXPECT_EQ(std::memcmp(ram_.at(data(0)), expect[0], 3), 0);
  EXPECT_EQ(std::memcmp(ram_.at(data(0x100)), expect[1], 5), 0);
  EXPECT_EQ(std::memcmp(ram_.at(data(0x200)), expect[2], 2), 0);
  EXPECT_EQ(dev_.acknowledge(), kInterruptUsedBuffer);
  EXPECT_FALSE(t_.interrupt_pending()) << "acknowledged";
  EXPECT_FALSE(dev_.complete(done, written));
}

TEST_F(PhysicalTest, EverySlotCanBeInFlightAndEachIsGivenBackOnce) {
  const uint32_t n = dev_.slots();
  bool seen[PhysicalDevice::kMaxSlots] = {};
  for (uint32_t i = 0; i < n; ++i) {
    const Segment s{data(16ull * i), 16, true};
    uint16_t slot = 0;
    ASSERT_TRUE(dev_.submit(&s, 1, slot)) << i;
    ASSERT_LT(slot, n);
    EXPECT_FALSE(seen[slot]) << "slot " << slot << " handed out twice";
    seen[slot] = true;
  }
  const Segment more{data(0x8000), 16, true};
  uint16_t slot = 0;
  EXPECT_FALSE(dev_.submit(&more, 1, slot)) << "every slot is in flight";
  dev_.kick();
  uint16_t done = 0;
  uint32_t written = 0;
  EXPECT_FALSE(dev_.complete(done, written)) << "the source had nothing: all wait";
  source_.budget = 16 * n;
  t_.run_queue(0);
  for (uint32_t i = 0; i < n; ++i) {
    ASSERT_TRUE(dev_.complete(done, written)) << i;
    EXPECT_EQ(written, 16u);
    EXPECT_TRUE(seen[done]);
    seen[done] = false;
  }
  EXPECT_FALSE(dev_.complete(done, written));
  // Round the ring again: indices wrap past the ring's size.
  for (uint32_t round = 0; round < 3 * n; ++round) {
    source_.budget = 1;
    ASSERT_TRUE(dev_.submit(&more, 1, slot));
    dev_.kick();
    ASSERT_TRUE(dev_.complete(done, written)) << round;
    EXPECT_EQ(done, slot);
  }
  EXPECT_EQ(t_.status() & kStatusNeedsReset, 0u) << "the device found nothing wrong in what it was given";
}

TEST_F(PhysicalTest, RefusesRequestsItCannotDescribe) {
  uint16_t slot = 0;
  const Segment mixed[] = {{data(0), 4, true}, {data(0x10), 4, false}};
  EXPECT_FALSE(dev_.submit(mixed, 2, slot)) << "readable after writable";
  EXPECT_FALSE(dev_.submit(mixed, 0, slot));
  Segment many[PhysicalDevice::kMaxSegments + 1];
  for (auto& s : many) s = {data(0), 1, true};
  EXPECT_FALSE(dev_.submit(many, PhysicalDevice::kMaxSegments + 1, slot));
  source_.budget = 1000;
  // As long a request as the device model takes (a physical device's
  // limit is its own; QEMU's is 1,024).
  ASSERT_TRUE(dev_.submit(many, kMaxChainBuffers, slot));
  dev_.kick();
  uint16_t done = 0;
  uint32_t written = 0;
  ASSERT_TRUE(dev_.complete(done, written));
  EXPECT_EQ(written, kMaxChainBuffers);
  EXPECT_EQ(dev_.in_flight(), 0u);
}

// The device is trusted hardware, but what it publishes is still checked:
// a used entry for a slot not in flight is skipped, not taken as a
// completion (which would free a slot twice).
TEST_F(PhysicalTest, AUsedEntryForNoRequestInFlightIsIgnored) {
  source_.budget = 4;
  const Segment s{data(0), 4, true};
  uint16_t slot = 0;
  ASSERT_TRUE(dev_.submit(&s, 1, slot));
  dev_.kick();
  uint16_t done = 0;
  uint32_t written = 0;
  ASSERT_TRUE(dev_.complete(done, written));
  // The used ring, where start() put it: after the descriptors and the
  // available ring.
  DmaMemory m{ram_.at(kRam), kRam, kRamSize}, parts[3];
  const uint64_t n = dev_.slots();
  ASSERT_TRUE(m.carve(16 * n, 16, parts[0]) && m.carve(6 + 2 * n, 2, parts[1]) && m.carve(6 + 8 * n, 4, parts[2]));
  const uint64_t used = parts[2].pa;
  ASSERT_EQ(ram_.peek<uint16_t>(used + 2), 1) << "the device's one completion";
  // Two entries the device never wrote: a slot out of range, and the slot
  // just completed, which is no longer in flight.
  ram_.poke<uint32_t>(used + 4 + 8 * 1, 999);
  ram_.poke<uint32_t>(used + 4 + 8 * 2, slot);
  ram_.poke<uint16_t>(used + 2, 3);
  EXPECT_FALSE(dev_.complete(done, written));
  EXPECT_EQ(dev_.bogus(), 2u);
  EXPECT_EQ(dev_.in_flight(), 0u);
  // Every slot is still free exactly once.
  for (uint32_t i = 0; i < n; ++i) ASSERT_TRUE(dev_.submit(&s, 1, slot)) << i;
  EXPECT_FALSE(dev_.submit(&s, 1, slot));
}

TEST(PhysicalStartTest, RefusesWhatItCannotDrive) {
  GuestRam ram;
  Counter source;
  RngDevice rng{ram.memory, source};
  MmioTransport t{rng, ram.memory};
  TransportRegisters regs{t};
  PhysicalDevice dev;
  DmaMemory pool{ram.at(kRam), kRam, kRamSize};
  EXPECT_EQ(dev.start(regs, 2, 0, 4, pool), PhysicalDevice::Start::kWrongDevice) << "not a block device";
  EXPECT_FALSE(dev.live());
  DmaMemory small{ram.at(kRam), kRam, 4096};
  EXPECT_EQ(dev.start(regs, RngDevice::kDeviceId, 0, 4, small), PhysicalDevice::Start::kMemory);
  EXPECT_FALSE(dev.live());
  ASSERT_EQ(dev.start(regs, RngDevice::kDeviceId, 0, 4, pool), PhysicalDevice::Start::kOk);
  EXPECT_EQ(dev.slots(), 4u) << "as many as asked for";
  dev.stop();
  EXPECT_FALSE(dev.live());
  EXPECT_EQ(t.status(), 0u) << "stopped: the device was reset";
  uint16_t slot = 0;
  const Segment s{pool.pa, 4, true};
  EXPECT_FALSE(dev.submit(&s, 1, slot)) << "nothing is submitted to a stopped device";

  class Nothing final : public Registers {
   public:
    uint32_t read32(uint32_t) override { return 0xffff'ffff; }
    void write32(uint32_t, uint32_t) override {}
  } nothing;
  EXPECT_EQ(dev.start(nothing, RngDevice::kDeviceId, 0, 4, pool), PhysicalDevice::Start::kNoDevice);
}

TEST_F(PhysicalTest, QueuesTheDeviceLacksAreRefused) {
  PhysicalDevice two;
  DmaMemory pool{ram_.at(kRam + kRamSize / 2), kRam + kRamSize / 2, kRamSize / 2};
  EXPECT_EQ(two.start(regs_, RngDevice::kDeviceId, 0, 8, pool, 2), PhysicalDevice::Start::kQueue)
      << "virtio-rng has one queue";
  EXPECT_FALSE(two.live());
  EXPECT_EQ(two.start(regs_, RngDevice::kDeviceId, 0, 8, pool, 3), PhysicalDevice::Start::kQueue);
  EXPECT_EQ(two.start(regs_, RngDevice::kDeviceId, 0, 8, pool, 0), PhysicalDevice::Start::kQueue);
  // A live one-queue device: queue 1 takes nothing and completes nothing.
  ASSERT_EQ(two.start(regs_, RngDevice::kDeviceId, 0, 8, pool, 1), PhysicalDevice::Start::kOk);
  const Segment seg{pool.pa, 4, true};
  uint16_t slot = 0;
  uint32_t written = 0;
  EXPECT_FALSE(two.submit(&seg, 1, slot, 1));
  EXPECT_FALSE(two.complete(slot, written, 1));
  EXPECT_EQ(two.slots(1), 0u);
  EXPECT_EQ(two.slots(7), 0u);
}

}  // namespace
}  // namespace hyp::virtio
