#include "kernel/server/channel.h"

#include <cstring>

#include "kernel/arch/cpu.h"

namespace hyp {
namespace {

template <typename T>
T* page(void* base, uint64_t index) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + index * ipc::kChannelPageSize);
}

// The caller sends the event once it has completed all it will.
void complete(PendingAccess* w, uint64_t value, bool failed) {
  w->value = value;
  w->failed = failed;
  w->done.store(true, std::memory_order_release);  // pairs with the waiter's acquire
}

}  // namespace

ChannelPages channel_pages(void* pages) {
  return {
      page<ipc::RequestRing>(pages, ipc::kRequestPage), page<ipc::ResponseRing>(pages, ipc::kResponsePage),
      page<ipc::LogRing>(pages, ipc::kLogPage),         page<ipc::ServerInfo>(pages, ipc::kInfoPage),
      page<ipc::StateHeader>(pages, ipc::kStatePage),
  };
}

void Channel::learn_done() {
  const uint64_t seen = __atomic_load_n(&pages_.state->done_seq, __ATOMIC_ACQUIRE);
  if (seen > done_seq_ && seen < next_seq_) done_seq_ = seen;
  if (done_seq_ > done_high_) done_high_ = done_seq_;
}

uint64_t Channel::progress_mark() const {
  // Any change is progress: the server took requests or log lines (heads
  // move), or the kernel took answers. Heads only move forward while the
  // ring is sound, so the sum changes whenever one of them does.
  return (uint64_t{pages_.requests->head.load(std::memory_order_acquire)} << 32 |
          pages_.log->head.load(std::memory_order_acquire)) +
         answers_taken_;
}

Status Channel::push(ipc::Request request, PendingAccess* waiter) {
  if (failed_) return Status::kNotFound;
  // The slot is reused only once its request is done and its answer taken.
  Slot& slot = slots_[next_seq_ % kEntries];
  if (outstanding() >= kEntries || slot.waiter != nullptr) {
    const Result<uint32_t> completed = take_responses();
    if (!completed.ok()) return Status::kAborted;
    completed_by_push_ += *completed;
  }
  if (outstanding() >= kEntries || slot.waiter != nullptr) return Status::kBusy;
  request.seq = next_seq_;
  switch (requests_.push(request)) {
    case ipc::RingStatus::kOk:
      break;
    case ipc::RingStatus::kFull:
      return Status::kBusy;
    default:
      return Status::kAborted;
  }
  if (waiter != nullptr) {
    waiter->seq = request.seq;
    waiter->done.store(false, std::memory_order_relaxed);
  }
  slot = {request, waiter};
  if (waiter != nullptr) ++waiting_slots_;
  ++next_seq_;
  return Status::kOk;
}

Result<uint32_t> Channel::take_responses() {
  uint32_t taken = 0;
  uint32_t completed = 0;
  Status status = Status::kOk;
  ipc::Response r{};
  for (;;) {
    const ipc::RingStatus s = responses_.pop(r);
    if (s == ipc::RingStatus::kEmpty) break;
    // Only a request still outstanding can be answered.
    if (s != ipc::RingStatus::kOk || r.seq >= next_seq_ || next_seq_ - r.seq > kEntries) {
      status = Status::kAborted;
      break;
    }
    ++taken;
    // An answer repeated after a replay finds no waiter and is dropped; so
    // is one whose waiter has moved on to a newer request (its vCPU was
    // reset meanwhile and reuses the same PendingAccess).
    Slot& slot = slots_[r.seq % kEntries];
    if (slot.request.seq != r.seq || slot.waiter == nullptr) continue;
    PendingAccess* w = slot.waiter;
    slot.waiter = nullptr;
    --waiting_slots_;
    if (w->seq != r.seq) continue;
    complete(w, r.data, r.status != ipc::ResponseStatus::kOk);
    ++completed;
  }
  answers_taken_ += taken;
  if (status != Status::kOk) return status;
  learn_done();
  return completed;
}

Channel::Work Channel::work() const {
  const uint32_t requests_head = pages_.requests->head.load(std::memory_order_acquire);
  const uint32_t log_head = pages_.log->head.load(std::memory_order_acquire);
  if (!head_possible(requests_.tail(), requests_head, kEntries) ||
      !head_possible(log_.tail(), log_head, ipc::kLogEntries)) {
    return Work::kCorrupt;
  }
  return requests_head != requests_.tail() || log_head != log_.tail() ? Work::kPending : Work::kNone;
}

