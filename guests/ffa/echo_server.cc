// A partition that answers FF-A direct requests in registers: each of the
// five payload words plus one, in the request's convention. It waits with
// FFA_MSG_WAIT, and every response waits for the next request. Run as a
// server or as a guest; as a guest, a request whose first word is kQuit
// powers it off instead of being answered. An indirect message (which, as
// a server, it learns of when its wait returns FFA_RUN) is answered with
// one of its own, "echo: " and the text. It also borrows and returns a
// shared page when asked (the bench's ffa_share_cycle).
#include <cstdint>

#include "ffa/abi.h"
#include "ffa/memory.h"
#include "guests/lib/ffa.h"
#include "runtime/runtime.h"

namespace f = hyp::ffa;
using guest::ffa::call;
using guest::ffa::Regs;

constexpr uint64_t kQuit = 0xdead;
// A request to take the page the requester shares with handle x4/x5 and
// give it straight back (FFA_MEM_RETRIEVE_REQ, then FFA_MEM_RELINQUISH):
// answered with x3 = 0, or the error of the call that failed.
constexpr uint64_t kBorrowAndReturn = 0x5e1f;

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
  (void)call(f::kRxtxMap64, reinterpret_cast<uint64_t>(g_tx), reinterpret_cast<uint64_t>(g_rx), 1);
  Regs r = call(f::kMsgWait, 0, f::kWaitRetainRx);
  for (;;) {
    if (r.x[0] != f::kMsgSendDirectReq32 && r.x[0] != f::kMsgSendDirectReq64) {
      answer_message(self);
      r = call(f::kMsgWait, 0, f::kWaitRetainRx);
      continue;
    }
    if (r.x[3] == kQuit) rt::power_off();
    const bool wide = r.x[0] == f::kMsgSendDirectReq64;
    const uint32_t ids = f::pack_ids(f::low_id(r.x[1]), f::high_id(r.x[1]));
    if (r.x[3] == kBorrowAndReturn) {
      const int64_t e = borrow_and_return(self, f::high_id(r.x[1]), f::handle_of(r.x[4], r.x[5]));
      r = call(wide ? f::kMsgSendDirectResp64 : f::kMsgSendDirectResp32, ids, 0, static_cast<uint64_t>(e));
      continue;
    }
    r = call(wide ? f::kMsgSendDirectResp64 : f::kMsgSendDirectResp32, ids, 0, r.x[3] + 1, r.x[4] + 1, r.x[5] + 1,
             r.x[6] + 1, r.x[7] + 1);
  }
}
