#include "kernel/boot/smp.h"

#include <gtest/gtest.h>

#include <vector>

#include "kernel/arch/fake/fake.h"
#include "ipc/psci.h"

namespace hyp {
namespace {

BootInfo four_cpus() {
  BootInfo info;
  info.cpu_count = 4;
  info.cpu_mpidr = {0x0, 0x1, 0x100, 0x101};
  return info;
}

TEST(CpuTable, BootCpuIsLogicalZeroAndOthersKeepTreeOrder) {
  auto table = make_cpu_table(four_cpus(), 0x100);
  ASSERT_TRUE(table.ok());
  ASSERT_EQ(table->count, 4u);
  EXPECT_EQ(table->mpidr[0], 0x100u);
  EXPECT_EQ(table->mpidr[1], 0x0u);
  EXPECT_EQ(table->mpidr[2], 0x1u);
  EXPECT_EQ(table->mpidr[3], 0x101u);
}

TEST(CpuTable, BootCpuMissingFromTheTreeIsAnError) {
  EXPECT_EQ(make_cpu_table(four_cpus(), 0x2).status(), Status::kNotFound);
}

struct Call {
  uint64_t function, mpidr, entry, context;
};

class StartSecondaries : public ::testing::Test {
 protected:
  void SetUp() override { arch::fake::reset(); }
  void TearDown() override { arch::fake::reset(); }

  CpuTable table_ = *make_cpu_table(four_cpus(), 0x0);
  CpuOnlineFlags flags_;
  std::vector<Call> calls_;
};

TEST_F(StartSecondaries, StartsEachOtherCpuWithItsLogicalIndex) {
  arch::fake::set_smc_handler([&](const arch::SmcArgs& a) {
    calls_.push_back({a.x[0], a.x[1], a.x[2], a.x[3]});
    flags_.online[a.x[3]].store(true);
    return arch::SmcResult{{0}};
  });

  auto reports = start_secondaries(table_, Pa(0x4020'0100), flags_, 1000);

  ASSERT_EQ(calls_.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(calls_[i].function, psci::kCpuOn64);
    EXPECT_EQ(calls_[i].mpidr, table_.mpidr[i + 1]);
    EXPECT_EQ(calls_[i].entry, 0x4020'0100u);
    EXPECT_EQ(calls_[i].context, i + 1);
  }
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(reports[i].outcome, StartOutcome::kOnline) << i;
}

TEST_F(StartSecondaries, FirmwareErrorsAreReportedPerCpuWithSignExtendedCodes) {
  arch::fake::set_smc_handler([&](const arch::SmcArgs& a) {
    if (a.x[1] == 0x100) return arch::SmcResult{{0x0000'0000'ffff'fffcull}};  // w0 = ALREADY_ON, x0 high bits clear
    if (a.x[1] == 0x101) return arch::SmcResult{{0xffff'ffff'ffff'fffeull}};  // INVALID_PARAMETERS
    flags_.online[a.x[3]].store(true);
    return arch::SmcResult{{0}};
  });

  auto reports = start_secondaries(table_, Pa(0x4020'0000), flags_, 1000);

  EXPECT_EQ(reports[1].outcome, StartOutcome::kOnline);
  EXPECT_EQ(reports[2].outcome, StartOutcome::kFirmwareError);
  EXPECT_EQ(reports[2].ret, psci::Ret::kAlreadyOn);
  EXPECT_EQ(reports[3].outcome, StartOutcome::kFirmwareError);
  EXPECT_EQ(reports[3].ret, psci::Ret::kInvalidParameters);
}

TEST_F(StartSecondaries, ACpuThatNeverReportsInTimesOutAndTheRestStillStart) {
  arch::fake::set_counter(62'500'000, 10);
  arch::fake::set_smc_handler([&](const arch::SmcArgs& a) {
    calls_.push_back({a.x[0], a.x[1], a.x[2], a.x[3]});
    if (a.x[3] != 2) flags_.online[a.x[3]].store(true);
    return arch::SmcResult{{0}};
  });

  auto reports = start_secondaries(table_, Pa(0x4020'0000), flags_, 5000);

  EXPECT_EQ(calls_.size(), 3u);
  EXPECT_EQ(reports[1].outcome, StartOutcome::kOnline);
  EXPECT_EQ(reports[2].outcome, StartOutcome::kTimedOut);
  EXPECT_EQ(reports[3].outcome, StartOutcome::kOnline);
}

}  // namespace
}  // namespace hyp
