// List-register management and the configuration calls, on the host. The
// test plays the guest's CPU interface by changing LR states as the
// hardware would (acknowledge: pending to active; deactivate: to invalid).
#include "kernel/vgic/vgic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace hyp::vgic {
namespace {

constexpr uint32_t kLrs = 4;  // what QEMU's GICv3 has

uint32_t intid_of(uint64_t v) { return static_cast<uint32_t>(v & lr::kIntidMask); }
uint64_t state_of(uint64_t v) { return v & lr::kStateMask; }
uint8_t priority_of(uint64_t v) { return static_cast<uint8_t>(v >> lr::kPriorityShift); }

class VgicTest : public ::testing::Test {
 protected:
  void SetUp() override { vgic_.init(2, kLrs); }

  void enable(uint32_t vcpu, uint32_t intid, uint8_t priority, Trigger t = Trigger::kEdge, uint8_t target = 0) {
    Kick k;
    ASSERT_EQ(vgic_.configure(vcpu, intid, {true, true, t, priority, target}, k), Status::kOk);
  }
  // One field changed through configure(), as the GIC server does it.
  template <typename Change>
  Status change(uint32_t vcpu, uint32_t intid, Change f, Kick& k) {
    Result<Config> c = vgic_.config(vcpu, intid);
    if (!c.ok()) return c.status();
    Config next = *c;
    f(next);
    return vgic_.configure(vcpu, intid, next, k);
  }
  Status set_enabled(uint32_t vcpu, uint32_t intid, bool on, Kick& k) {
    return change(vcpu, intid, [on](Config& c) { c.enabled = on; }, k);
  }
  uint32_t raise(uint32_t vcpu, uint32_t intid) {
    Kick k;
    EXPECT_EQ(vgic_.raise(vcpu, intid, k), Status::kOk);
    return k.vcpus;
  }
  // The INTIDs in the LRs, in LR order, 0 for an empty one.
  std::vector<uint32_t> in_lrs(const Lrs& l) {
    std::vector<uint32_t> out;
    for (uint32_t i = 0; i < kLrs; ++i) out.push_back(l.lr[i] == 0 ? 0 : intid_of(l.lr[i]));
    return out;
  }
  int slot_of(const Lrs& l, uint32_t intid) {
    for (uint32_t i = 0; i < kLrs; ++i) {
      if (l.lr[i] != 0 && intid_of(l.lr[i]) == intid) return static_cast<int>(i);
    }
    return -1;
  }
  // The guest acknowledges the highest-priority pending entry, as the
  // virtual CPU interface does; returns its INTID or 1023.
  uint32_t acknowledge(Lrs& l) {
    int best = -1;
    for (uint32_t i = 0; i < kLrs; ++i) {
      if ((l.lr[i] & lr::kPending) == 0 || (l.lr[i] & lr::kActive) != 0) continue;
      if (best < 0 || priority_of(l.lr[i]) < priority_of(l.lr[static_cast<uint32_t>(best)])) best = static_cast<int>(i);
    }
    if (best < 0) return 1023;
    uint64_t& v = l.lr[static_cast<uint32_t>(best)];
    v = (v & ~lr::kStateMask) | lr::kActive;
    return intid_of(v);
  }
  void deactivate(Lrs& l, uint32_t intid) {
    const int s = slot_of(l, intid);
    ASSERT_GE(s, 0) << intid;
    l.lr[static_cast<uint32_t>(s)] &= ~lr::kActive;
  }
  // Takes every interrupt the vCPU gets, in the order it gets them,
  // syncing and flushing between each as maintenance interrupts would.
  std::vector<uint32_t> drain(uint32_t vcpu, Lrs& l) {
    std::vector<uint32_t> order;
    for (int guard = 0; guard < 200; ++guard) {
      vgic_.sync(vcpu, l);
      vgic_.flush(vcpu, l);
      const uint32_t id = acknowledge(l);
      if (id == 1023) break;
      order.push_back(id);
      deactivate(l, id);
    }
    return order;
  }