bool Channel::owes_answer() const {
  if (waiting_slots_ == 0) return false;  // the common case, at every wait
  const uint32_t head = pages_.requests->head.load(std::memory_order_acquire);
  const uint32_t untaken = requests_.tail() - head;
  if (untaken > kEntries) return false;  // corrupt: reported by work()
  const uint64_t first_untaken = next_seq_ - untaken;
  for (const Slot& slot : slots_) {
    if (slot.waiter != nullptr && slot.waiter->seq == slot.request.seq && slot.request.seq < first_untaken) {
      return true;
    }
  }
  return false;
}

void Channel::forget(const PendingAccess* waiter) {
  for (Slot& slot : slots_) {
    if (waiter != nullptr && slot.waiter == waiter) {
      slot.waiter = nullptr;
      --waiting_slots_;
    }
  }
}

bool Channel::push_log(const char* text, size_t length) {
  ipc::LogLine line{};
  line.length = static_cast<uint16_t>(length < sizeof(line.text) ? length : sizeof(line.text));
  std::memcpy(line.text, text, line.length);
  if (log_.push(line) == ipc::RingStatus::kOk) {
    arch::send_event();  // an idle CPU may start the console server for it
    return true;
  }
  ++dropped_log_lines_;
  return false;
}

uint32_t Channel::take_dropped_log_lines() {
  const uint32_t n = dropped_log_lines_;
  dropped_log_lines_ = 0;
  return n;
}

bool Channel::pop_log_for_kernel(ipc::LogLine& out) {
  // The server is not running: the kernel consumes in its place, starting
  // where the server stopped (if that index is possible at all).
  uint32_t head = pages_.log->head.load(std::memory_order_acquire);
  if (log_.tail() - head > ipc::kLogEntries) head = log_.tail();
  if (head == log_.tail()) return false;
  std::memcpy(&out, &pages_.log->entries[head % ipc::kLogEntries], sizeof(out));
  if (out.length > sizeof(out.text)) out.length = sizeof(out.text);
  pages_.log->head.store(head + 1, std::memory_order_release);
  return true;
}

uint32_t Channel::reset_for_restart() {
  (void)take_responses();  // answers the old instance gave before it stopped
  learn_done();
  // Empty rings, as a new instance expects: both indices back to zero.
  pages_.requests->head.store(0, std::memory_order_relaxed);
  pages_.requests->tail.store(0, std::memory_order_relaxed);
  pages_.responses->head.store(0, std::memory_order_relaxed);
  pages_.responses->tail.store(0, std::memory_order_relaxed);
  requests_ = ipc::RingProducer<ipc::Request, kEntries>(pages_.requests);
  responses_ = ipc::RingConsumer<ipc::Response, kEntries>(pages_.responses);
  // The log ring keeps its lines for the new instance, unless the old one
  // left an impossible head there: it would fail every later run. Its lines
  // are then dropped (and counted).
  const uint32_t log_head = pages_.log->head.load(std::memory_order_relaxed);
  if (!head_possible(log_.tail(), log_head, ipc::kLogEntries)) {
    pages_.log->head.store(log_.tail(), std::memory_order_relaxed);
    ++dropped_log_lines_;
  }
  // A request someone still waits on is replayed even if the old instance
  // claimed it done: its answer never came.
  uint64_t first = done_seq_ + 1;
  for (const Slot& slot : slots_) {
    if (slot.waiter != nullptr && slot.request.seq < first) first = slot.request.seq;
  }
  done_seq_ = first - 1;
  uint32_t queued = 0;
  for (uint64_t s = first; s < next_seq_; ++s) {
    // At most kEntries are outstanding (push() keeps it so): all fit.
    (void)requests_.push(slots_[s % kEntries].request);
    ++queued;
  }
  std::atomic_thread_fence(std::memory_order_release);
  return queued;
}

void Channel::fail_all(bool as_failure) {
  (void)take_responses();
  for (Slot& slot : slots_) {
    if (slot.waiter != nullptr && slot.waiter->seq == slot.request.seq) complete(slot.waiter, 0, as_failure);
    slot.waiter = nullptr;
  }
  waiting_slots_ = 0;
  done_seq_ = next_seq_ - 1;
  failed_ = true;
}

}  // namespace hyp
