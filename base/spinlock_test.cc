#include "base/spinlock.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace hyp {
namespace {

// Probes the lock in ways the static analysis rightly refuses in real code.
void probe_try_lock(SpinLock& lock) __attribute__((no_thread_safety_analysis)) {
  ASSERT_TRUE(lock.try_lock());
  EXPECT_FALSE(lock.try_lock());
  lock.unlock();
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
}

TEST(SpinLock, TryLockFailsWhileHeld) {
  SpinLock lock;
  probe_try_lock(lock);
}

TEST(SpinLock, SerializesIncrementsFromManyThreads) {
  SpinLock lock;
  long counter = 0;
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIterations; ++i) {
        SpinLockGuard guard(lock);
        counter = counter + 1;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, long{kThreads} * kIterations);
}

}  // namespace
}  // namespace hyp
