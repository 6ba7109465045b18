#include "kernel/server/channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "kernel/arch/cpu.h"
#include "kernel/arch/fake/fake.h"

namespace hyp {
namespace {

using ipc::Request;
using ipc::RequestKind;
using ipc::Response;

// The channel's pages and a server that plays by the rules unless told not to.
struct Fixture {
  std::unique_ptr<uint8_t[]> memory{new uint8_t[ipc::kChannelPages * ipc::kChannelPageSize]()};
  Channel channel;
  ChannelPages pages = channel_pages(memory.get());

  Fixture() { channel.attach(pages); }

  Request read(uint64_t offset) {
    Request r{};
    r.kind = RequestKind::kRead;
    r.width = 4;
    r.offset = offset;
    return r;
  }
  Request posted_write(uint64_t offset, uint64_t data) {
    Request r{};
    r.kind = RequestKind::kWrite;
    r.width = 4;
    r.offset = offset;
    r.data = data;
    r.flags = ipc::kRequestPosted;
    return r;
  }

  // The server: takes everything queued, answers reads with offset * 10,
  // records each as done. Returns the requests it saw.
  std::vector<Request> serve(bool answer = true) {
    ipc::RingConsumer<Request, ipc::kRingEntries> in(pages.requests, pages.requests->head.load());
    ipc::RingProducer<Response, ipc::kRingEntries> out(pages.responses, pages.responses->tail.load());
    std::vector<Request> seen;
    Request r{};
    while (in.pop(r) == ipc::RingStatus::kOk) {
      seen.push_back(r);
      if (answer && (r.flags & ipc::kRequestPosted) == 0) {
        Response resp{};
        resp.seq = r.seq;
        resp.data = r.offset * 10;
        EXPECT_EQ(out.push(resp), ipc::RingStatus::kOk);
      }
      if (answer) pages.state->done_seq = r.seq;
    }
    return seen;
  }
};

TEST(Channel, ReadsAreNumberedAnsweredAndMatchedToTheirWaiters) {
  Fixture f;
  PendingAccess a, b;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.read(1), &a), Status::kOk);
  ASSERT_EQ(f.channel.push(f.posted_write(2, 7), nullptr), Status::kOk);
  ASSERT_EQ(f.channel.push(f.read(3), &b), Status::kOk);
  EXPECT_EQ(f.channel.work(), Channel::Work::kPending);
  const auto seen = f.serve();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].seq, 1u);
  EXPECT_EQ(seen[1].seq, 2u);
  EXPECT_EQ(seen[2].seq, 3u);
  EXPECT_EQ(f.channel.work(), Channel::Work::kNone);
  EXPECT_FALSE(a.done.load());
  auto taken = f.channel.take_responses();
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(*taken, 2u);
  EXPECT_TRUE(a.done.load());
  EXPECT_EQ(a.value, 10u);
  EXPECT_TRUE(b.done.load());
  EXPECT_EQ(b.value, 30u);
  EXPECT_FALSE(a.failed);
  EXPECT_EQ(f.channel.done_seq(), 3u);
}

TEST(Channel, AFullRingIsBusyUntilTheServerRuns) {
  Fixture f;
  SpinLockGuard guard(f.channel.lock);
  for (uint32_t i = 0; i < Channel::kEntries; ++i) ASSERT_EQ(f.channel.push(f.posted_write(i, i), nullptr), Status::kOk);
  EXPECT_EQ(f.channel.push(f.posted_write(0, 0), nullptr), Status::kBusy);
  f.serve();
  EXPECT_EQ(f.channel.push(f.posted_write(0, 0), nullptr), Status::kOk);
}

TEST(Channel, RequestsTakenButNotDoneAreKeptForReplay) {
  Fixture f;
  SpinLockGuard guard(f.channel.lock);
  // The server takes every request but never says it finished them: the
  // kernel keeps its copies and refuses more than it can replay.
  for (uint32_t i = 0; i < Channel::kEntries; ++i) ASSERT_EQ(f.channel.push(f.posted_write(i, i), nullptr), Status::kOk);
  f.serve(/*answer=*/false);
  EXPECT_EQ(f.channel.push(f.posted_write(0, 0), nullptr), Status::kBusy);
  EXPECT_EQ(f.channel.outstanding(), Channel::kEntries);
}

