// The GIC register model on the host, its kernel calls answered by the
// kernel's vGIC itself (kernel/vgic) with the checks the dispatcher makes.
#include "servers/gic/gic_device.h"

#include <gtest/gtest.h>

#include <vector>

#include "kernel/vgic/vgic.h"

namespace hyp::server {
namespace {

namespace irq = abi::irq;

constexpr uint64_t kDist = 0;
constexpr uint64_t kRedist = GicDevice::kRedistBase;
constexpr uint64_t kSgi = 0x1'0000;  // SGI_base within a redistributor

// The kernel's side of HYP_IRQ_CONFIG / QUERY / SIGNAL for one guest.
class VgicKernel final : public IrqKernel {
 public:
  explicit VgicKernel(uint32_t vcpus) { vgic.init(vcpus, 4); }

  int64_t configure(uint32_t vcpu, uint32_t intid, uint64_t word) override {
    ++calls;
    if ((word >> 24) != 0 || (word & 0xf8) != 0) return fail(Status::kInvalidArgument);
    vgic::Kick k;
    return result(vgic.configure(vcpu, intid, vgic::config_from_word(word), k));
  }
  int64_t query(uint32_t vcpu, uint32_t intid, uint64_t& word, uint64_t& state) override {
    ++calls;
    const Result<vgic::Config> c = vgic.config(vcpu, intid);
    const Result<vgic::Vgic::State> s = vgic.state(vcpu, intid);
    if (!c.ok() || !s.ok()) return fail(Status::kInvalidArgument);
    word = vgic::word_from_config(*c);
    state = (s->pending ? irq::kPending : 0) | (s->active ? irq::kActive : 0) | (s->line ? irq::kLineHigh : 0);
    return 0;
  }
  int64_t signal(uint32_t vcpu, uint32_t intid, irq::Op op) override {
    ++calls;
    vgic::Kick k;
    switch (op) {
      case irq::Op::kSetPending:
        return result(vgic.raise(vcpu, intid, k));
      case irq::Op::kClearPending:
        return result(vgic.clear_pending(vcpu, intid, k));
      case irq::Op::kSetActive:
        return result(vgic.set_active(vcpu, intid, true, k));
      case irq::Op::kClearActive:
        return result(vgic.set_active(vcpu, intid, false, k));
      case irq::Op::kRaise:
        return result(vgic.set_line(vcpu, intid, true, k));
      case irq::Op::kLower:
        return result(vgic.set_line(vcpu, intid, false, k));
    }
    return fail(Status::kInvalidArgument);
  }

  vgic::Vgic vgic;
  int errors = 0;
  int calls = 0;

 private:
  int64_t fail(Status s) {
    ++errors;
    return -static_cast<int64_t>(s);
  }
  int64_t result(Status s) { return s == Status::kOk ? 0 : fail(s); }
};

class GicDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gic_.attach(&kernel_, 2, &state_);
    gic_.reset();
  }
  vgic::Config config(uint32_t vcpu, uint32_t intid) { return *kernel_.vgic.config(vcpu, intid); }
  uint64_t rd(uint32_t vcpu) { return kRedist + GicDevice::kRedistSize * vcpu; }

  VgicKernel kernel_{2};
  GicState state_{};
  GicDevice gic_;
};

