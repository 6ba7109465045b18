#include "kernel/vtimer/ptimer.h"

#include <gtest/gtest.h>

namespace hyp::ptimer {
namespace {

TEST(PtimerTest, ResetsDisabledWithNoInterrupt) {
  State t;
  EXPECT_EQ(read(t, Register::kCtl, 100), 0u);
  EXPECT_FALSE(level(t, ~uint64_t{0}));
  EXPECT_EQ(deadline(t, 0), 0u);
}

TEST(PtimerTest, TheLevelRisesAtTheCompareValueOnlyEnabledAndUnmasked) {
  State t;
  write(t, Register::kCval, 1000, 0);
  write(t, Register::kCtl, kEnable, 0);
  EXPECT_FALSE(level(t, 999));
  EXPECT_EQ(deadline(t, 999), 1000u);
  EXPECT_TRUE(level(t, 1000));
  EXPECT_EQ(deadline(t, 1000), 0u) << "due: no deadline ahead";
  EXPECT_EQ(read(t, Register::kCtl, 1000), kEnable | kStatus);
  write(t, Register::kCtl, kEnable | kMask, 1000);
  EXPECT_FALSE(level(t, 2000)) << "masked";
  EXPECT_EQ(read(t, Register::kCtl, 2000), kEnable | kMask | kStatus) << "ISTATUS still says it";
  write(t, Register::kCtl, 0, 2000);
  EXPECT_EQ(read(t, Register::kCtl, 2000), 0u) << "disabled: no status";
}

TEST(PtimerTest, TvalIsASigned32BitDistanceToTheCompareValue) {
  State t;
  write(t, Register::kTval, 500, 10'000);
  EXPECT_EQ(read(t, Register::kCval, 0), 10'500u);
  EXPECT_EQ(read(t, Register::kTval, 10'100), 400u);
  EXPECT_EQ(read(t, Register::kTval, 10'600), static_cast<uint64_t>(-100)) << "sign-extended once past";
  write(t, Register::kTval, 0xffff'ff00, 10'000);  // -256
  EXPECT_EQ(read(t, Register::kCval, 0), 10'000u - 256);
  write(t, Register::kTval, 0x1'0000'0005, 10'000);  // only the low 32 bits count
  EXPECT_EQ(read(t, Register::kCval, 0), 10'005u);
}

TEST(PtimerTest, OnlyEnableAndImaskAreKeptOfCtl) {
  State t;
  write(t, Register::kCtl, ~uint64_t{0}, 0);
  EXPECT_EQ(t.ctl, kEnable | kMask);
}

}  // namespace
}  // namespace hyp::ptimer