TEST(Channel, ACrashReplaysEverythingAfterTheLastDoneRequestInOrder) {
  Fixture f;
  PendingAccess waiter;
  SpinLockGuard guard(f.channel.lock);
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_EQ(f.channel.push(f.posted_write(i, i), nullptr), Status::kOk);
  ASSERT_EQ(f.channel.push(f.read(6), &waiter), Status::kOk);
  // The server took all six, finished three, and crashed.
  f.serve(/*answer=*/false);
  f.pages.state->done_seq = 3;
  EXPECT_EQ(f.channel.reset_for_restart(), 3u);
  EXPECT_EQ(f.pages.requests->head.load(), 0u);
  const auto replayed = f.serve();
  ASSERT_EQ(replayed.size(), 3u);
  EXPECT_EQ(replayed[0].seq, 4u);
  EXPECT_EQ(replayed[1].seq, 5u);
  EXPECT_EQ(replayed[2].seq, 6u);
  EXPECT_EQ(replayed[2].kind, RequestKind::kRead);
  ASSERT_TRUE(f.channel.take_responses().ok());
  EXPECT_TRUE(waiter.done.load());
  EXPECT_EQ(waiter.value, 60u);
}

TEST(Channel, ADoneNumberNoServerCouldHaveReachedIsIgnored) {
  Fixture f;
  SpinLockGuard guard(f.channel.lock);
  for (uint64_t i = 1; i <= 4; ++i) ASSERT_EQ(f.channel.push(f.posted_write(i, i), nullptr), Status::kOk);
  f.serve(/*answer=*/false);
  f.pages.state->done_seq = 1000;  // beyond anything sent
  EXPECT_EQ(f.channel.reset_for_restart(), 4u);
  EXPECT_EQ(f.channel.done_seq(), 0u);
}

TEST(Channel, AWaiterIsReplayedEvenIfTheServerClaimedItsRequestDone) {
  Fixture f;
  PendingAccess waiter;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.read(2), &waiter), Status::kOk);
  f.serve(/*answer=*/false);
  f.pages.state->done_seq = 1;  // done, but no answer was ever published
  EXPECT_EQ(f.channel.reset_for_restart(), 1u);
  f.serve();
  ASSERT_TRUE(f.channel.take_responses().ok());
  EXPECT_TRUE(waiter.done.load());
  EXPECT_EQ(waiter.value, 20u);
}

TEST(Channel, AnswersToUnknownRequestsAreCorruptionAndRepeatedAnswersAreDropped) {
  Fixture f;
  PendingAccess waiter;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.read(1), &waiter), Status::kOk);
  ipc::RingProducer<Response, ipc::kRingEntries> out(f.pages.responses);
  Response r{};
  r.seq = 1;
  r.data = 5;
  ASSERT_EQ(out.push(r), ipc::RingStatus::kOk);
  ASSERT_EQ(out.push(r), ipc::RingStatus::kOk);  // the same answer twice: the second finds no waiter
  ASSERT_TRUE(f.channel.take_responses().ok());
  EXPECT_EQ(waiter.value, 5u);
  r.seq = 99;  // never sent
  ASSERT_EQ(out.push(r), ipc::RingStatus::kOk);
  EXPECT_FALSE(f.channel.take_responses().ok());
}

TEST(Channel, ACorruptRequestRingIsReportedNotFollowed) {
  Fixture f;
  SpinLockGuard guard(f.channel.lock);
  f.pages.requests->head.store(12345);
  EXPECT_EQ(f.channel.push(f.posted_write(0, 0), nullptr), Status::kAborted);
  f.pages.responses->tail.store(777);
  EXPECT_FALSE(f.channel.take_responses().ok());
}

TEST(Channel, FailingCompletesEveryWaiterWithFailure) {
  Fixture f;
  PendingAccess a, b;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.read(1), &a), Status::kOk);
  ASSERT_EQ(f.channel.push(f.read(2), &b), Status::kOk);
  f.channel.fail_all();
  EXPECT_TRUE(a.done.load());
  EXPECT_TRUE(a.failed);
  EXPECT_TRUE(b.done.load());
  EXPECT_TRUE(b.failed);
  EXPECT_EQ(f.channel.outstanding(), 0u);
}

