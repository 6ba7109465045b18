#include "kernel/psci/vcpu_power.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "kernel/arch/fake/fake.h"
#include "kernel/mm/page_pool.h"

namespace hyp::vpsci {
namespace {

constexpr uint64_t kRamIpa = 0x4000'0000;

class VcpuPowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    arch::fake::reset();
    pool_.add(pool_memory_.base(), pool_memory_.pages());
    auto table = PageTable::create(pool_, arch::mm::Regime::kStage2, 1);
    ASSERT_TRUE(table.ok());
    p_.stage2 = *table;
    ASSERT_EQ(p_.stage2.map(kRamIpa, ram_.base(), kPageSize, arch::mm::Attrs{.read = true, .write = true, .exec = true}),
              Status::kOk);
    p_.vcpu_count = 4;
    for (uint16_t i = 0; i < 4; ++i) {
      Vcpu& v = p_.vcpus[i];
      v.partition = &p_;
      v.index = i;
      // Two clusters of two, as a guest's device tree might number them.
      v.ctx.el2.vmpidr_el2 = (1ull << 31) | (uint64_t{i / 2u} << 8) | (i % 2u);
      v.ctx.el2.hcr_el2 = 0x1234;
    }
    p_.vcpus[0].power.store(VcpuPower::kOn);
  }

  static uint64_t mpidr(unsigned i) { return (uint64_t{i / 2} << 8) | (i % 2); }

  arch::fake::PhysMemory pool_memory_{8};
  arch::fake::PhysMemory ram_{1};
  PagePool pool_;
  Partition p_;
};

TEST_F(VcpuPowerTest, CpuOnResetsTheTargetAsPsciSaysAndKeepsItsEl2Controls) {
  Vcpu& caller = p_.vcpus[0];
  Vcpu& t = p_.vcpus[3];
  t.ctx.x[5] = 0x5555;
  t.ctx.el1.ttbr0_el1 = 0x9999;
  t.ctx.fp.fpcr = 7;
  caller.ctx.el1.sctlr_el1 = kSctlrEl1Reset | (1u << 25) | 1u;  // big-endian data, MMU on
  Vcpu* started = nullptr;
  EXPECT_EQ(cpu_on(caller, mpidr(3), kRamIpa + 0x100, 0xc0ffee, started), psci::Ret::kSuccess);
  EXPECT_EQ(started, &t);
  EXPECT_EQ(t.power.load(), VcpuPower::kOnPending);
  EXPECT_EQ(t.ctx.pc, kRamIpa + 0x100);
  EXPECT_EQ(t.ctx.x[0], 0xc0ffeeu);
  EXPECT_EQ(t.ctx.x[5], 0u);
  EXPECT_EQ(t.ctx.el1.ttbr0_el1, 0u);
  EXPECT_EQ(t.ctx.fp.fpcr, 0u);
  EXPECT_EQ(t.ctx.pstate, kPstateEl1h | kPstateDaif);
  EXPECT_EQ(t.ctx.el1.sctlr_el1, kSctlrEl1Reset | (1u << 25)) << "the caller's endianness, MMU off";
  EXPECT_EQ(t.ctx.el2.hcr_el2, 0x1234u);
  EXPECT_EQ(t.ctx.el2.vmpidr_el2, (1ull << 31) | 0x101);
  mark_running(t);
  EXPECT_EQ(t.power.load(), VcpuPower::kOn);
  mark_off(t);
  EXPECT_EQ(t.power.load(), VcpuPower::kOff);
  EXPECT_EQ(cpu_on(caller, mpidr(3), kRamIpa, 1, started), psci::Ret::kSuccess) << "off and on again";
}

TEST_F(VcpuPowerTest, MarkRunningOnlyCompletesAPendingStart) {
  Vcpu& t = p_.vcpus[1];
  mark_running(t);
  EXPECT_EQ(t.power.load(), VcpuPower::kOff) << "a vCPU nobody turned on stays off";
}

