#include "kernel/sched/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "kernel/arch/fake/fake.h"

namespace hyp::sched {
namespace {

constexpr uint64_t kTicksPerMs = 1000;
constexpr uint64_t kSlice = kTicksPerMs * kSliceMs;
constexpr uint64_t kMpidr[] = {0x0, 0x1, 0x100, 0x101};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    arch::fake::reset();
    const bool online[] = {true, true, true, true};
    init(2, kMpidr, online, kTicksPerMs);
    partition_.vcpu_count = 4;
    for (uint16_t i = 0; i < 4; ++i) {
      vcpu(i).partition = &partition_;
      vcpu(i).index = i;
      vcpu(i).state = VcpuState::kOff;
    }
  }

  Vcpu& vcpu(size_t i) { return partition_.vcpus[i]; }

  Partition partition_;
};

TEST_F(SchedulerTest, PlacementFillsTheLeastLoadedOnlineCpu) {
  const bool online[] = {true, false, true, true};
  init(4, kMpidr, online, kTicksPerMs);
  std::vector<size_t> homes;
  for (size_t i = 0; i < 4; ++i) {
    const size_t cpu = least_loaded_cpu();
    place(vcpu(i), cpu);
    homes.push_back(cpu);
  }
  EXPECT_EQ(homes, (std::vector<size_t>{0, 2, 3, 0})) << "CPU 1 is not online and gets nothing";
  EXPECT_EQ(vcpu(3).home, 0u);
}

TEST_F(SchedulerTest, RunnableVcpusTakeTurnsAndASliceEndsOnlyWhenOthersWait) {
  for (size_t i = 0; i < 3; ++i) place(vcpu(i), 0);
  EXPECT_EQ(pick(0, 100), nullptr);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(wake(vcpu(i), 0));
  Vcpu* first = pick(0, 100);
  ASSERT_EQ(first, &vcpu(0));
  EXPECT_EQ(first->state, VcpuState::kRunning);
  EXPECT_EQ(queue(0).slice_end, 100 + kSlice);
  requeue(*first);  // its slice ended
  EXPECT_EQ(pick(0, 200), &vcpu(1));
  retire(vcpu(1), VcpuState::kOff);  // CPU_OFF
  EXPECT_EQ(pick(0, 300), &vcpu(2));
  EXPECT_EQ(queue(0).slice_end, 300 + kSlice) << "vCPU 0 still waits for its turn";
  requeue(vcpu(2));
  EXPECT_EQ(pick(0, 400), &vcpu(0));
  EXPECT_EQ(queue(0).slice_end, 400 + kSlice) << "vCPU 2 waits";
  retire(vcpu(0), VcpuState::kOff);
  EXPECT_EQ(pick(0, 500), &vcpu(2));
  EXPECT_EQ(queue(0).slice_end, 0u) << "alone now";
  EXPECT_EQ(pick(0, 600), nullptr);
}

TEST_F(SchedulerTest, AloneOnItsCpuAVcpuRunsWithoutATick) {
  place(vcpu(0), 1);
  ASSERT_TRUE(wake(vcpu(0), 1));
  EXPECT_EQ(pick(1, 50), &vcpu(0));
  EXPECT_EQ(queue(1).slice_end, 0u);
  EXPECT_EQ(next_deadline(1, 60, true, false), 0u) << "nothing to wait for: the timer stays off";
  // Someone else becomes ready meanwhile: the running one's turn ends a
  // slice from when the home CPU learns of it.
  place(vcpu(1), 1);
  ASSERT_TRUE(wake(vcpu(1), 0));
  EXPECT_EQ(next_deadline(1, 70, true, false), 70 + kSlice);
  EXPECT_EQ(pick(1, 80), &vcpu(1));  // its turn came; nobody waits now
  EXPECT_EQ(next_deadline(1, 90, true, false), 0u);
  EXPECT_EQ(next_deadline(1, 100, true, true), 100 + kSlice) << "a device server waits for a CPU";
}

TEST_F(SchedulerTest, AWakeUpInterruptsTheHomeCpuOnly) {
  place(vcpu(0), 1);
  EXPECT_TRUE(wake(vcpu(0), 0));
  EXPECT_EQ(arch::fake::wakes_sent_to(kMpidr[1]), 1u);
  EXPECT_EQ(arch::fake::wakes_sent_to(kMpidr[0]), 0u);
  EXPECT_FALSE(wake(vcpu(0), 0)) << "already runnable: moot";
  EXPECT_EQ(arch::fake::wakes_sent_to(kMpidr[1]), 1u);
  place(vcpu(1), 1);
  EXPECT_TRUE(wake(vcpu(1), 1));
  EXPECT_EQ(arch::fake::wakes_sent_to(kMpidr[1]), 2u)
      << "the home CPU interrupts itself: the vCPU it runs gets a slice's end when it next runs";
}

