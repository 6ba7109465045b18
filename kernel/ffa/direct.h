// FF-A direct messages in the kernel (calls.h has the rest of FF-A): the
// calls' checks, a request's delivery and its response. Inline, because a
// device call's round trip is made of them: the run loop takes them
// straight from the exit (docs/ffa.md, "The fast path").
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/spinlock.h"
#include "ffa/abi.h"
#include "kernel/partition/partition.h"
#include "kernel/trap/dispatch.h"

namespace hyp {

// The partition with FF-A ID `id`, if any.
Partition* ffa_partition(uint16_t id);

// FFA_MSG_SEND_DIRECT_REQ or _RESP, either convention (SVE hint removed).
constexpr bool ffa_is_direct_message(uint32_t fid) {
  static_assert(ffa::kMsgSendDirectResp32 == ffa::kMsgSendDirectReq32 + 1);
  constexpr uint32_t kSmc64Bit = uint32_t{1} << 30;
  static_assert(ffa::kMsgSendDirectReq64 == (ffa::kMsgSendDirectReq32 | kSmc64Bit));
  static_assert(ffa::kMsgSendDirectResp64 == (ffa::kMsgSendDirectResp32 | kSmc64Bit));
  return (fid & ~kSmc64Bit) - ffa::kMsgSendDirectReq32 < 2;
}

// FFA_ERROR with `e` in w2, every other result register zero.
inline TrapAction ffa_refuse(Vcpu& v, ffa::Error e) {
  v.ctx.x[0] = ffa::kError;
  v.ctx.x[1] = 0;
  v.ctx.x[2] = ffa::error_word(e);
  for (size_t i = 3; i <= 7; ++i) v.ctx.x[i] = 0;
  return TrapAction::kResume;
}

// Whether `self`'s manifest lets it send direct requests to `receiver`
// (no list: to any partition that receives them).
inline bool ffa_may_send_to(const Partition& self, const Partition& receiver) {
  if (self.ffa.target_count == 0) return true;
  for (size_t i = 0; i < self.ffa.target_count; ++i) {
    if (self.ffa.targets[i] == receiver.id) return true;
  }
  return false;
}

// FFA_MSG_SEND_DIRECT_REQ/RESP (ffa_is_direct_message(fid)) from `v`,
// checked: kDirectRequest with the receiver's vCPU in direct.target,
// kDirectResponse, or kResume with the error in `v`'s registers.
[[gnu::always_inline]] inline TrapAction ffa_direct_message(Vcpu& v, uint32_t fid) {
  namespace prop = ffa::properties;
  Partition& self = *v.partition;
  FfaEndpoint& e = self.ffa;
  // Every version has direct messages; like every call but FFA_VERSION,
  // they need a version first, and fix it.
  if (!e.version_fixed.load(std::memory_order_relaxed)) [[unlikely]] {
    if (e.version.load(std::memory_order_relaxed) == 0) return ffa_refuse(v, ffa::Error::kNotSupported);
    e.version_fixed.store(true, std::memory_order_release);
  }
  // A response, only while serving a request, and to its sender.
  const bool response = (fid & 0xffff) == (ffa::kMsgSendDirectResp32 & 0xffff);
  if (response && v.direct.state.load(std::memory_order_acquire) != MsgState::kServing) {
    return ffa_refuse(v, ffa::Error::kDenied);
  }
  // w1: the sender's ID (bits 31:16) and the receiver's, nothing above for
  // SMC64. w2: flags, zero (framework messages are the kernel's to send).
  const uint64_t w1 = ffa::is_smc64(fid) ? v.ctx.x[1] : v.ctx.x[1] & 0xffff'ffff;
  const uint64_t w2 = ffa::is_smc64(fid) ? v.ctx.x[2] : v.ctx.x[2] & 0xffff'ffff;
  if ((w1 >> 32) != 0 || ffa::high_id(w1) != self.id || w2 != 0) {
    return ffa_refuse(v, ffa::Error::kInvalidParameters);
  }
  if (response) {
    if (ffa::low_id(w1) != v.direct.from_id) return ffa_refuse(v, ffa::Error::kInvalidParameters);
    return TrapAction::kDirectResponse;
  }
  const uint16_t to = ffa::low_id(w1);
  Partition* receiver = v.direct.last_receiver;
  if (receiver == nullptr || receiver->id != to) [[unlikely]] {
    receiver = to == self.id ? nullptr : ffa_partition(to);
    if (receiver == nullptr) return ffa_refuse(v, ffa::Error::kInvalidParameters);
    v.direct.last_receiver = receiver;
  }
  // A server cannot wait for an answer (it runs in others' place), and a
  // vCPU serving a request answers it before it asks anything (no cycles).
  if (self.kind != PartitionKind::kGuest || !e.does(prop::kDirectSend) ||
      !receiver->ffa.does(prop::kDirectReceive) || !ffa_may_send_to(self, *receiver) ||
      v.direct.state.load(std::memory_order_relaxed) == MsgState::kServing) {
    return ffa_refuse(v, ffa::Error::kDenied);
  }
  // A receiver with one vCPU takes every request on it; one with several,
  // on the vCPU with the sender's index.
  const size_t index = receiver->vcpu_count == 1 ? 0 : v.index;
  if (index >= receiver->vcpu_count) return ffa_refuse(v, ffa::Error::kInvalidParameters);
  v.direct.target = &receiver->vcpus[index];
  return TrapAction::kDirectRequest;
}

// A direct message's registers, from the vCPU that sent it to the one it
// goes to: the function ID, w1 (the IDs), w2 zero (no flags), and five
// payload words, of 32 bits unless in the SMC64 convention (`wide`).
inline void ffa_copy_message(VcpuContext& to, const VcpuContext& from, uint32_t fid, bool wide) {
  to.x[0] = fid;
  to.x[2] = 0;
  if (wide) {
    to.x[1] = from.x[1];
    for (size_t i = 3; i <= 7; ++i) to.x[i] = from.x[i];
  } else {
    to.x[1] = from.x[1] & 0xffff'ffff;
    for (size_t i = 3; i <= 7; ++i) to.x[i] = from.x[i] & 0xffff'ffff;
  }
}

// Gives `sender`'s request (its x0..x7 as it trapped, checked) to
// `receiver`, if the receiver waits for messages; false (nothing changed)
// if not. The sender then waits (VcpuWait::kDirect) for direct.ready.
[[gnu::always_inline]] inline bool ffa_deliver_request(Vcpu& sender, Vcpu& receiver) {
  // The sender's own number: it sends, so nothing answers it now (no lock).
  const uint64_t seq = sender.direct.seq.load(std::memory_order_relaxed) + 1;
  sender.direct.seq.store(seq, std::memory_order_relaxed);
  sender.direct.ready.store(false, std::memory_order_relaxed);
  MsgState expected = MsgState::kWaiting;
  if (!receiver.direct.state.compare_exchange_strong(expected, MsgState::kClaimed, std::memory_order_acq_rel)) {
    return false;
  }
  const uint32_t fid = static_cast<uint32_t>(sender.ctx.x[0]) & ~ffa::kSveHint;
  const bool wide = ffa::is_smc64(fid);
  ffa_copy_message(receiver.ctx, sender.ctx, fid, wide);
  receiver.direct.from = &sender;
  receiver.direct.from_id = sender.partition->id;
  receiver.direct.from_seq = seq;
  receiver.direct.from_wide = wide;
  receiver.direct.state.store(MsgState::kServing, std::memory_order_release);
  return true;
}

// Writes the answer to request `seq` of `q` with `write` (which fills its
// registers), if that is still the request `q` waits for. Whether it did.
template <typename Write>
[[gnu::always_inline]] inline bool ffa_answer(Vcpu& q, uint64_t seq, Write write) {
  SpinLockGuard guard(q.direct.lock);
  if (q.direct.seq.load(std::memory_order_relaxed) != seq || q.direct.ready.load(std::memory_order_relaxed)) {
    return false;
  }
  write(q.ctx);
  q.direct.ready.store(true, std::memory_order_release);
  return true;
}

// `r`'s response (its x0..x7, checked) becomes its requester's registers,
// if the requester still waits for it; `r` waits for messages again.
// Returns the requester, to be woken (null if none waits).
[[gnu::always_inline]] inline Vcpu* ffa_respond(Vcpu& r) {
  Vcpu* q = r.direct.from;
  const uint32_t fid = static_cast<uint32_t>(r.ctx.x[0]) & ~ffa::kSveHint;
  const bool wide = r.direct.from_wide && ffa::is_smc64(fid);
  const bool answered = q != nullptr && ffa_answer(*q, r.direct.from_seq, [&](VcpuContext& ctx) {
    ffa_copy_message(ctx, r.ctx, fid, wide);
  });
  r.direct.from = nullptr;
  // The response waits for the next message, as FFA_MSG_WAIT does.
  r.direct.state.store(MsgState::kWaiting, std::memory_order_release);
  return answered ? q : nullptr;
}

}  // namespace hyp