  Vgic vgic_;
};

TEST_F(VgicTest, CallsOutOfRangeAreRefused) {
  Kick k;
  const Config c{true, true, Trigger::kEdge, 0x80, 0};
  EXPECT_EQ(vgic_.configure(0, kIntidLimit, c, k), Status::kInvalidArgument);
  EXPECT_EQ(vgic_.configure(0, 0xffff'ffff, c, k), Status::kInvalidArgument);
  EXPECT_EQ(vgic_.configure(2, 5, c, k), Status::kInvalidArgument) << "the VM has 2 vCPUs";
  EXPECT_EQ(vgic_.configure(kMaxVcpus + 7, 5, c, k), Status::kInvalidArgument);
  EXPECT_EQ(vgic_.configure(0, 3, {true, true, Trigger::kLevel, 0, 0}, k), Status::kInvalidArgument)
      << "SGIs are edge-triggered";
  EXPECT_EQ(vgic_.configure(0, 40, {true, true, Trigger::kLevel, 0, 2}, k), Status::kInvalidArgument)
      << "no vCPU 2 to target";
  ASSERT_EQ(vgic_.configure(0, 20, {true, true, Trigger::kLevel, 0, 1}, k), Status::kOk);
  EXPECT_EQ(vgic_.config(0, 20)->target, 0) << "PPIs have no target";
  EXPECT_EQ(vgic_.configure(0, 40, {true, true, Trigger::kLevel, 0, 9}, k), Status::kInvalidArgument);
  EXPECT_EQ(change(0, 15, [](Config& x) { x.trigger = Trigger::kLevel; }, k), Status::kInvalidArgument);
  k = {};
  EXPECT_EQ(vgic_.raise(0, kIntidLimit, k), Status::kInvalidArgument);
  EXPECT_EQ(vgic_.set_line(3, 27, true, k), Status::kInvalidArgument);
  Lrs l;
  EXPECT_EQ(vgic_.inject_hw(0, 3, 27, l), Status::kInvalidArgument) << "only PPIs are mapped";
  EXPECT_EQ(k.vcpus, 0u);
  EXPECT_FALSE(vgic_.config(0, 96).ok());
}

TEST_F(VgicTest, ConfigurationReadsBackWithPriorityBitsTheGicHas) {
  Kick k;
  ASSERT_EQ(vgic_.configure(1, 20, {true, true, Trigger::kEdge, 0xa7, 1}, k), Status::kOk);
  Result<Config> c = vgic_.config(1, 20);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->priority, 0xa0);
  EXPECT_EQ(c->target, 0) << "a PPI's target is its bank";
  EXPECT_FALSE(vgic_.config(0, 20)->enabled) << "banks are per vCPU";
  ASSERT_EQ(change(0, 50, [](Config& x) { x.priority = 0x13; }, k), Status::kOk);
  ASSERT_EQ(change(1, 50, [](Config& x) { x.target = 1; }, k), Status::kOk);
  ASSERT_EQ(change(0, 50, [](Config& x) { x.trigger = Trigger::kEdge; }, k), Status::kOk);
  ASSERT_EQ(change(0, 50, [](Config& x) { x.group1 = true; }, k), Status::kOk);
  EXPECT_EQ(vgic_.config(0, 50)->priority, 0x10);
  EXPECT_EQ(vgic_.config(1, 50)->target, 1) << "SPIs are one, whichever bank is named";
  EXPECT_EQ(vgic_.config(0, 50)->trigger, Trigger::kEdge);
  EXPECT_TRUE(vgic_.config(0, 50)->group1);
  EXPECT_EQ(vgic_.config(0, 3)->trigger, Trigger::kEdge) << "SGIs reset edge";
  EXPECT_EQ(vgic_.config(0, 27)->trigger, Trigger::kLevel) << "PPIs reset level";
}

TEST_F(VgicTest, AnEnabledSgiGoesIntoAnLrPendingWithItsPriorityAndGroup) {
  enable(1, 5, 0x40);
  EXPECT_EQ(raise(1, 5), 0b10u) << "vCPU 1 is kicked";
  Lrs l;
  vgic_.flush(1, l);
  ASSERT_EQ(slot_of(l, 5), 0);
  EXPECT_EQ(state_of(l.lr[0]), lr::kPending);
  EXPECT_EQ(priority_of(l.lr[0]), 0x40);
  EXPECT_NE(l.lr[0] & lr::kGroup1, 0u);
  EXPECT_EQ(l.lr[0] & lr::kHw, 0u);
  EXPECT_EQ(l.hcr, kHcrEn);
  Lrs other;
  vgic_.flush(0, other);
  EXPECT_EQ(in_lrs(other), (std::vector<uint32_t>{0, 0, 0, 0})) << "SGI banks are per vCPU";
}

TEST_F(VgicTest, ADisabledInterruptWaitsAndIsDeliveredWhenEnabled) {
  EXPECT_EQ(raise(0, 6), 0u) << "disabled: nobody to kick";
  Lrs l;
  vgic_.flush(0, l);
  EXPECT_EQ(slot_of(l, 6), -1);
  Kick k;
  ASSERT_EQ(set_enabled(0, 6, true, k), Status::kOk);
  EXPECT_EQ(k.vcpus, 0b01u);
  vgic_.flush(0, l);
  EXPECT_EQ(drain(0, l), (std::vector<uint32_t>{6}));
}

TEST_F(VgicTest, DisablingTakesAPendingEntryOutOfItsLrAndEnablingPutsItBack) {
  enable(0, 7, 0x40);
  raise(0, 7);
  Lrs l;
  vgic_.flush(0, l);
  ASSERT_EQ(slot_of(l, 7), 0);
  Kick k;
  ASSERT_EQ(set_enabled(0, 7, false, k), Status::kOk);
  EXPECT_EQ(k.vcpus, 0b01u) << "its vCPU is kicked to take it out";
  vgic_.sync(0, l);
  vgic_.flush(0, l);
  EXPECT_EQ(slot_of(l, 7), -1);
  ASSERT_EQ(set_enabled(0, 7, true, k), Status::kOk);
  EXPECT_EQ(drain(0, l), (std::vector<uint32_t>{7})) << "still pending: delivered once";
}

// Six pending, four LRs: the four best go in, NPIE asks to be told when
// the guest has taken them, and the rest follow in priority order.
TEST_F(VgicTest, MorePendingThanLrsAreDeliveredInPriorityOrder) {
  const uint32_t ids[] = {1, 2, 3, 4, 5, 6};
  const uint8_t prios[] = {0x80, 0x20, 0xf0, 0x20, 0x10, 0x40};
  for (int i = 0; i < 6; ++i) {
    enable(0, ids[i], prios[i]);
    raise(0, ids[i]);
  }
  Lrs l;
  vgic_.flush(0, l);
  std::vector<uint32_t> first = in_lrs(l);
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<uint32_t>{2, 4, 5, 6})) << "the four of highest priority";
  EXPECT_EQ(l.hcr, kHcrEn | kHcrNpie);
  // The guest takes all four without deactivating any: no pending entry
  // is left, which is when NPIE's maintenance interrupt comes.
  for (int i = 0; i < 4; ++i) EXPECT_NE(acknowledge(l), 1023u);
  vgic_.sync(0, l);
  vgic_.flush(0, l);
  for (uint32_t i = 0; i < kLrs; ++i) EXPECT_EQ(state_of(l.lr[i]), lr::kActive) << "every LR holds an active one";
  EXPECT_EQ(l.hcr & kHcrNpie, 0u) << "no pending entry: NPIE would fire at once";
  for (uint32_t i = 0; i < kLrs; ++i) EXPECT_NE(l.lr[i] & lr::kEoi, 0u) << "a deactivation is told instead";
  for (uint32_t id : {2u, 4u, 5u, 6u}) deactivate(l, id);
  EXPECT_EQ(drain(0, l), (std::vector<uint32_t>{1, 3}));
}