TEST_F(VcpuPowerTest, AffinityInfoByLevel) {
  Vcpu& caller = p_.vcpus[0];
  Vcpu* started = nullptr;
  ASSERT_EQ(cpu_on(caller, mpidr(2), kRamIpa, 0, started), psci::Ret::kSuccess);
  EXPECT_EQ(affinity_info(caller, mpidr(0), 0), 0);
  EXPECT_EQ(affinity_info(caller, mpidr(1), 0), 1);
  EXPECT_EQ(affinity_info(caller, mpidr(2), 0), 2);
  EXPECT_EQ(affinity_info(caller, mpidr(3), 0), 1);
  EXPECT_EQ(affinity_info(caller, mpidr(3), 1), 2) << "cluster 1: one pending, none on";
  EXPECT_EQ(affinity_info(caller, mpidr(1), 1), 0) << "cluster 0: vCPU 0 is on";
  EXPECT_EQ(affinity_info(caller, 0x200, 1), static_cast<int64_t>(psci::Ret::kInvalidParameters));
  EXPECT_EQ(affinity_info(caller, mpidr(3), 3), 0) << "everything: someone is on";
  EXPECT_EQ(affinity_info(caller, mpidr(3), 4), static_cast<int64_t>(psci::Ret::kInvalidParameters));
  EXPECT_EQ(affinity_info(caller, 1ull << 31, 0), static_cast<int64_t>(psci::Ret::kInvalidParameters));
}

TEST_F(VcpuPowerTest, PowerStateReservedBitsAreRefused) {
  EXPECT_EQ(check_power_state(0), psci::Ret::kSuccess);
  EXPECT_EQ(check_power_state(0x0301'ffff), psci::Ret::kSuccess);
  for (int bit : {17, 20, 23, 26, 31, 32, 63}) {
    EXPECT_EQ(check_power_state(uint64_t{1} << bit), psci::Ret::kInvalidParameters) << bit;
  }
}

// Three vCPUs on three CPUs call CPU_ON for the same target at the same
// moment, over and over: exactly one succeeds each time, the others get
// ON_PENDING (or ALREADY_ON once it ran), and the winner alone writes the
// target's context.
TEST_F(VcpuPowerTest, OfThreeRacingCpuOnCallsExactlyOneSucceeds) {
  for (uint16_t i = 1; i < 4; ++i) p_.vcpus[i].power.store(VcpuPower::kOn);
  Vcpu& t = p_.vcpus[0];
  t.power.store(VcpuPower::kOff);
  constexpr int kRounds = 500;
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> ready{0};
    std::array<psci::Ret, 3> ret{};
    std::array<Vcpu*, 3> started{};
    std::vector<std::thread> callers;
    const bool runs_meanwhile = round % 2 == 1;
    for (size_t c = 0; c < 3; ++c) {
      callers.emplace_back([&, c] {
        ready.fetch_add(1);
        while (ready.load() < 3) {
        }
        ret[c] = cpu_on(p_.vcpus[c + 1], mpidr(0), kRamIpa + 4 * uint64_t{c}, uint64_t{c},
                        started[c]);
        // The winner's vCPU may run before the losers look.
        if (runs_meanwhile && ret[c] == psci::Ret::kSuccess) mark_running(t);
      });
    }
    for (auto& th : callers) th.join();
    int winners = 0;
    for (size_t c = 0; c < 3; ++c) {
      if (ret[c] == psci::Ret::kSuccess) {
        ++winners;
        EXPECT_EQ(started[c], &t);
        EXPECT_EQ(t.ctx.x[0], uint64_t{c}) << "the winner's context";
        EXPECT_EQ(t.ctx.pc, kRamIpa + 4 * uint64_t{c});
      } else {
        EXPECT_EQ(ret[c], psci::Ret::kAlreadyOn) << psci::ret_name(ret[c]);
        EXPECT_EQ(started[c], nullptr);
      }
    }
    ASSERT_EQ(winners, 1) << "round " << round;
    mark_running(t);
    mark_off(t);
  }
}

}  // namespace
}  // namespace hyp::vpsci