TEST_F(GicDeviceTest, IdentifiesAsAGicV3WithOneSecurityStateAnd64Spis) {
  EXPECT_EQ(gic_.window(), 0xa'0000u + 2 * 0x2'0000u) << "laid out as QEMU's virt";
  EXPECT_EQ(gic_.read(0x8'0000 + 0x4, 4), 0u) << "no ITS where virt has one";
  EXPECT_EQ(gic_.read(kDist + 0xffe8, 4), 0x3bu) << "PIDR2: ArchRev 3";
  EXPECT_EQ(gic_.read(kDist + 0x0, 4), (1u << 6) | (1u << 4)) << "CTLR: DS, ARE, groups off";
  const uint64_t typer = gic_.read(kDist + 0x4, 4);
  EXPECT_EQ(typer & 0x1f, 2u) << "ITLinesNumber: INTIDs to 95";
  EXPECT_EQ((typer >> 19) & 0x1f, 9u);
  EXPECT_EQ((typer >> 17) & 1, 0u) << "no LPIs";
  EXPECT_EQ(gic_.read(rd(1) + 0xffe8, 4), 0x3bu);
}

TEST_F(GicDeviceTest, EachRedistributorNamesItsVcpuAndTheLastSaysSo) {
  EXPECT_EQ(gic_.read(rd(0) + 0x8, 8), 0u) << "affinity 0.0.0.0, processor 0, not last";
  EXPECT_EQ(gic_.read(rd(1) + 0x8, 8), (uint64_t{1} << 32) | (1u << 8) | (1u << 4));
  EXPECT_EQ(gic_.read(rd(1) + 0xc, 4), 1u) << "the upper half alone";
  EXPECT_EQ(gic_.read(rd(0) + 0x14, 4), 0b110u) << "WAKER: asleep at reset";
  gic_.write(rd(0) + 0x14, 4, 0);
  EXPECT_EQ(gic_.read(rd(0) + 0x14, 4), 0u) << "awake: ChildrenAsleep follows";
  EXPECT_EQ(gic_.read(rd(1) + 0x14, 4), 0b110u) << "the other still asleep";
}

TEST_F(GicDeviceTest, DistributorEnablesPrioritiesTriggersAndGroupsReachTheKernel) {
  gic_.write(kDist + 0x104, 4, 1u << 8);             // ISENABLER1: SPI 40
  gic_.write(kDist + 0x400 + 40, 1, 0xa7);           // IPRIORITYR byte
  gic_.write(kDist + 0x400 + 44, 4, 0x10'20'30'48);  // four at once: 44..47
  gic_.write(kDist + 0xc08, 4, 0b10u << 16);         // ICFGR2: INTID 40 edge
  gic_.write(kDist + 0x84, 4, 1u << 8);              // IGROUPR1: group 1
  EXPECT_TRUE(config(0, 40).enabled);
  EXPECT_EQ(config(0, 40).priority, 0xa0) << "5 bits of priority";
  EXPECT_EQ(config(0, 44).priority, 0x48);
  EXPECT_EQ(config(0, 47).priority, 0x10);
  EXPECT_EQ(config(0, 40).trigger, vgic::Trigger::kEdge);
  EXPECT_TRUE(config(0, 40).group1);
  EXPECT_EQ(gic_.read(kDist + 0x104, 4), 1u << 8);
  EXPECT_EQ(gic_.read(kDist + 0x184, 4), 1u << 8) << "ICENABLER reads the same";
  EXPECT_EQ(gic_.read(kDist + 0x400 + 44, 4), 0x10'20'30'48u);
  EXPECT_EQ(gic_.read(kDist + 0xc08, 4), 0b10u << 16);
  gic_.write(kDist + 0x184, 4, 1u << 8);  // ICENABLER1
  EXPECT_FALSE(config(0, 40).enabled);
  EXPECT_EQ(kernel_.errors, 0);
}

TEST_F(GicDeviceTest, SgiAndPpiRegistersAreEachRedistributorsOwn) {
  gic_.write(rd(1) + kSgi + 0x100, 4, (1u << 27) | (1u << 3));  // ISENABLER0 of vCPU 1
  gic_.write(rd(1) + kSgi + 0x400 + 27, 1, 0x20);
  gic_.write(rd(1) + kSgi + 0xc04, 4, 0);  // ICFGR1: PPIs level
  EXPECT_TRUE(config(1, 27).enabled);
  EXPECT_TRUE(config(1, 3).enabled);
  EXPECT_FALSE(config(0, 27).enabled);
  EXPECT_EQ(config(1, 27).priority, 0x20);
  gic_.write(rd(1) + kSgi + 0xc00, 4, 0);  // ICFGR0: SGIs stay edge
  EXPECT_EQ(config(1, 3).trigger, vgic::Trigger::kEdge);
  EXPECT_EQ(gic_.read(rd(1) + kSgi + 0xc00, 4), 0xaaaa'aaaau);
  EXPECT_EQ(gic_.read(kDist + 0x100, 4), 0u) << "GICD's bank 0 is the redistributors'";
  gic_.write(kDist + 0x100, 4, ~0u);
  EXPECT_FALSE(config(0, 5).enabled);
}

TEST_F(GicDeviceTest, RoutingPicksTheTargetVcpuAndNoVcpuMeansNotDelivered) {
  gic_.write(kDist + 0x6000 + 8 * 50, 8, 1);  // IROUTER50: vCPU 1
  gic_.write(kDist + 0x104, 4, 1u << 18);     // enable SPI 50
  EXPECT_EQ(config(0, 50).target, 1);
  EXPECT_EQ(gic_.read(kDist + 0x6000 + 8 * 50, 8), 1u);
  gic_.write(kDist + 0x6000 + 8 * 50, 8, uint64_t{1} << 8);  // Aff1 = 1: nobody
  EXPECT_FALSE(config(0, 50).enabled) << "kept from every vCPU";
  EXPECT_EQ(gic_.read(kDist + 0x104, 4), 1u << 18) << "still enabled as the guest sees it";
  EXPECT_EQ(gic_.read(kDist + 0x6000 + 8 * 50, 8), uint64_t{1} << 8);
  gic_.write(kDist + 0x6000 + 8 * 50, 4, 0);  // the low half: vCPU 0 again
  EXPECT_TRUE(config(0, 50).enabled);
  EXPECT_EQ(config(0, 50).target, 0);
  gic_.write(kDist + 0x6000 + 8 * 51, 8, 7);  // Aff0 7 of 2 vCPUs
  gic_.write(kDist + 0x104, 4, 1u << 19);
  EXPECT_FALSE(config(0, 51).enabled);
}

TEST_F(GicDeviceTest, PendingStateIsSetClearedAndReadThroughTheKernel) {
  gic_.write(kDist + 0x204, 4, 1u << 2);  // ISPENDR1: SPI 34
  EXPECT_EQ(gic_.read(kDist + 0x204, 4), 1u << 2);
  EXPECT_EQ(gic_.read(kDist + 0x284, 4), 1u << 2);
  gic_.write(kDist + 0x284, 4, 1u << 2);  // ICPENDR1
  EXPECT_EQ(gic_.read(kDist + 0x204, 4), 0u);
  gic_.write(rd(0) + kSgi + 0x200, 4, 1u << 9);  // ISPENDR0 of vCPU 0: SGI 9
  EXPECT_EQ(gic_.read(rd(0) + kSgi + 0x200, 4), 1u << 9);
  EXPECT_EQ(gic_.read(rd(1) + kSgi + 0x200, 4), 0u);
}

// Widths the architecture does not give a register read as zero and write
// nothing.
TEST_F(GicDeviceTest, RegistersAnswerOnlyAtTheirWidths) {
  gic_.write(kDist + 0x400 + 40, 2, 0x4040);  // IPRIORITYR by halfword: not allowed
  EXPECT_EQ(config(0, 40).priority, 0);
  EXPECT_EQ(gic_.read(kDist + 0x400 + 40, 2), 0u);
  gic_.write(kDist + 0x400 + 40, 1, 0x48);
  EXPECT_EQ(gic_.read(kDist + 0x400 + 40, 1), 0x48u);
  EXPECT_EQ(gic_.read(kDist + 0x400 + 40, 2), 0u);
  gic_.write(kDist + 0x104, 1, 0xff);  // ISENABLER by byte
  EXPECT_FALSE(config(0, 32).enabled);
  EXPECT_EQ(gic_.read(kDist + 0x4, 2), 0u) << "TYPER by halfword";
  EXPECT_EQ(gic_.read(kDist + 0x4, 8), 0u) << "TYPER by doubleword";
  gic_.write(kDist + 0x6000 + 8 * 40, 2, 1);  // IROUTER by halfword
  EXPECT_EQ(config(0, 40).target, 0);
  EXPECT_EQ(gic_.read(rd(1) + 0x8, 4), (1u << 8) | (1u << 4)) << "GICR_TYPER's low word";
  EXPECT_EQ(gic_.read(rd(1) + 0x8, 2), 0u);
  EXPECT_EQ(kernel_.errors, 0);
}

// Every offset of the window at every width, read and written with
// all-ones: nothing outside the guest's interrupts is touched, no call the
// kernel refuses is made but for INTIDs the register names past the last.
TEST_F(GicDeviceTest, EveryOffsetAndWidthIsAnswered) {
  for (uint64_t off = 0; off < gic_.window(); off += 4) {
    for (unsigned w : {1u, 2u, 4u, 8u}) {
      if (off % w != 0) continue;
      (void)gic_.read(off, w);
      gic_.write(off, w, ~uint64_t{0});
    }
  }
  EXPECT_GT(kernel_.calls, 0);
  EXPECT_EQ(kernel_.errors, 0);
}

TEST_F(GicDeviceTest, TheDistributorsGroupEnablesSurviveARestart) {
  gic_.write(kDist + 0x0, 4, 0b10);
  gic_.write(rd(1) + 0x14, 4, 0);
  GicDevice again;
  again.attach(&kernel_, 2, &state_);  // a new instance on the same state page
  EXPECT_EQ(again.read(kDist + 0x0, 4), (1u << 6) | (1u << 4) | 0b10);
  EXPECT_EQ(again.read(rd(1) + 0x14, 4), 0u);
}

}  // namespace
}  // namespace hyp::server
