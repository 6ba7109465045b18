#include "kernel/irq/gic.h"

#include <gtest/gtest.h>

#include <map>

#include "kernel/arch/fake/fake.h"

namespace hyp::gic {
namespace {

constexpr uint64_t kDist = 0x0800'0000;
constexpr uint64_t kRedist = 0x080a'0000;

// A GIC's registers as plain memory, with the handshakes the driver waits
// for: RWP clears after a few reads, ChildrenAsleep follows ProcessorSleep
// after a few reads.
class GicModel {
 public:
  explicit GicModel(int cpus, uint32_t lag = 3) : lag_(lag) {
    regs_[kDist + kGicdCtlr] = kGicdCtlrDs;
    for (int i = 0; i < cpus; ++i) {
      const uint64_t frame = kRedist + static_cast<uint64_t>(i) * kGicrFrame;
      regs_[frame + kGicrTyper] = i == cpus - 1 ? kGicrTyperLast : 0;
      regs_[frame + kGicrTyper + 4] = static_cast<uint32_t>(0x0100 * (i / 2) + (i % 2));  // Aff1.Aff0
      regs_[frame + kGicrWaker] = kGicrWakerProcessorSleep | kGicrWakerChildrenAsleep;
      regs_[frame + kGicrIcenabler0] = 0;
      regs_[frame + kGicrIgroupr0] = 0;
      regs_[frame + kGicrIpriorityr] = 0;
      regs_[frame + kGicrIpriorityr + 24] = 0;
    }
    arch::fake::set_mmio([this](Pa reg) { return read(reg.value()); },
                         [this](Pa reg, uint32_t v) { write(reg.value(), v); });
  }

  uint32_t& at(uint64_t reg) { return regs_[reg]; }
  uint32_t enabled(uint64_t frame) const { return enabled_.count(frame) != 0 ? enabled_.at(frame) : 0; }

 private:
  uint32_t read(uint64_t reg) {
    if (!regs_.count(reg)) ADD_FAILURE() << "read of unmodelled register 0x" << std::hex << reg;
    if (reg == kDist + kGicdCtlr && countdown_ > 0 && --countdown_ == 0) regs_[reg] &= ~kGicdCtlrRwp;
    const uint64_t frame = (reg - kRedist) / kGicrFrame * kGicrFrame + kRedist;
    if (reg == frame + kGicrWaker && waker_countdown_[frame] > 0 && --waker_countdown_[frame] == 0) {
      regs_[reg] &= ~kGicrWakerChildrenAsleep;
    }
    return regs_[reg];
  }
  void write(uint64_t reg, uint32_t v) {
    if (reg == kDist + kGicdCtlr) {
      regs_[reg] = v | kGicdCtlrRwp;
      countdown_ = lag_;
      return;
    }
    const uint64_t frame = (reg - kRedist) / kGicrFrame * kGicrFrame + kRedist;
    if (reg == frame + kGicrWaker) {
      regs_[reg] = (v & ~kGicrWakerChildrenAsleep) | (regs_[reg] & kGicrWakerChildrenAsleep);
      if ((v & kGicrWakerProcessorSleep) == 0) waker_countdown_[frame] = lag_;
      return;
    }
    if (reg == frame + kGicrIsenabler0) {
      enabled_[frame] |= v;
      return;
    }
    if (reg == frame + kGicrIcenabler0) {
      enabled_[frame] &= ~v;
      return;
    }
    regs_[reg] = v;
  }

  uint32_t lag_;
  uint32_t countdown_ = 0;
  std::map<uint64_t, uint32_t> regs_;
  std::map<uint64_t, uint32_t> waker_countdown_;
  std::map<uint64_t, uint32_t> enabled_;
};

class GicTest : public ::testing::Test {
 protected:
  void SetUp() override { arch::fake::reset(); }
};

TEST_F(GicTest, DistributorGetsAffinityRoutingAndGroupOneAndWaitsForRwp) {
  GicModel gic(4);
  ASSERT_EQ(init_distributor(Pa(kDist), 100), Status::kOk);
  EXPECT_EQ(gic.at(kDist + kGicdCtlr), kGicdCtlrDs | kGicdCtlrAre | kGicdCtlrEnableGrp1);
}

TEST_F(GicTest, ADistributorThatNeverSettlesIsReported) {
  GicModel gic(4, /*lag=*/1000);
  EXPECT_EQ(init_distributor(Pa(kDist), 10), Status::kBusy);
}

TEST_F(GicTest, EachCpuWakesItsOwnRedistributorAndEnablesOnlyTheKernelsInterrupts) {
  GicModel gic(4);
  // MPIDR 0x101: Aff1 = 1, Aff0 = 1 -> the fourth frame.
  ASSERT_EQ(init_redistributor(Pa(kRedist), 4 * kGicrFrame, 0x101, 100), Status::kOk);
  const uint64_t mine = kRedist + 3 * kGicrFrame;
  EXPECT_EQ(gic.at(mine + kGicrWaker) & (kGicrWakerProcessorSleep | kGicrWakerChildrenAsleep), 0u);
  // The wake-up SGI, the maintenance PPI (25), the EL2 timer (26), the
  // virtual timer (27).
  const uint32_t kernels = (1u << kWakeSgi) | (1u << 25) | (1u << 26) | (1u << 27);
  EXPECT_EQ(gic.enabled(mine), kernels);
  EXPECT_EQ(gic.at(mine + kGicrIgroupr0), kernels) << "group 1";
  EXPECT_EQ(gic.at(mine + kGicrIpriorityr) & 0xff, 0x80u);
  for (uint32_t intid : {25u, 26u, 27u}) {
    EXPECT_EQ((gic.at(mine + kGicrIpriorityr + 24) >> (8 * (intid - 24))) & 0xff, 0x80u) << intid;
  }
  for (int other = 0; other < 3; ++other) {
    const uint64_t frame = kRedist + static_cast<uint64_t>(other) * kGicrFrame;
    EXPECT_NE(gic.at(frame + kGicrWaker) & kGicrWakerProcessorSleep, 0u) << "not another CPU's";
    EXPECT_EQ(gic.enabled(frame), 0u);
  }
}

TEST_F(GicTest, AnAffinityNotInTheRegionIsNotFoundAndTheSearchStopsAtLast) {
  GicModel gic(2);
  EXPECT_EQ(init_redistributor(Pa(kRedist), 4 * kGicrFrame, 0x3, 100), Status::kNotFound);
  // The region is larger than the frames there: nothing past Last is read
  // (the model fails the test on unmodelled reads).
  EXPECT_EQ(init_redistributor(Pa(kRedist), 64 * kGicrFrame, 0x7, 100), Status::kNotFound);
}

TEST_F(GicTest, ARedistributorThatNeverWakesIsReported) {
  GicModel gic(1, /*lag=*/1000);
  EXPECT_EQ(init_redistributor(Pa(kRedist), kGicrFrame, 0, 10), Status::kBusy);
}

}  // namespace
}  // namespace hyp::gic
