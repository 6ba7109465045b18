// A partition that answers FF-A direct requests in registers: each of the
// five payload words plus one, in the request's convention. It waits with
// FFA_MSG_WAIT, and every response waits for the next request. Run as a
// server or as a guest; as a guest, a request whose first word is kQuit
// powers it off instead of being answered. An indirect message (which, as
// a server, it learns of when its wait returns FFA_RUN) is answered with
// one of its own, "echo: " and the text. It also borrows and returns a
// shared page when asked (the bench's ffa_share_cycle), and reads, writes
// and describes the memory a requester's manifest granted it (its info
// page's grants; //tests:ffa_grant_test).
#include <cstdint>

#include "ffa/abi.h"
#include "ffa/memory.h"
#include "guests/lib/ffa.h"
#include "ipc/channel.h"
#include "runtime/runtime.h"

namespace f = hyp::ffa;
using guest::ffa::call;
using guest::ffa::Regs;

constexpr uint64_t kQuit = 0xdead;
// A request to take the page the requester shares with handle x4/x5 and
// give it straight back (FFA_MEM_RETRIEVE_REQ, then FFA_MEM_RELINQUISH):
// answered with x3 = 0, or the error of the call that failed.
constexpr uint64_t kBorrowAndReturn = 0x5e1f;  // the lowest command

// Requests about the memory the requester granted this server, by the
// requester's IPAs (x4); x3 of the answer is 0, or kNoGrant when x4 is not
// in a grant of the requester's.
constexpr uint64_t kGrantRead = 0x6a01;      // answers x4: the 8 bytes at x4
constexpr uint64_t kGrantWrite = 0x6a02;     // writes x5 at x4
constexpr uint64_t kGrantDescribe = 0x6a03;  // answers x4 handle, x5 ipa, x6 size, x7 window (x4 unused)
constexpr uint64_t kGrantRelinquish = 0x6a04;  // tries FFA_MEM_RELINQUISH of the grant: x3 its error
constexpr uint64_t kNoGrant = 0xffff;

alignas(4096) uint8_t g_tx[4096];
alignas(4096) uint8_t g_rx[4096];

// kBorrowAndReturn for a share from `from` with `handle`.
int64_t borrow_and_return(uint16_t self, uint16_t from, uint64_t handle) {
  f::Transaction t;
  t.sender = from;
  t.handle = handle;
  t.flags = f::transfer_flags(f::Transfer::kShare);
  f::Access a;
  a.receiver = self;
  a.permissions = f::encode_permissions(f::DataAccess::kReadWrite, f::InstructionAccess::kUnspecified);
  const uint32_t n = f::write_retrieve_request(t, a, g_tx);
  const Regs got = call(f::kMemRetrieveReq32, n, n);
  if (got.x[0] != f::kMemRetrieveResp) return guest::ffa::error(got) != 0 ? guest::ffa::error(got) : -1;
  (void)call(f::kRxRelease);
  f::write_relinquish({handle, 0, self}, g_tx);
  const Regs back = call(f::kMemRelinquish);
  if (back.x[0] == f::kSuccess32) return 0;
  return guest::ffa::error(back) != 0 ? guest::ffa::error(back) : -1;
}

// The kernel's info page (ipc/channel.h), at its IPA (the MMU is off).
const hyp::ipc::ServerInfo& info_page() {
  return *reinterpret_cast<const hyp::ipc::ServerInfo*>(hyp::ipc::kChannelIpa +
                                                         hyp::ipc::kInfoPage * hyp::ipc::kChannelPageSize);
}

// The grant of partition `from` that holds its [ipa, ipa + 8), or with
// `any` its first grant; null if none.
const hyp::ipc::Grant* grant_of(uint16_t from, uint64_t ipa, bool any) {
  const hyp::ipc::ServerInfo& info = info_page();
  for (uint32_t i = 0; i < info.grant_count && i < hyp::ipc::kMaxServerGrants; ++i) {
    const hyp::ipc::Grant& g = info.grants[i];
    if (g.client_id == from && (any || (ipa >= g.ipa && ipa - g.ipa <= g.size - 8))) return &g;
  }
  return nullptr;
}