// Twelve pending through four LRs: taken in priority order (which of
// several of equal priority in the LRs goes first is the CPU interface's
// choice), each once.
TEST_F(VgicTest, TwelvePendingAreTakenInPriorityOrderEachOnce) {
  const uint8_t prios[] = {0x60, 0x60, 0x20, 0xa0, 0x20, 0x00, 0x60, 0x30, 0xf8, 0x08, 0x60, 0x20};
  for (uint32_t i = 0; i < 12; ++i) {
    enable(1, i, prios[i]);
    raise(1, i);
  }
  Lrs l;
  const std::vector<uint32_t> order = drain(1, l);
  std::vector<uint8_t> seen;
  for (uint32_t id : order) seen.push_back(prios[id]);
  EXPECT_EQ(seen, (std::vector<uint8_t>{0x00, 0x08, 0x20, 0x20, 0x20, 0x30, 0x60, 0x60, 0x60, 0x60, 0xa0, 0xf8}));
  std::vector<uint32_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
}

// LRs full of pending entries: a better one arriving takes the place of
// the worst, which is owed still and comes later.
TEST_F(VgicTest, ABetterInterruptTakesThePlaceOfTheWorstPendingEntry) {
  for (uint32_t i = 1; i <= 4; ++i) {
    enable(0, i, static_cast<uint8_t>(0x40 + 0x10 * i));
    raise(0, i);
  }
  Lrs l;
  vgic_.flush(0, l);
  EXPECT_EQ(l.hcr, kHcrEn);
  enable(0, 9, 0x08);
  raise(0, 9);
  vgic_.sync(0, l);
  vgic_.flush(0, l);
  EXPECT_GE(slot_of(l, 9), 0);
  EXPECT_EQ(slot_of(l, 4), -1) << "priority 0x80, the worst, gave way";
  EXPECT_EQ(l.hcr, kHcrEn | kHcrNpie);
  EXPECT_EQ(drain(0, l), (std::vector<uint32_t>{9, 1, 2, 3, 4}));
}

TEST_F(VgicTest, ActiveEntriesAreNeverTakenOut) {
  for (uint32_t i = 1; i <= 4; ++i) {
    enable(0, i, 0xf0);
    raise(0, i);
  }
  Lrs l;
  vgic_.flush(0, l);
  for (int i = 0; i < 4; ++i) acknowledge(l);
  enable(0, 12, 0x00);
  raise(0, 12);
  vgic_.sync(0, l);
  vgic_.flush(0, l);
  EXPECT_EQ(slot_of(l, 12), -1) << "no room: every entry is active";
  deactivate(l, 3);
  vgic_.sync(0, l);
  vgic_.flush(0, l);
  EXPECT_GE(slot_of(l, 12), 0);
}