TEST_F(SchedulerTest, AVcpuBlocksOnlyWhileWhatItWaitsForHasNotCome) {
  place(vcpu(0), 0);
  ASSERT_TRUE(wake(vcpu(0), 0));
  ASSERT_EQ(pick(0, 0), &vcpu(0));
  Vcpu& v = vcpu(0);
  auto* server = reinterpret_cast<Server*>(&partition_);  // any distinct address
  v.waiting = VcpuWait::kRead;
  v.waits_on = server;
  v.pending.done.store(true);
  EXPECT_FALSE(block(v, 0)) << "the answer came first";
  EXPECT_EQ(v.state, VcpuState::kRunning);
  v.pending.done.store(false);
  EXPECT_TRUE(block(v, 0));
  EXPECT_EQ(v.state, VcpuState::kBlocked);
  EXPECT_FALSE(wake_blocked(v, nullptr, 1)) << "not the server it waits on";
  EXPECT_EQ(v.state, VcpuState::kBlocked);
  EXPECT_TRUE(wake_blocked(v, server, 1));
  EXPECT_EQ(pick(0, 0), &v);
  // Running: nothing to wake.
  EXPECT_FALSE(wake_blocked(v, server, 1));
  EXPECT_FALSE(wake(v, 1));
}

TEST_F(SchedulerTest, WaitForInterruptEndsAtItsDeadlineOrWhenKicked) {
  place(vcpu(0), 0);
  place(vcpu(1), 0);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(wake(vcpu(i), 0));
    ASSERT_EQ(pick(0, 0), &vcpu(i));
    vcpu(i).waiting = VcpuWait::kInterrupt;
  }
  vcpu(0).wake_at = 5000;
  vcpu(1).wake_at = 0;  // no timer armed: only a kick ends it
  EXPECT_FALSE(block(vcpu(0), 5000)) << "its time has come";
  EXPECT_TRUE(block(vcpu(0), 4999));
  EXPECT_TRUE(block(vcpu(1), 4999));
  EXPECT_EQ(next_deadline(0, 4000, false, false), 5000u);
  EXPECT_EQ(pick(0, 4000), nullptr);
  EXPECT_EQ(wake_due(0, 5000), 0u);
  EXPECT_EQ(vcpu(0).state, VcpuState::kRunnable);
  EXPECT_EQ(vcpu(1).state, VcpuState::kBlocked);
  EXPECT_EQ(pick(0, 5000), &vcpu(0));
  vcpu(1).kicked.store(true);
  EXPECT_TRUE(wake(vcpu(1), 1));
}

TEST_F(SchedulerTest, StoppingTakesQueuedAndBlockedVcpusButNotRunningOnes) {
  for (size_t i = 0; i < 4; ++i) place(vcpu(i), 0);
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(wake(vcpu(i), 0));
  ASSERT_EQ(pick(0, 0), &vcpu(0));  // running
  ASSERT_EQ(pick(0, 0), &vcpu(1));
  vcpu(1).waiting = VcpuWait::kInterrupt;
  ASSERT_TRUE(block(vcpu(1), 0));  // blocked; vCPU 2 queued; vCPU 3 off
  EXPECT_FALSE(stop_if_not_running(vcpu(0)));
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_TRUE(stop_if_not_running(vcpu(i))) << i;
    EXPECT_EQ(vcpu(i).state, VcpuState::kStopped) << i;
  }
  EXPECT_EQ(pick(0, 0), nullptr) << "the queued one left the queue";
  EXPECT_FALSE(wake(vcpu(2), 0)) << "a stopped vCPU stays stopped";
}

TEST_F(SchedulerTest, AStoppingPartitionEndsEveryWait) {
  place(vcpu(0), 0);
  ASSERT_TRUE(wake(vcpu(0), 0));
  ASSERT_EQ(pick(0, 0), &vcpu(0));
  vcpu(0).waiting = VcpuWait::kInterrupt;
  partition_.stopping.store(true);
  EXPECT_FALSE(block(vcpu(0), 0));
}

void spin(int n) {
  for (volatile int i = 0; i < n; i = i + 1) {
  }
}

// The answer to a blocked vCPU's read is taken on another CPU at any moment
// around its blocking. Either block() sees the answer, or the waker sees the
// vCPU blocked and queues it: a vCPU left blocked with its answer in hand
// would sleep forever.
TEST_F(SchedulerTest, NoWakeUpIsLostBetweenBlockingAndAnAnswerOnAnotherCpu) {
  place(vcpu(0), 0);
  Vcpu& v = vcpu(0);
  auto* server = reinterpret_cast<Server*>(&partition_);
  constexpr int kRounds = 1000;
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_TRUE(wake(v, 0));
    ASSERT_EQ(pick(0, 0), &v);
    v.waiting = VcpuWait::kRead;
    v.waits_on = server;
    v.pending.done.store(false, std::memory_order_relaxed);
    // Both sides start together and then wait a varying while, so that the
    // answer lands before, during and after the blocking over the rounds.
    std::atomic<int> ready{0};
    std::thread answer([&] {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      spin((round * 7) % 200);
      v.pending.done.store(true, std::memory_order_release);
      (void)wake_blocked(v, server, 1);
    });
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    spin(round % 200);
    const bool blocked = block(v, 0);
    answer.join();
    if (blocked) {
      ASSERT_EQ(pick(0, 0), &v) << "round " << round << ": blocked with its answer, and never woken";
    }
    v.waiting = VcpuWait::kNothing;
    retire(v, VcpuState::kOff);
  }
}

}  // namespace
}  // namespace hyp::sched