// A kGrant* request from `from`: the answer's x3..x7.
[[gnu::noinline, gnu::cold]] void grant_request(uint16_t self, uint16_t from, const Regs& r, uint64_t out[5]) {
  const bool whole = r.x[3] == kGrantDescribe || r.x[3] == kGrantRelinquish;
  const uint64_t ipa = whole ? 0 : r.x[4];
  const hyp::ipc::Grant* g = grant_of(from, ipa, whole);
  if (g == nullptr || ipa % 8 != 0) {
    out[0] = kNoGrant;
    return;
  }
  auto* at = reinterpret_cast<volatile uint64_t*>(g->window + ipa);
  switch (r.x[3]) {
    case kGrantRead:
      out[1] = *at;
      break;
    case kGrantWrite:
      *at = r.x[5];
      break;
    case kGrantDescribe:
      out[1] = g->handle;
      out[2] = g->ipa;
      out[3] = g->size;
      out[4] = g->window;
      break;
    default: {
      f::write_relinquish({g->handle, 0, self}, g_tx);
      const Regs back = call(f::kMemRelinquish);
      out[0] = back.x[0] == f::kSuccess32 ? 0 : static_cast<uint64_t>(guest::ffa::error(back));
      break;
    }
  }
}

// The kernel's requests on the server's channel (ipc/channel.h): it has no
// devices, so it answers the lifecycle requests (a quiesce before a planned
// restart) and refuses accesses, each marked done.
[[gnu::noinline, gnu::cold]] void serve_channel() {
  namespace ipc = hyp::ipc;
  auto* requests = reinterpret_cast<ipc::RequestRing*>(ipc::kChannelIpa + ipc::kRequestPage * ipc::kChannelPageSize);
  auto* responses =
      reinterpret_cast<ipc::ResponseRing*>(ipc::kChannelIpa + ipc::kResponsePage * ipc::kChannelPageSize);
  auto* state = reinterpret_cast<ipc::StateHeader*>(ipc::kChannelIpa + ipc::kStatePage * ipc::kChannelPageSize);
  ipc::RingConsumer<ipc::Request, ipc::kRingEntries> in(requests, requests->head.load(std::memory_order_relaxed));
  ipc::RingProducer<ipc::Response, ipc::kRingEntries> out(responses,
                                                          responses->tail.load(std::memory_order_relaxed));
  ipc::Request r{};
  while (in.pop(r) == ipc::RingStatus::kOk) {
    ipc::Response resp{};
    resp.seq = r.seq;
    const bool lifecycle = r.kind == ipc::RequestKind::kQuiesce || r.kind == ipc::RequestKind::kResume ||
                           r.kind == ipc::RequestKind::kReset;
    resp.status = lifecycle ? ipc::ResponseStatus::kOk : ipc::ResponseStatus::kNoDevice;
    if ((r.flags & ipc::kRequestPosted) == 0) (void)out.push(resp);
    __atomic_store_n(&state->done_seq, r.seq, __ATOMIC_RELEASE);
  }
}