TEST_F(VgicTest, AnEdgeWhileActiveMakesTheEntryPendingAndActive) {
  enable(0, 2, 0x40);
  raise(0, 2);
  Lrs l;
  vgic_.flush(0, l);
  ASSERT_EQ(acknowledge(l), 2u);
  EXPECT_EQ(raise(0, 2), 0b01u);
  vgic_.sync(0, l);
  vgic_.flush(0, l);
  EXPECT_EQ(state_of(l.lr[static_cast<uint32_t>(slot_of(l, 2))]), lr::kPending | lr::kActive);
  deactivate(l, 2);
  EXPECT_EQ(drain(0, l), (std::vector<uint32_t>{2})) << "twice in all, never in two LRs";
}

TEST_F(VgicTest, ALevelInterruptIsPendingAgainWhileItsLineStaysHigh) {
  enable(0, 40, 0x40, Trigger::kLevel, 1);
  Kick k;
  ASSERT_EQ(vgic_.set_line(0, 40, true, k), Status::kOk);
  EXPECT_EQ(k.vcpus, 0b10u) << "its target is vCPU 1";
  Lrs l;
  vgic_.flush(1, l);
  const int s = slot_of(l, 40);
  ASSERT_GE(s, 0);
  EXPECT_NE(l.lr[static_cast<uint32_t>(s)] & lr::kEoi, 0u) << "its deactivation is told";
  ASSERT_EQ(acknowledge(l), 40u);
  deactivate(l, 40);
  vgic_.sync(1, l);
  vgic_.flush(1, l);
  EXPECT_GE(slot_of(l, 40), 0) << "the line is still high";
  // The device lowers it before the guest took it: taken back.
  ASSERT_EQ(vgic_.set_line(0, 40, false, k), Status::kOk);
  vgic_.sync(1, l);
  vgic_.flush(1, l);
  EXPECT_EQ(slot_of(l, 40), -1);
  EXPECT_EQ(drain(1, l), (std::vector<uint32_t>{}));
}

TEST_F(VgicTest, AnSpiGoesToItsTargetAndStaysWithItsLrOwnerWhenRetargeted) {
  enable(0, 33, 0x40, Trigger::kEdge, 1);
  EXPECT_EQ(raise(0, 33), 0b10u);
  Lrs l0, l1;
  vgic_.flush(0, l0);
  vgic_.flush(1, l1);
  EXPECT_EQ(slot_of(l0, 33), -1);
  ASSERT_GE(slot_of(l1, 33), 0);
  Kick retarget;
  ASSERT_EQ(change(0, 33, [](Config& x) { x.target = 0; }, retarget), Status::kOk);
  EXPECT_EQ(raise(1, 33), 0b10u) << "pending in vCPU 1's LR: that one is kicked";
  vgic_.sync(0, l0);
  vgic_.flush(0, l0);
  EXPECT_EQ(slot_of(l0, 33), -1) << "never in two vCPUs' LRs";
  ASSERT_EQ(acknowledge(l1), 33u);
  deactivate(l1, 33);
  vgic_.sync(1, l1);
  vgic_.flush(1, l1);
  vgic_.sync(0, l0);
  vgic_.flush(0, l0);
  EXPECT_GE(slot_of(l0, 33), -1);
}

TEST_F(VgicTest, ATimerMappedWithHwKeepsItsStateWhenItsVcpuLeavesTheCpu) {
  enable(0, kVirtualTimerPpi, 0x20, Trigger::kLevel);
  Lrs l;
  ASSERT_EQ(vgic_.inject_hw(0, kVirtualTimerPpi, 27, l), Status::kOk);
  vgic_.flush(0, l);
  const int s = slot_of(l, kVirtualTimerPpi);
  ASSERT_GE(s, 0);
  const uint64_t v = l.lr[static_cast<uint32_t>(s)];
  EXPECT_NE(v & lr::kHw, 0u);
  EXPECT_EQ((v & lr::kPintidMask) >> lr::kPintidShift, 27u);
  EXPECT_EQ(v & lr::kEoi, 0u) << "EOI means something else with HW = 1";
  ASSERT_EQ(acknowledge(l), kVirtualTimerPpi);
  // Descheduled while active: unmapped, still active.
  EXPECT_TRUE(vgic_.unmap_hw(0, l));
  EXPECT_EQ(l.lr[static_cast<uint32_t>(s)] & lr::kHw, 0u);
  EXPECT_EQ(state_of(l.lr[static_cast<uint32_t>(s)]), lr::kActive);
  EXPECT_FALSE(vgic_.unmap_hw(0, l)) << "nothing mapped any more";
  // Back on its CPU, the timer fires again before the guest finished:
  // mapped again in place, pending and active.
  ASSERT_EQ(vgic_.inject_hw(0, kVirtualTimerPpi, 27, l), Status::kOk);
  vgic_.flush(0, l);
  EXPECT_EQ(slot_of(l, kVirtualTimerPpi), s);
  EXPECT_NE(l.lr[static_cast<uint32_t>(s)] & lr::kHw, 0u);
  EXPECT_EQ(state_of(l.lr[static_cast<uint32_t>(s)]), lr::kPending | lr::kActive);
}

