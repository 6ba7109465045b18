#include "servers/rtc/pl031.h"

#include <gtest/gtest.h>

namespace hyp::server {
namespace {

// A clock the test sets, which records what it was armed for.
class TestClock final : public Clock {
 public:
  uint32_t now() override { return seconds; }
  void arm(bool a, uint32_t at) override {
    armed = a;
    armed_at = at;
  }
  uint32_t seconds = 1'700'000'000;
  bool armed = false;
  uint32_t armed_at = 0;
};

class Pl031Test : public ::testing::Test {
 protected:
  void SetUp() override { rtc_.attach(&clock_); }
  uint64_t reg(uint64_t offset) { return rtc_.read(offset, 4); }
  void set(uint64_t offset, uint32_t value) { rtc_.write(offset, 4, value); }

  TestClock clock_;
  Pl031 rtc_;
};

TEST_F(Pl031Test, TheCounterIsTheClocksTimeUntilALoadMovesIt) {
  EXPECT_EQ(reg(Pl031::kDr), 1'700'000'000u);
  clock_.seconds += 5;
  EXPECT_EQ(reg(Pl031::kDr), 1'700'000'005u);
  set(Pl031::kLr, 1000);
  EXPECT_EQ(reg(Pl031::kDr), 1000u);
  EXPECT_EQ(reg(Pl031::kLr), 1000u);
  clock_.seconds += 7;
  EXPECT_EQ(reg(Pl031::kDr), 1007u) << "it counts on from what was loaded";
  set(Pl031::kDr, 5);
  EXPECT_EQ(reg(Pl031::kDr), 1007u) << "the data register is read-only";
  // Wraps as a 32-bit counter does.
  set(Pl031::kLr, 0xffff'ffff);
  clock_.seconds += 2;
  EXPECT_EQ(reg(Pl031::kDr), 1u);
}

TEST_F(Pl031Test, IdsControlAndEverythingElseAsThePrimeCellReadsThem) {
  const uint8_t ids[8] = {0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
  for (uint64_t i = 0; i < 8; ++i) EXPECT_EQ(reg(Pl031::kIdBase + 4 * i), ids[i]) << i;
  EXPECT_EQ(reg(Pl031::kCr), 1u) << "started out of reset";
  set(Pl031::kCr, 0);
  EXPECT_EQ(reg(Pl031::kCr), 1u) << "a started counter cannot be stopped";
  EXPECT_EQ(reg(0x020), 0u);
  EXPECT_EQ(reg(0xffc + 4 - 4), 0xb1u);
  EXPECT_EQ(rtc_.read(Pl031::kDr, 1), 0u) << "only 32-bit accesses";
  EXPECT_EQ(rtc_.read(Pl031::kDr, 8), 0u);
  rtc_.write(Pl031::kLr, 2, 5);
  EXPECT_EQ(reg(Pl031::kLr), 0u);
  set(Pl031::kImsc, 0xffff'ffff);
  EXPECT_EQ(reg(Pl031::kImsc), 1u) << "one mask bit";
}

TEST_F(Pl031Test, AMatchAheadIsArmedAndRaisesTheLineWhenUnmasked) {
  set(Pl031::kLr, 100);  // the guest's time is the clock's minus 1,699,999,900
  set(Pl031::kMr, 110);
  EXPECT_TRUE(clock_.armed);
  EXPECT_EQ(clock_.armed_at, 1'700'000'010u) << "the match in the clock's seconds";
  clock_.seconds += 10;
  rtc_.matched();
  EXPECT_EQ(reg(Pl031::kRis), 1u);
  EXPECT_EQ(reg(Pl031::kMis), 0u);
  EXPECT_FALSE(rtc_.interrupt()) << "masked";
  EXPECT_FALSE(clock_.armed) << "met: nothing ahead";
  set(Pl031::kImsc, 1);
  EXPECT_TRUE(rtc_.interrupt());
  EXPECT_EQ(reg(Pl031::kMis), 1u);
  set(Pl031::kIcr, 1);
  EXPECT_FALSE(rtc_.interrupt());
  EXPECT_EQ(reg(Pl031::kRis), 0u);
}

TEST_F(Pl031Test, AMatchPassedOrMovedRaisesNothing) {
  set(Pl031::kLr, 100);
  set(Pl031::kMr, 90);
  EXPECT_FALSE(clock_.armed) << "in the past: the hardware matches only when the counter gets there";
  set(Pl031::kMr, 105);
  EXPECT_TRUE(clock_.armed);
  set(Pl031::kMr, 200);  // moved before the clock got to 105
  clock_.seconds += 5;
  rtc_.matched();  // the clock's report of the old match
  EXPECT_EQ(reg(Pl031::kRis), 0u);
  EXPECT_TRUE(clock_.armed) << "still waiting for 200";
  EXPECT_EQ(clock_.armed_at, 1'700'000'000u - 100 + 200);
  // A load past the match disarms it.
  set(Pl031::kLr, 300);
  EXPECT_FALSE(clock_.armed);
}

TEST_F(Pl031Test, AResetKeepsTheTimeAndClearsTheRest) {
  set(Pl031::kLr, 100);
  set(Pl031::kMr, 101);
  set(Pl031::kImsc, 1);
  clock_.seconds += 1;
  rtc_.matched();
  ASSERT_TRUE(rtc_.interrupt());
  rtc_.reset();
  EXPECT_FALSE(rtc_.interrupt());
  EXPECT_EQ(reg(Pl031::kMr), 0u);
  EXPECT_EQ(reg(Pl031::kImsc), 0u);
  EXPECT_EQ(reg(Pl031::kDr), 101u) << "battery-backed: the time goes on";
}

TEST_F(Pl031Test, ANewInstanceGoesOnFromTheSameObject) {
  set(Pl031::kLr, 500);
  set(Pl031::kMr, 510);
  TestClock other;  // the next instance's clock (the same machine time)
  other.seconds = clock_.seconds + 3;
  rtc_.attach(&other);
  EXPECT_EQ(reg(Pl031::kDr), 503u);
  EXPECT_TRUE(other.armed) << "the match is armed again on the new clock";
  EXPECT_EQ(other.armed_at, clock_.seconds + 10);
}

}  // namespace
}  // namespace hyp::server
