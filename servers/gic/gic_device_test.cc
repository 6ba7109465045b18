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
    gic_.write(kDist + 0x0, 4, 0b11);  // both groups on, as a guest's GIC driver starts
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
  EXPECT_EQ(gic_.read(kDist + 0x0, 4), (1u << 6) | (1u << 4) | 0b11) << "CTLR: DS, ARE, the groups as written";
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

// GICD_CTLR's group enables: the distributor forwards a group's interrupts
// only while it is on. The guest's own enables read back unchanged.
TEST_F(GicDeviceTest, AGroupTurnedOffInGicdCtlrIsNotForwarded) {
  gic_.write(kDist + 0x84, 4, 1u << 8);                   // SPI 40: group 1
  gic_.write(kDist + 0x104, 4, (1u << 8) | (1u << 9));    // SPIs 40 (group 1), 41 (group 0)
  gic_.write(rd(1) + kSgi + 0x80, 4, 1u << 5);            // vCPU 1's SGI 5: group 1
  gic_.write(rd(1) + kSgi + 0x100, 4, (1u << 5) | (1u << 6));
  EXPECT_TRUE(config(0, 40).enabled);
  EXPECT_TRUE(config(0, 41).enabled);
  EXPECT_TRUE(config(1, 5).enabled);
  gic_.write(kDist + 0x0, 4, 0b01);  // group 1 off
  EXPECT_FALSE(config(0, 40).enabled);
  EXPECT_FALSE(config(1, 5).enabled);
  EXPECT_TRUE(config(0, 41).enabled) << "group 0 still on";
  EXPECT_TRUE(config(1, 6).enabled);
  EXPECT_EQ(gic_.read(kDist + 0x104, 4), (1u << 8) | (1u << 9)) << "the guest's enables";
  EXPECT_EQ(gic_.read(rd(1) + kSgi + 0x100, 4), (1u << 5) | (1u << 6));
  gic_.write(kDist + 0x184, 4, 1u << 9);  // disabled by the guest meanwhile
  gic_.write(kDist + 0x0, 4, 0b10);       // group 1 on, group 0 off
  EXPECT_TRUE(config(0, 40).enabled);
  EXPECT_TRUE(config(1, 5).enabled);
  EXPECT_FALSE(config(0, 41).enabled);
  EXPECT_FALSE(config(1, 6).enabled);
  gic_.write(kDist + 0x0, 4, 0b11);
  EXPECT_FALSE(config(0, 41).enabled) << "stays as the guest left it";
  EXPECT_TRUE(config(1, 6).enabled);
  // Moving an interrupt to a group that is off stops it too.
  gic_.write(kDist + 0x0, 4, 0b10);
  gic_.write(kDist + 0x84, 4, 0);  // SPI 40 to group 0
  EXPECT_FALSE(config(0, 40).enabled);
  EXPECT_EQ(kernel_.errors, 0);
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

// The register map of a 2-vCPU guest, register by register: the widths
// each answers at, its value at reset and after all ones are written at its
// widest width. Every other offset, and every other width, reads as zero
// and ignores writes (the model's one rule).
struct Reg {
  const char* name;
  uint64_t offset;
  uint32_t count;   // registers in the bank
  uint32_t stride;  // bytes from one to the next
  uint32_t widths;  // bit n: 1 << n bytes answered
  uint64_t reset;
  uint64_t ones;  // read back after all ones are written
};

constexpr uint32_t kW4 = 1u << 2;
constexpr uint32_t kW14 = (1u << 0) | (1u << 2);
constexpr uint32_t kW48 = (1u << 2) | (1u << 3);
constexpr uint64_t kRd1 = GicDevice::kRedistBase + GicDevice::kRedistSize;

const Reg kRegs[] = {
    {"GICD_CTLR", 0x0, 1, 4, kW4, 0x50, 0x53},  // DS, ARE fixed; RWP never set
    {"GICD_TYPER", 0x4, 1, 4, kW4, 0x2 | (9u << 19) | (1u << 25), 0x2 | (9u << 19) | (1u << 25)},
    {"GICD_IIDR", 0x8, 1, 4, kW4, 0x43b, 0x43b},
    {"GICD_IGROUPR1-2", 0x84, 2, 4, kW4, 0, 0xffff'ffff},
    {"GICD_ISENABLER1-2", 0x104, 2, 4, kW4, 0, 0xffff'ffff},
    {"GICD_ISPENDR1-2", 0x204, 2, 4, kW4, 0, 0xffff'ffff},
    {"GICD_ISACTIVER1-2", 0x304, 2, 4, kW4, 0, 0xffff'ffff},
    {"GICD_IPRIORITYR32-95", 0x420, 16, 4, kW14, 0, 0xf8f8'f8f8},
    {"GICD_ICFGR2-5", 0xc08, 4, 4, kW4, 0, 0xaaaa'aaaa},
    {"GICD_IROUTER32-95", 0x6100, 64, 8, kW48, 0, 0xff'00ff'ffff},  // names nobody: kept as written
    {"GICD_PIDR2", 0xffe8, 1, 4, kW4, 0x3b, 0x3b},
    {"GICR_CTLR", kRd1 + 0x0, 1, 4, kW4, 0, 0},
    {"GICR_IIDR", kRd1 + 0x4, 1, 4, kW4, 0x43b, 0x43b},
    {"GICR_TYPER", kRd1 + 0x8, 1, 8, kW48, (uint64_t{1} << 32) | (1u << 8) | (1u << 4),
     (uint64_t{1} << 32) | (1u << 8) | (1u << 4)},
    {"GICR_WAKER", kRd1 + 0x14, 1, 4, kW4, 0b110, 0b110},
    {"GICR_PIDR2", kRd1 + 0xffe8, 1, 4, kW4, 0x3b, 0x3b},
    {"GICR_IGROUPR0", kRd1 + 0x1'0080, 1, 4, kW4, 0, 0xffff'ffff},
    {"GICR_ISENABLER0", kRd1 + 0x1'0100, 1, 4, kW4, 0, 0xffff'ffff},
    {"GICR_ISPENDR0", kRd1 + 0x1'0200, 1, 4, kW4, 0, 0xffff'ffff},
    {"GICR_ISACTIVER0", kRd1 + 0x1'0300, 1, 4, kW4, 0, 0xffff'ffff},
    {"GICR_IPRIORITYR0-31", kRd1 + 0x1'0400, 8, 4, kW14, 0, 0xf8f8'f8f8},
    {"GICR_ICFGR0", kRd1 + 0x1'0c00, 1, 4, kW4, 0xaaaa'aaaa, 0xaaaa'aaaa},  // SGIs: edge, fixed
    {"GICR_ICFGR1", kRd1 + 0x1'0c04, 1, 4, kW4, 0, 0xaaaa'aaaa},
};

// The registers that clear what their twin at -0x80 sets (ICENABLER,
// ICPENDR, ICACTIVER) read as the twin does.
const Reg* reg_at(uint64_t offset) {
  for (const Reg& r : kRegs) {
    if (offset >= r.offset && offset < r.offset + uint64_t{r.count} * r.stride) return &r;
  }
  return nullptr;
}

bool clear_twin(uint64_t offset) {
  const uint64_t o = offset >= kRd1 ? offset - kRd1 - 0x1'0000 : offset;
  return (o >= 0x180 && o < 0x1c0) || (o >= 0x280 && o < 0x2c0) || (o >= 0x380 && o < 0x3c0);
}

class GicRegisterMapTest : public GicDeviceTest {
 protected:
  // Reset values as they are: no driver has written anything.
  void SetUp() override {
    gic_.attach(&kernel_, 2, &state_);
    gic_.reset();
  }
  uint64_t widest(const Reg& r, uint64_t off) { return gic_.read(off, r.stride == 8 ? 8 : 4); }
  // Everything the guest can read back, for "nothing changed".
  std::vector<uint64_t> snapshot() {
    std::vector<uint64_t> all;
    for (const Reg& r : kRegs) {
      for (uint32_t i = 0; i < r.count; ++i) all.push_back(widest(r, r.offset + uint64_t{i} * r.stride));
    }
    for (uint32_t v = 0; v < 2; ++v) {
      for (uint64_t base : {rd(v) + kSgi + 0x100, rd(v) + kSgi + 0x200, rd(v) + kSgi + 0x300}) {
        all.push_back(gic_.read(base, 4));
      }
    }
    return all;
  }
};

TEST_F(GicRegisterMapTest, EachRegisterResetsAndTakesAllOnesAsTheArchitectureSays) {
  for (const Reg& r : kRegs) {
    for (uint32_t i = 0; i < r.count; ++i) {
      const uint64_t off = r.offset + uint64_t{i} * r.stride;
      EXPECT_EQ(widest(r, off), r.reset) << r.name << " #" << i << " at reset";
      gic_.write(off, r.stride == 8 ? 8 : 4, ~uint64_t{0});
      EXPECT_EQ(widest(r, off), r.ones) << r.name << " #" << i << " after all ones";
    }
  }
  // The clearing twins take everything back.
  for (uint64_t off : {uint64_t{0x184}, uint64_t{0x188}, uint64_t{0x284}, uint64_t{0x288}, uint64_t{0x384},
                       uint64_t{0x388}, kRd1 + 0x1'0180, kRd1 + 0x1'0280, kRd1 + 0x1'0380}) {
    EXPECT_NE(gic_.read(off, 4), 0u) << std::hex << off << " reads its twin's bits";
    gic_.write(off, 4, ~uint64_t{0});
    EXPECT_EQ(gic_.read(off, 4), 0u) << std::hex << off;
    EXPECT_EQ(gic_.read(off - 0x80, 4), 0u) << std::hex << off - 0x80;
  }
  EXPECT_EQ(kernel_.errors, 0);
}

TEST_F(GicRegisterMapTest, EveryOtherOffsetAndWidthReadsZeroAndIgnoresWrites) {
  // Something in every register, so that a stray write would show.
  gic_.write(kDist + 0x104, 4, 0x0f0f'0f0f);
  gic_.write(kDist + 0x420, 4, 0x4080'c0f8);
  gic_.write(rd(1) + kSgi + 0x100, 4, 0x00ff'00ff);
  gic_.write(rd(0) + 0x14, 4, 0);
  const std::vector<uint64_t> before = snapshot();
  int unlisted = 0;
  for (uint64_t off = 0; off < gic_.window(); off += 1) {
    for (unsigned w : {1u, 2u, 4u, 8u}) {
      if (off % w != 0) continue;
      const uint64_t base = off & ~uint64_t{7};
      const Reg* r = reg_at(off);
      const bool twin = clear_twin(off) || clear_twin(base);
      if (twin || (r != nullptr && (r->widths >> __builtin_ctz(w) & 1) != 0 && (off - r->offset) % w == 0 &&
                   (w >= 4 || r->widths & 1))) {
        continue;  // a register at a width it answers (its own test)
      }
      if (r == nullptr && rd(0) <= off && off < rd(1)) {
        // vCPU 0's redistributor: the same map as vCPU 1's.
        if (reg_at(off + GicDevice::kRedistSize) != nullptr || clear_twin(off + GicDevice::kRedistSize)) continue;
      }
      ++unlisted;
      ASSERT_EQ(gic_.read(off, w), 0u) << std::hex << "offset 0x" << off << " width " << w;
      gic_.write(off, w, ~uint64_t{0});
    }
  }
  EXPECT_GT(unlisted, 1000);
  EXPECT_EQ(snapshot(), before) << "a write nothing answers changed something";
  EXPECT_EQ(kernel_.errors, 0);
}

TEST_F(GicDeviceTest, TheDistributorsGroupEnablesSurviveARestart) {
  gic_.write(kDist + 0x0, 4, 0b10);
  gic_.write(rd(1) + 0x14, 4, 0);
  GicDevice again;
  again.attach(&kernel_, 2, &state_);  // a new instance on the same state page
  EXPECT_EQ(again.read(kDist + 0x0, 4), (1u << 6) | (1u << 4) | 0b10);
  gic_.write(kDist + 0x104, 4, 1u << 3);
  GicDevice third;
  third.attach(&kernel_, 2, &state_);
  EXPECT_EQ(third.read(kDist + 0x104, 4), 1u << 3) << "the guest's enables too";
  EXPECT_EQ(again.read(rd(1) + 0x14, 4), 0u);
}

}  // namespace
}  // namespace hyp::server