TEST_F(VgicTest, AMappedTimerThatIsDisabledWaitsWithoutAnLr) {
  Lrs l;
  ASSERT_EQ(vgic_.inject_hw(0, kVirtualTimerPpi, 27, l), Status::kOk);
  vgic_.flush(0, l);
  EXPECT_EQ(slot_of(l, kVirtualTimerPpi), -1);
  Kick k;
  ASSERT_EQ(set_enabled(0, kVirtualTimerPpi, true, k), Status::kOk);
  EXPECT_EQ(k.vcpus, 0b01u);
  vgic_.flush(0, l);
  const int s = slot_of(l, kVirtualTimerPpi);
  ASSERT_GE(s, 0);
  EXPECT_NE(l.lr[static_cast<uint32_t>(s)] & lr::kHw, 0u) << "the physical one is still active";
}

// GICR_ICACTIVER0 written in the handler instead of an EOI: the entry the
// guest acknowledged is over at its next refill, and not delivered again.
TEST_F(VgicTest, ClearingTheActiveStateOfAnAcknowledgedSgiEndsIt) {
  enable(0, 1, 0x40);
  raise(0, 1);
  Lrs l;
  vgic_.flush(0, l);
  ASSERT_EQ(acknowledge(l), 1u);
  vgic_.sync(0, l);
  ASSERT_TRUE(vgic_.state(0, 1)->active);
  Kick k;
  ASSERT_EQ(vgic_.set_active(0, 1, false, k), Status::kOk);
  EXPECT_EQ(k.vcpus, 0b01u) << "its LR owner refills";
  EXPECT_FALSE(vgic_.state(0, 1)->active) << "reads as done before the refill";
  EXPECT_FALSE(vgic_.refresh(0, l));
  EXPECT_EQ(slot_of(l, 1), -1);
  EXPECT_FALSE(vgic_.state(0, 1)->active);
  EXPECT_FALSE(vgic_.state(0, 1)->pending);
  EXPECT_FALSE(vgic_.has_pending(0, l));
}

// Of changes asked before the owner refills, the last one wins.
TEST_F(VgicTest, TheLastActiveWriteBeforeTheRefillWins) {
  enable(0, 2, 0x40);
  raise(0, 2);
  Lrs l;
  vgic_.flush(0, l);
  ASSERT_EQ(acknowledge(l), 2u);
  Kick k;
  ASSERT_EQ(vgic_.set_active(0, 2, false, k), Status::kOk);
  ASSERT_EQ(vgic_.set_active(0, 2, true, k), Status::kOk);
  EXPECT_TRUE(vgic_.state(0, 2)->active);
  EXPECT_FALSE(vgic_.refresh(0, l));
  ASSERT_GE(slot_of(l, 2), 0);
  EXPECT_EQ(state_of(l.lr[static_cast<uint32_t>(slot_of(l, 2))]), lr::kActive);
  ASSERT_EQ(vgic_.set_active(0, 2, true, k), Status::kOk);
  ASSERT_EQ(vgic_.set_active(0, 2, false, k), Status::kOk);
  EXPECT_FALSE(vgic_.refresh(0, l));
  EXPECT_EQ(slot_of(l, 2), -1);
}

// GICD_ISACTIVER: an active interrupt is not delivered, however pending,
// until GICD_ICACTIVER; one in an LR becomes active there.
TEST_F(VgicTest, SettingTheActiveStateHoldsAnInterruptBack) {
  enable(0, 40, 0x40, Trigger::kEdge, 1);
  Kick k;
  ASSERT_EQ(vgic_.set_active(0, 40, true, k), Status::kOk);
  raise(0, 40);
  Lrs l1;
  vgic_.flush(1, l1);
  EXPECT_EQ(slot_of(l1, 40), -1);
  EXPECT_FALSE(vgic_.has_pending(1, l1));
  EXPECT_TRUE(vgic_.state(0, 40)->active);
  EXPECT_TRUE(vgic_.state(0, 40)->pending);
  k = {};
  ASSERT_EQ(vgic_.set_active(0, 40, false, k), Status::kOk);
  EXPECT_EQ(k.vcpus, 0b10u);
  vgic_.flush(1, l1);
  ASSERT_GE(slot_of(l1, 40), 0);
  EXPECT_EQ(state_of(l1.lr[static_cast<uint32_t>(slot_of(l1, 40))]), lr::kPending);
  // In an LR, pending: set active there (pending and active: not taken).
  k = {};
  ASSERT_EQ(vgic_.set_active(1, 40, true, k), Status::kOk);
  EXPECT_EQ(k.vcpus, 0b10u);
  EXPECT_FALSE(vgic_.refresh(1, l1));
  EXPECT_EQ(state_of(l1.lr[static_cast<uint32_t>(slot_of(l1, 40))]), lr::kPending | lr::kActive);
  EXPECT_EQ(acknowledge(l1), 1023u);
}