TEST(Channel, LogLinesQueueAreCountedWhenDroppedAndCanBeTakenBack) {
  Fixture f;
  SpinLockGuard guard(f.channel.lock);
  for (uint32_t i = 0; i < ipc::kLogEntries; ++i) EXPECT_TRUE(f.channel.push_log("line", 4));
  EXPECT_FALSE(f.channel.push_log("lost", 4));
  EXPECT_EQ(f.channel.take_dropped_log_lines(), 1u);
  EXPECT_EQ(f.channel.take_dropped_log_lines(), 0u);
  EXPECT_EQ(f.channel.work(), Channel::Work::kPending);
  ipc::LogLine line{};
  for (uint32_t i = 0; i < ipc::kLogEntries; ++i) {
    ASSERT_TRUE(f.channel.pop_log_for_kernel(line));
    EXPECT_EQ(std::string(line.text, line.length), "line");
  }
  EXPECT_FALSE(f.channel.pop_log_for_kernel(line));
  EXPECT_EQ(f.channel.work(), Channel::Work::kNone);
  // A long line is cut to what an entry holds; a scribbled length is clamped.
  std::string long_line(500, 'x');
  EXPECT_TRUE(f.channel.push_log(long_line.data(), long_line.size()));
  f.pages.log->entries[ipc::kLogEntries % ipc::kLogEntries].length = 60000;
  ASSERT_TRUE(f.channel.pop_log_for_kernel(line));
  EXPECT_EQ(line.length, sizeof(line.text));
}

TEST(Channel, AnImpossibleLogHeadDoesNotOutliveARestart) {
  Fixture f;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_TRUE(f.channel.push_log("queued", 6));
  f.pages.log->head.store(1000);  // what the old instance left
  EXPECT_EQ(f.channel.work(), Channel::Work::kCorrupt);
  (void)f.channel.reset_for_restart();
  EXPECT_EQ(f.channel.work(), Channel::Work::kNone) << "the new instance starts sound";
  EXPECT_EQ(f.channel.take_dropped_log_lines(), 1u);
  // A plausible head is kept: the lines it has not printed wait for it.
  ASSERT_TRUE(f.channel.push_log("next", 4));
  (void)f.channel.reset_for_restart();
  EXPECT_EQ(f.channel.work(), Channel::Work::kPending);
}

TEST(Channel, ProgressIsWhatTheServerTakesNotWhatItClaims) {
  Fixture f;
  PendingAccess waiter;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.read(1), &waiter), Status::kOk);
  for (uint64_t i = 2; i <= 6; ++i) ASSERT_EQ(f.channel.push(f.posted_write(i, i), nullptr), Status::kOk);
  const uint64_t before = f.channel.progress_mark();
  EXPECT_EQ(f.channel.progress_mark(), before) << "nothing taken";
  // The server claims more and more done across crashes while the read it
  // owes is replayed each time: the high-water mark stops at what was sent.
  uint64_t highest = 0;
  for (uint64_t claim : {6u, 5u, 6u, 5u}) {
    f.pages.state->done_seq = claim;
    (void)f.channel.reset_for_restart();
    EXPECT_GE(f.channel.done_high(), highest);
    highest = f.channel.done_high();
  }
  EXPECT_EQ(highest, 6u);
  f.serve();  // takes everything: the head moves
  EXPECT_NE(f.channel.progress_mark(), before);
}

// A server whose response ring was full waits owing answers it could not
// publish; the kernel taking answers at that wait is its progress.
TEST(Channel, AnswersTakenByTheKernelAreProgressToo) {
  Fixture f;
  PendingAccess waiter;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.read(1), &waiter), Status::kOk);
  f.serve(/*answer=*/false);  // taken: the head has moved
  const uint64_t taken = f.channel.progress_mark();
  ipc::RingProducer<Response, ipc::kRingEntries> out(f.pages.responses, f.pages.responses->tail.load());
  Response r{};
  r.seq = 1;
  ASSERT_EQ(out.push(r), ipc::RingStatus::kOk);
  EXPECT_EQ(f.channel.progress_mark(), taken) << "published, not yet taken";
  ASSERT_TRUE(f.channel.take_responses().ok());
  EXPECT_NE(f.channel.progress_mark(), taken);
}

