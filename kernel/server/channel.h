// The kernel's side of a device server's channel (ipc/channel.h): the
// request producer with a private copy of every request not yet known done
// (for replay after a crash), the response consumer that matches answers to
// waiting vCPUs by sequence number, and the log producer. Every index and
// number read from the shared pages is checked; a server that corrupts them
// is reported as kCorrupt and restarted, never followed.
//
// Queueing a log line sends the CPU event (arch::send_event): an idle CPU
// may run the server for it. Completing a waiter wakes nobody by itself:
// the caller wakes the vCPUs whose answers came (kernel/run.cc).
//
// Host-testable against the arch fake. Callers hold `lock`.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/spinlock.h"
#include "base/status.h"
#include "base/thread_safety.h"
#include "ipc/channel.h"
#include "ipc/message.h"
#include "ipc/ring.h"

namespace hyp {

// What a vCPU waiting on a server gets back. Written by whichever CPU takes
// the response; `done` is published last (release) and read with acquire.
struct PendingAccess {
  uint64_t seq = 0;
  uint64_t value = 0;
  bool failed = false;  // the server failed: the access gets an external abort
  std::atomic<bool> done{false};
};

// The shared pages as the kernel sees them (kernel virtual addresses).
struct ChannelPages {
  ipc::RequestRing* requests;
  ipc::ResponseRing* responses;
  ipc::LogRing* log;
  ipc::ServerInfo* info;
  ipc::StateHeader* state;
};

// Lays out `pages` (kChannelPages zeroed pages, contiguous) as a channel.
ChannelPages channel_pages(void* pages);

class Channel {
 public:
  static constexpr uint32_t kEntries = ipc::kRingEntries;

  // Starts using `pages` (zeroed), with nothing queued or owed.
  void attach(ChannelPages pages) {
    pages_ = pages;
    slots_ = {};
    next_seq_ = 1;
    done_seq_ = 0;
    dropped_log_lines_ = 0;
    failed_ = false;
    done_high_ = 0;
    answers_taken_ = 0;
    waiting_slots_ = 0;
    completed_by_push_ = 0;
    requests_ = ipc::RingProducer<ipc::Request, kEntries>(pages.requests);
    responses_ = ipc::RingConsumer<ipc::Response, kEntries>(pages.responses);
    log_ = ipc::RingProducer<ipc::LogLine, ipc::kLogEntries>(pages.log);
  }

  // Queues a request, numbering it. `waiter` (may be null: posted writes,
  // lifecycle commands nobody waits for) is told the answer. kBusy when the
  // ring or the replay copy is full (run the server, then try again),
  // kCorrupt-like kAborted when the server broke the ring, kNotFound once
  // the channel has been failed (fail_all): nobody will ever answer.
  Status push(ipc::Request request, PendingAccess* waiter) HYP_REQUIRES(lock);

  // How many waiters push() completed since the last call (to make room it
  // takes the answers the server has published): their vCPUs may be
  // blocked, and the caller wakes them.
  uint32_t take_completed_by_push() HYP_REQUIRES(lock) {
    const uint32_t n = completed_by_push_;
    completed_by_push_ = 0;
    return n;
  }

  // Takes every response the server published, completing waiters. Returns
  // the number of waiters completed, or kAborted if the server published
  // nonsense.
  Result<uint32_t> take_responses() HYP_REQUIRES(lock);

  // Whether the server has requests or log lines it has not taken yet. A
  // head index the server could not have reached (past the tail, or more
  // than a ring behind it) is kCorrupt, never "work": the server is then
  // restarted rather than resumed forever.
  enum class Work : uint8_t { kNone, kPending, kCorrupt };
  Work work() const HYP_REQUIRES(lock);

  // Detaches `waiter` from every request it waits on (its vCPU was reset or
  // turned off): a late answer then completes nothing.
  void forget(const PendingAccess* waiter) HYP_REQUIRES(lock);

  // Queues a log line; false if the log ring is full (the line is counted
  // as dropped).
  bool push_log(const char* text, size_t length) HYP_REQUIRES(lock);
  uint32_t take_dropped_log_lines() HYP_REQUIRES(lock);
  // Copies out the oldest untaken log line, for the kernel printing them
  // itself (the server is gone, or the machine is going down).
  bool pop_log_for_kernel(ipc::LogLine& out) HYP_REQUIRES(lock);

  // Prepares the channel for a new instance of the server (the old one is
  // not running): takes the last answers, learns what the old instance
  // finished from the state page, empties the rings and queues again every
  // request after that, in order. Returns how many were queued again.
  uint32_t reset_for_restart() HYP_REQUIRES(lock);

  // Completes every waiter, with failure (`as_failure`: the server is
  // given up on) or with the value 0 (it is stopped), and forgets the
  // requests. Later pushes are refused (kNotFound) until reopen().
  void fail_all(bool as_failure = true) HYP_REQUIRES(lock);
  // A new instance after fail_all(): empty rings, nothing to replay, and
  // pushes accepted again; the log ring keeps its lines.
  void reopen() HYP_REQUIRES(lock) {
    failed_ = false;
    (void)reset_for_restart();
  }
  bool failed() const HYP_REQUIRES(lock) { return failed_; }

  // A value that changes whenever the server takes a request or a log
  // line, or the kernel takes an answer: a server that waits with work left
  // and no change since its last wait is not making progress.
  uint64_t progress_mark() const HYP_REQUIRES(lock);

  // Whether the server has taken (its request head is past) a request
  // someone waits on without answering it. A server may wait owing an
  // answer only while its response ring is full, that is, when the kernel
  // takes answers at that wait.
  bool owes_answer() const HYP_REQUIRES(lock);

  // The highest done_seq ever learned (done_seq() goes back when requests
  // are replayed): a crash that does not raise it made no progress.
  uint64_t done_high() const HYP_REQUIRES(lock) { return done_high_; }

  // Requests pushed and not known done.
  uint64_t outstanding() const HYP_REQUIRES(lock) { return next_seq_ - 1 - done_seq_; }
  uint64_t done_seq() const HYP_REQUIRES(lock) { return done_seq_; }
  uint64_t last_seq() const HYP_REQUIRES(lock) { return next_seq_ - 1; }

  const ChannelPages& pages() const { return pages_; }

  SpinLock lock;

 private:
  struct Slot {
    ipc::Request request;
    PendingAccess* waiter;
  };

  // Reads the server's done_seq, accepting only a value it could have
  // reached: no older than what is known, no newer than what was sent.
  void learn_done() HYP_REQUIRES(lock);
  // Whether the consumer index `head` of a ring whose tail is `tail` is one
  // a correct consumer could have published.
  static bool head_possible(uint32_t tail, uint32_t head, uint32_t capacity) { return tail - head <= capacity; }

  ChannelPages pages_{};
  ipc::RingProducer<ipc::Request, kEntries> requests_{nullptr};
  ipc::RingConsumer<ipc::Response, kEntries> responses_{nullptr};
  ipc::RingProducer<ipc::LogLine, ipc::kLogEntries> log_{nullptr};
  std::array<Slot, kEntries> slots_{};  // by seq % kEntries
  uint64_t next_seq_ = 1;
  uint64_t done_seq_ = 0;
  uint32_t dropped_log_lines_ = 0;
  bool failed_ = false;
  uint64_t done_high_ = 0;
  uint64_t answers_taken_ = 0;
  uint32_t waiting_slots_ = 0;  // slots whose waiter is set
  uint32_t completed_by_push_ = 0;
};

}  // namespace hyp