// GICD_ICPENDR for an interrupt pending in an LR withdraws it there; a
// level line still high keeps it pending.
TEST_F(VgicTest, ClearingPendingWithdrawsAnLrEntryUnlessItsLevelIsHigh) {
  enable(0, 3, 0x40);
  enable(0, 20, 0x40, Trigger::kLevel);
  raise(0, 3);
  Kick k;
  ASSERT_EQ(vgic_.set_line(0, 20, true, k), Status::kOk);
  Lrs l;
  vgic_.flush(0, l);
  ASSERT_GE(slot_of(l, 3), 0);
  ASSERT_GE(slot_of(l, 20), 0);
  k = {};
  ASSERT_EQ(vgic_.clear_pending(0, 3, k), Status::kOk);
  ASSERT_EQ(vgic_.clear_pending(0, 20, k), Status::kOk);
  EXPECT_EQ(k.vcpus, 0b01u);
  EXPECT_FALSE(vgic_.state(0, 3)->pending);
  EXPECT_TRUE(vgic_.state(0, 20)->pending) << "its line is high";
  EXPECT_FALSE(vgic_.refresh(0, l));
  EXPECT_EQ(slot_of(l, 3), -1);
  ASSERT_GE(slot_of(l, 20), 0);
  EXPECT_EQ(acknowledge(l), 20u);
  EXPECT_EQ(acknowledge(l), 1023u) << "SGI 3 is not delivered";
}

// A mapped timer whose output the run loop finds low: withdrawn if the
// guest had not taken it (the physical PPI to be ended), left to finish if
// it had.
TEST_F(VgicTest, AMappedTimerFoundLowIsWithdrawnUnlessTaken) {
  enable(0, kVirtualTimerPpi, 0x20, Trigger::kLevel);
  Lrs l;
  ASSERT_EQ(vgic_.inject_hw(0, kVirtualTimerPpi, 27, l), Status::kOk);
  vgic_.flush(0, l);
  ASSERT_GE(slot_of(l, kVirtualTimerPpi), 0);
  EXPECT_TRUE(vgic_.source_low(0, kVirtualTimerPpi, l)) << "mapped and not taken: the physical one is ended";
  EXPECT_EQ(slot_of(l, kVirtualTimerPpi), -1);
  EXPECT_FALSE(vgic_.state(0, kVirtualTimerPpi)->pending);
  EXPECT_FALSE(vgic_.unmap_hw(0, l)) << "no mapping left";
  // Taken, then found low: the guest deactivates it, through the hardware.
  ASSERT_EQ(vgic_.inject_hw(0, kVirtualTimerPpi, 27, l), Status::kOk);
  vgic_.flush(0, l);
  ASSERT_EQ(acknowledge(l), kVirtualTimerPpi);
  EXPECT_FALSE(vgic_.source_low(0, kVirtualTimerPpi, l));
  const int s = slot_of(l, kVirtualTimerPpi);
  ASSERT_GE(s, 0);
  EXPECT_EQ(state_of(l.lr[static_cast<uint32_t>(s)]), lr::kActive);
  EXPECT_NE(l.lr[static_cast<uint32_t>(s)] & lr::kHw, 0u);
  // Disabled in the vGIC: it waits with the physical one active; found
  // low, nothing is owed and the physical one is ended.
  Lrs l2;
  Kick k;
  ASSERT_EQ(set_enabled(1, kVirtualTimerPpi, false, k), Status::kOk);
  ASSERT_EQ(vgic_.inject_hw(1, kVirtualTimerPpi, 27, l2), Status::kOk);
  EXPECT_TRUE(vgic_.state(1, kVirtualTimerPpi)->pending) << "pending while disabled";
  EXPECT_TRUE(vgic_.source_low(1, kVirtualTimerPpi, l2));
  EXPECT_FALSE(vgic_.state(1, kVirtualTimerPpi)->pending);
  ASSERT_EQ(set_enabled(1, kVirtualTimerPpi, true, k), Status::kOk);
  vgic_.flush(1, l2);
  EXPECT_EQ(slot_of(l2, kVirtualTimerPpi), -1) << "enabling it delivers nothing";
}