// Says at start what memory it was granted, and whether an arm64 Image
// (Linux) lies in it: its header's magic at offset 0x38 of a 2 MiB-aligned
// address, where the packer places Images.
[[gnu::noinline, gnu::cold]] void describe_grants() {
  namespace ipc = hyp::ipc;
  const ipc::ServerInfo& info = info_page();
  constexpr uint64_t k2M = 2ull << 20;
  for (uint32_t i = 0; i < info.grant_count && i < ipc::kMaxServerGrants; ++i) {
    const ipc::Grant& g = info.grants[i];
    uint64_t image = 0;
    for (uint64_t at = (g.ipa + k2M - 1) & ~(k2M - 1); image == 0 && at < g.ipa + g.size; at += k2M) {
      if (*reinterpret_cast<volatile uint32_t*>(g.window + at + 0x38) == 0x644d'5241) image = at;
    }
    // Under 126 characters: one line of the kernel's log ring.
    if (image != 0) {
      rt::print("echo: grant 0x%lx+0x%lx from %s (0x%lx) at 0x%lx; Image at 0x%lx\n", g.ipa, g.size, g.client,
                g.handle, g.window + g.ipa, image);
    } else {
      rt::print("echo: grant 0x%lx+0x%lx from %s (0x%lx) at 0x%lx\n", g.ipa, g.size, g.client, g.handle,
                g.window + g.ipa);
    }
  }
}

// A message in the RX buffer, if one came: answered, and the buffer given back.
void answer_message(uint16_t self) {
  const Regs n = call(f::kNotificationGet, f::pack_ids(0, self), f::kGetFromHypervisor);
  if (n.x[0] != f::kSuccess32 || (n.x[7] & f::kFrameworkRxFull) == 0) return;
  f::MessageHeader h;
  constexpr char kPrefix[] = "echo: ";
  constexpr uint32_t kPrefixSize = sizeof(kPrefix) - 1;
  const bool ok = f::parse_message_header(g_rx, sizeof(g_rx), h) && h.size <= 256;
  if (ok) {
    const f::MessageHeader reply{.offset = f::kMessageHeaderSize1_1,
                                 .sender = self,
                                 .receiver = h.sender,
                                 .size = kPrefixSize + h.size};
    f::write_message_header(reply, g_tx);
    for (uint32_t i = 0; i < kPrefixSize; ++i) g_tx[reply.offset + i] = static_cast<uint8_t>(kPrefix[i]);
    for (uint32_t i = 0; i < h.size; ++i) g_tx[reply.offset + kPrefixSize + i] = g_rx[h.offset + i];
  }
  (void)call(f::kRxRelease);
  if (ok) (void)call(f::kMsgSend2);
}

void partition_main(uint64_t /*dtb*/) {
  if (call(f::kVersion, f::kVersion1_2).x[0] != f::kVersion1_2) rt::print("echo: FF-A 1.2 refused\n");
  const uint16_t self = static_cast<uint16_t>(call(f::kIdGet).x[2]);
  describe_grants();
  (void)call(f::kRxtxMap64, reinterpret_cast<uint64_t>(g_tx), reinterpret_cast<uint64_t>(g_rx), 1);
  Regs r = call(f::kMsgWait, 0, f::kWaitRetainRx);
  for (;;) {
    if (r.x[0] != f::kMsgSendDirectReq32 && r.x[0] != f::kMsgSendDirectReq64) {
      serve_channel();
      answer_message(self);
      r = call(f::kMsgWait, 0, f::kWaitRetainRx);
      continue;
    }
    const bool wide = r.x[0] == f::kMsgSendDirectReq64;
    const uint32_t ids = f::pack_ids(f::low_id(r.x[1]), f::high_id(r.x[1]));
    // Commands are rare: one test keeps them off the echo's way.
    if (r.x[3] >= kBorrowAndReturn) [[unlikely]] {
      if (r.x[3] == kQuit) rt::power_off();
      if (r.x[3] == kBorrowAndReturn) {
        const int64_t e = borrow_and_return(self, f::high_id(r.x[1]), f::handle_of(r.x[4], r.x[5]));
        r = call(wide ? f::kMsgSendDirectResp64 : f::kMsgSendDirectResp32, ids, 0, static_cast<uint64_t>(e));
        continue;
      }
      if (r.x[3] >= kGrantRead && r.x[3] <= kGrantRelinquish) {
        uint64_t out[5] = {};
        grant_request(self, f::high_id(r.x[1]), r, out);
        r = call(wide ? f::kMsgSendDirectResp64 : f::kMsgSendDirectResp32, ids, 0, out[0], out[1], out[2], out[3],
                 out[4]);
        continue;
      }
    }
    r = call(wide ? f::kMsgSendDirectResp64 : f::kMsgSendDirectResp32, ids, 0, r.x[3] + 1, r.x[4] + 1, r.x[5] + 1,
             r.x[6] + 1, r.x[7] + 1);
  }
}
