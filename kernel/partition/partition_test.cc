#include "kernel/partition/partition.h"

#include <gtest/gtest.h>

#include "kernel/arch/fake/fake.h"

namespace hyp {
namespace {

constexpr VcpuState kVcpuStates[] = {VcpuState::kOff, VcpuState::kRunnable, VcpuState::kRunning,
                                     VcpuState::kBlocked, VcpuState::kStopped};

TEST(VcpuLifecycle, ExactlyTheDocumentedTransitionsAreAllowed) {
  using S = VcpuState;
  const std::pair<S, S> allowed[] = {
      {S::kOff, S::kRunnable},     {S::kOff, S::kStopped},      {S::kRunnable, S::kRunning},
      {S::kRunnable, S::kStopped}, {S::kRunning, S::kRunnable}, {S::kRunning, S::kBlocked},
      {S::kRunning, S::kOff},      {S::kRunning, S::kStopped},  {S::kBlocked, S::kRunnable},
      {S::kBlocked, S::kStopped},  {S::kStopped, S::kOff},
  };
  for (S from : kVcpuStates) {
    for (S to : kVcpuStates) {
      bool expect = false;
      for (auto [f, t] : allowed) expect = expect || (f == from && t == to);
      EXPECT_EQ(vcpu_transition_allowed(from, to), expect) << vcpu_state_name(from) << " -> " << vcpu_state_name(to);
    }
  }
}

TEST(VcpuLifecycle, RefusedTransitionLeavesTheStateAlone) {
  Vcpu v;
  EXPECT_EQ(v.transition(VcpuState::kBlocked), Status::kDenied);
  EXPECT_EQ(v.state, VcpuState::kOff);
  EXPECT_EQ(v.transition(VcpuState::kRunnable), Status::kOk);
  EXPECT_EQ(v.transition(VcpuState::kRunning), Status::kOk);
  EXPECT_EQ(v.state, VcpuState::kRunning);
}

TEST(PartitionLifecycle, ExactlyTheDocumentedTransitionsAreAllowed) {
  using S = PartitionState;
  const S states[] = {S::kEmpty, S::kLoading, S::kRunning, S::kStopped};
  const std::pair<S, S> allowed[] = {
      {S::kEmpty, S::kLoading},   {S::kLoading, S::kRunning}, {S::kLoading, S::kEmpty},
      {S::kRunning, S::kStopped}, {S::kStopped, S::kLoading}, {S::kStopped, S::kEmpty},
  };
  for (S from : states) {
    for (S to : states) {
      bool expect = false;
      for (auto [f, t] : allowed) expect = expect || (f == from && t == to);
      EXPECT_EQ(partition_transition_allowed(from, to), expect)
          << partition_state_name(from) << " -> " << partition_state_name(to);
    }
  }
}

TEST(Partition, TranslateHonoursStage2PermissionsAndMemoryType) {
  arch::fake::reset();
  arch::fake::PhysMemory memory(8);
  PagePool pool;
  pool.add(memory.base(), memory.pages());
  Partition p;
  auto table = PageTable::create(pool, arch::mm::Regime::kStage2, 1);
  ASSERT_TRUE(table.ok());
  p.stage2 = *table;
  using arch::mm::Attrs;
  using arch::mm::MemType;
  ASSERT_EQ(p.stage2.map(0x4000'0000, Pa(0x8000'0000), kPageSize, Attrs{.read = true, .write = true}), Status::kOk);
  ASSERT_EQ(p.stage2.map(0x4000'1000, Pa(0x8000'1000), kPageSize, Attrs{.read = true, .write = false}), Status::kOk);
  ASSERT_EQ(p.stage2.map(0x900'0000, Pa(0x900'0000), kPageSize, Attrs{.type = MemType::kDevice, .read = true}),
            Status::kOk);

  EXPECT_EQ(*p.translate(Ipa(0x4000'0010), true), Pa(0x8000'0010));
  EXPECT_EQ(*p.translate(Ipa(0x4000'1010), false), Pa(0x8000'1010));
  EXPECT_EQ(p.translate(Ipa(0x4000'1010), true).status(), Status::kDenied);
  EXPECT_EQ(p.translate(Ipa(0x900'0000), false).status(), Status::kDenied) << "device memory is not for the kernel";
  EXPECT_EQ(p.translate(Ipa(0x4000'2000), false).status(), Status::kNotFound);
}

}  // namespace
}  // namespace hyp