// Clearing the active state of a mapped entry ends the mapping: the caller
// deactivates the physical PPI.
TEST_F(VgicTest, ClearingTheActiveStateOfAMappedTimerUnmapsIt) {
  enable(0, kVirtualTimerPpi, 0x20, Trigger::kLevel);
  Lrs l;
  ASSERT_EQ(vgic_.inject_hw(0, kVirtualTimerPpi, 27, l), Status::kOk);
  vgic_.flush(0, l);
  ASSERT_EQ(acknowledge(l), kVirtualTimerPpi);
  Kick k;
  ASSERT_EQ(vgic_.set_active(0, kVirtualTimerPpi, false, k), Status::kOk);
  EXPECT_TRUE(vgic_.refresh(0, l));
  EXPECT_EQ(slot_of(l, kVirtualTimerPpi), -1);
  EXPECT_FALSE(vgic_.unmap_hw(0, l));
}

// LR contents this code did not write (a corrupted context, a stale value)
// are dropped, never used to index anything.
TEST_F(VgicTest, ForeignLrContentsAreDropped) {
  Lrs l;
  l.lr[0] = lr::kPending | 0xffff'fff0;
  l.lr[1] = lr::kActive | 5;  // an INTID in range that was never placed
  l.lr[2] = lr::kPending | (uint64_t{0x1fff} << lr::kPintidShift) | lr::kHw | 27;
  vgic_.sync(0, l);
  EXPECT_EQ(in_lrs(l), (std::vector<uint32_t>{0, 0, 0, 0}));
  l.lr[3] = lr::kPending | 200;
  vgic_.flush(0, l);
  EXPECT_EQ(l.lr[3], 0u);
  EXPECT_FALSE(vgic_.has_pending(0, Lrs{}));
}

TEST_F(VgicTest, HasPendingSeesLrsAndWaitingInterrupts) {
  Lrs l;
  EXPECT_FALSE(vgic_.has_pending(0, l));
  enable(0, 1, 0x40);
  raise(0, 1);
  EXPECT_TRUE(vgic_.has_pending(0, l)) << "waiting for an LR";
  vgic_.flush(0, l);
  EXPECT_TRUE(vgic_.has_pending(0, l)) << "pending in an LR";
  acknowledge(l);
  vgic_.sync(0, l);
  EXPECT_FALSE(vgic_.has_pending(0, l)) << "active only";
  EXPECT_FALSE(vgic_.has_pending(1, Lrs{}));
}