TEST(Channel, ATakenReadWithoutAnAnswerIsOwed) {
  Fixture f;
  PendingAccess waiter;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.read(1), &waiter), Status::kOk);
  ASSERT_EQ(f.channel.push(f.posted_write(2, 2), nullptr), Status::kOk);
  EXPECT_FALSE(f.channel.owes_answer()) << "not taken yet";
  f.serve(/*answer=*/false);
  EXPECT_TRUE(f.channel.owes_answer());
  ipc::RingProducer<Response, ipc::kRingEntries> out(f.pages.responses, f.pages.responses->tail.load());
  Response r{};
  r.seq = 1;
  ASSERT_EQ(out.push(r), ipc::RingStatus::kOk);
  ASSERT_TRUE(f.channel.take_responses().ok());
  EXPECT_FALSE(f.channel.owes_answer());
}

TEST(Channel, AnImpossibleRequestHeadIsCorruptionNotWork) {
  Fixture f;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.posted_write(0, 1), nullptr), Status::kOk);
  // Past the tail, and more than a ring behind it: no server could get there.
  for (uint32_t head : {2u, 1000u, 0xffff'ffffu - Channel::kEntries}) {
    f.pages.requests->head.store(head);
    EXPECT_EQ(f.channel.work(), Channel::Work::kCorrupt) << head;
  }
  f.pages.requests->head.store(1);
  EXPECT_EQ(f.channel.work(), Channel::Work::kNone);
  f.pages.log->head.store(5);
  EXPECT_EQ(f.channel.work(), Channel::Work::kCorrupt);
}

TEST(Channel, ALateAnswerDoesNotCompleteTheWaitersNewerRead) {
  Fixture f;
  PendingAccess waiter;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.read(1), &waiter), Status::kOk);
  f.serve(/*answer=*/false);
  // The vCPU was reset and reads again with the same PendingAccess; the
  // answer to its first read arrives only now.
  ASSERT_EQ(f.channel.push(f.read(2), &waiter), Status::kOk);
  ipc::RingProducer<Response, ipc::kRingEntries> out(f.pages.responses, f.pages.responses->tail.load());
  Response old{};
  old.seq = 1;
  old.data = 111;
  ASSERT_EQ(out.push(old), ipc::RingStatus::kOk);
  ASSERT_TRUE(f.channel.take_responses().ok());
  EXPECT_FALSE(waiter.done.load());
  f.serve();
  ASSERT_TRUE(f.channel.take_responses().ok());
  EXPECT_TRUE(waiter.done.load());
  EXPECT_EQ(waiter.value, 20u);
}

TEST(Channel, AForgottenWaiterIsNeitherCompletedNorReplayed) {
  Fixture f;
  PendingAccess waiter;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.read(1), &waiter), Status::kOk);
  f.serve(/*answer=*/false);
  f.pages.state->done_seq = 1;
  f.channel.forget(&waiter);
  EXPECT_EQ(f.channel.reset_for_restart(), 0u);
  f.channel.fail_all();
  EXPECT_FALSE(waiter.done.load());
}

TEST(Channel, AFailedChannelRefusesNewRequests) {
  Fixture f;
  PendingAccess waiter;
  SpinLockGuard guard(f.channel.lock);
  f.channel.fail_all();
  EXPECT_TRUE(f.channel.failed());
  EXPECT_EQ(f.channel.push(f.read(1), &waiter), Status::kNotFound);
  EXPECT_EQ(f.channel.push(f.posted_write(1, 1), nullptr), Status::kNotFound);
  EXPECT_EQ(f.channel.outstanding(), 0u);
}

TEST(Channel, TakingAnswersCountsTheWaitersCompletedAndALogLineSendsTheEvent) {
  arch::fake::reset();
  Fixture f;
  PendingAccess first;
  PendingAccess second;
  SpinLockGuard guard(f.channel.lock);
  ASSERT_EQ(f.channel.push(f.read(1), &first), Status::kOk);
  ASSERT_EQ(f.channel.push(f.posted_write(0, 1), nullptr), Status::kOk);
  ASSERT_EQ(f.channel.push(f.read(2), &second), Status::kOk);
  f.serve();
  // The run loop decides by this count whether anyone but the vCPU it
  // switched from needs waking.
  auto completed = f.channel.take_responses();
  ASSERT_TRUE(completed.ok());
  EXPECT_EQ(*completed, 2u);
  EXPECT_TRUE(first.done.load());
  EXPECT_TRUE(second.done.load());
  const uint64_t before = arch::fake::events_sent();
  EXPECT_TRUE(f.channel.push_log("x", 1));
  EXPECT_GT(arch::fake::events_sent(), before);
}

}  // namespace
}  // namespace hyp