TEST(SgiTargetsTest, TargetListIrmAndAffinitiesNamingNoVcpu) {
  EXPECT_EQ(sgi_targets(0b1010, 0, 4), 0b1010u);
  EXPECT_EQ(sgi_targets(0xffff, 0, 4), 0b1111u) << "names past the last vCPU are nobody";
  EXPECT_EQ(sgi_targets(0b0001, 0, 4), 0b0001u) << "a vCPU may send to itself";
  EXPECT_EQ(sgi_targets(uint64_t{1} << 40 | 0b0001, 2, 4), 0b1011u) << "IRM: all but the sender";
  EXPECT_EQ(sgi_targets(uint64_t{1} << 16 | 0b1, 0, 4), 0u) << "Aff1 = 1";
  EXPECT_EQ(sgi_targets(uint64_t{1} << 32 | 0b1, 0, 4), 0u) << "Aff2 = 1";
  EXPECT_EQ(sgi_targets(uint64_t{1} << 48 | 0b1, 0, 4), 0u) << "Aff3 = 1";
  EXPECT_EQ(sgi_targets(uint64_t{1} << 44 | 0b1, 0, 4), 0u) << "RS = 1: Aff0 16..31";
  EXPECT_EQ(sgi_targets(uint64_t{0xf} << 44 | 0xffff, 0, 8), 0u);
  EXPECT_EQ(sgi_targets(~uint64_t{0}, 3, 8), 0b1111'0111u) << "IRM wins over everything else";
  EXPECT_EQ(sgi_intid(uint64_t{0xb} << 24), 11u);
}

TEST_F(VgicTest, AnSgiIsRaisedOnlyForTargetsThatHaveItInTheWrittenGroup) {
  enable(0, 3, 0x40);  // group 1
  enable(1, 3, 0x40);
  Kick k;
  ASSERT_EQ(vgic_.configure(1, 4, {true, false, Trigger::kEdge, 0x40, 0}, k), Status::kOk);  // group 0
  vgic_.send_sgi(0, uint64_t{3} << 24 | 0b11, true, k);
  EXPECT_EQ(k.vcpus, 0b11u);
  Kick k0;
  vgic_.send_sgi(0, uint64_t{4} << 24 | 0b10, true, k0);
  EXPECT_EQ(k0.vcpus, 0u) << "SGI 4 of vCPU 1 is group 0: ICC_SGI1R_EL1 does not raise it";
  vgic_.send_sgi(0, uint64_t{4} << 24 | 0b10, false, k0);
  EXPECT_EQ(k0.vcpus, 0b10u);
  Lrs l;
  EXPECT_EQ(drain(1, l), (std::vector<uint32_t>{3, 4}));
}

// Senders on other CPUs raise SGIs while the target's CPU syncs and
// flushes: every SGI raised is delivered, none twice at once.
TEST_F(VgicTest, SgisRaisedFromOtherCpusAreAllDelivered) {
  for (uint32_t i = 0; i < 8; ++i) enable(1, i, static_cast<uint8_t>(0x10 * i));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> raised{0};
  std::thread sender([&] {
    for (uint32_t n = 0; n < 20000; ++n) {
      Kick k;
      EXPECT_EQ(vgic_.raise(1, n % 8, k), Status::kOk);
      raised.fetch_add(1);
    }
    stop.store(true);
  });
  Lrs l;
  uint64_t taken = 0;
  for (;;) {
    const bool last = stop.load();
    vgic_.sync(1, l);
    vgic_.flush(1, l);
    for (uint32_t id = acknowledge(l); id != 1023; id = acknowledge(l)) {
      ++taken;
      deactivate(l, id);
      vgic_.sync(1, l);
      vgic_.flush(1, l);
    }
    if (last) break;
  }
  sender.join();
  EXPECT_GT(taken, 0u);
  EXPECT_LE(taken, raised.load()) << "edges coalesce while pending, never multiply";
  EXPECT_FALSE(vgic_.has_pending(1, l)) << "nothing left behind";
}

// Another vCPU's GIC writes (through the GIC server) racing with the LR
// owner taking its interrupts: set pending, clear pending, set and clear
// active on the SPIs the owner holds. Whatever the interleaving, no
// interrupt is ever in two LRs or in an LR the vGIC does not record, and
// once the writer stops with everything inactive and not pending, the
// owner's LRs empty and nothing is owed.
TEST_F(VgicTest, ActiveAndPendingWritesRacingWithTheOwnerKeepTheLrsConsistent) {
  constexpr uint32_t kFirst = 40;
  constexpr uint32_t kCount = 6;  // more than the LRs
  for (uint32_t i = 0; i < kCount; ++i) enable(0, kFirst + i, static_cast<uint8_t>(0x10 * i), Trigger::kEdge, 1);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    uint32_t x = 12345;
    for (uint32_t n = 0; n < 30000; ++n) {
      x = x * 1103515245 + 12345;
      const uint32_t intid = kFirst + (x >> 8) % kCount;
      Kick k;
      switch ((x >> 16) % 4) {
        case 0:
          EXPECT_EQ(vgic_.raise(0, intid, k), Status::kOk);
          break;
        case 1:
          EXPECT_EQ(vgic_.clear_pending(0, intid, k), Status::kOk);
          break;
        case 2:
          EXPECT_EQ(vgic_.set_active(0, intid, true, k), Status::kOk);
          break;
        default:
          EXPECT_EQ(vgic_.set_active(0, intid, false, k), Status::kOk);
          break;
      }
    }
    // Everything over: inactive, not pending.
    for (uint32_t i = 0; i < kCount; ++i) {
      Kick k;
      EXPECT_EQ(vgic_.set_active(0, kFirst + i, false, k), Status::kOk);
      EXPECT_EQ(vgic_.clear_pending(0, kFirst + i, k), Status::kOk);
    }
    stop.store(true);
  });
  Lrs l;
  auto consistent = [&] {
    std::vector<uint32_t> seen;
    for (uint32_t i = 0; i < kLrs; ++i) {
      if (l.lr[i] == 0) continue;
      const uint32_t id = intid_of(l.lr[i]);
      EXPECT_TRUE(id >= kFirst && id < kFirst + kCount) << id;
      EXPECT_EQ(std::count(seen.begin(), seen.end(), id), 0) << "INTID " << id << " in two LRs";
      seen.push_back(id);
    }
  };
  for (;;) {
    const bool last = stop.load();
    (void)vgic_.refresh(1, l);
    consistent();
    // The guest takes one and ends it, or leaves it active for a while.
    const uint32_t id = acknowledge(l);
    if (id != 1023 && (id % 2) == 0) deactivate(l, id);
    (void)vgic_.refresh(1, l);
    consistent();
    if (last) break;
  }
  writer.join();
  // The writer's last clears reach the LRs at the next refills.
  for (int i = 0; i < 3; ++i) {
    for (uint32_t s = 0; s < kLrs; ++s) {
      if (l.lr[s] != 0 && (l.lr[s] & lr::kActive) != 0) l.lr[s] &= ~lr::kActive;  // the guest ends what it took
    }
    (void)vgic_.refresh(1, l);
  }
  EXPECT_EQ(in_lrs(l), (std::vector<uint32_t>{0, 0, 0, 0}));
  for (uint32_t i = 0; i < kCount; ++i) {
    const Result<Vgic::State> s = vgic_.state(0, kFirst + i);
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(s->pending || s->active) << kFirst + i;
  }
  EXPECT_FALSE(vgic_.has_pending(1, l));
}

}  // namespace
}  // namespace hyp::vgic
