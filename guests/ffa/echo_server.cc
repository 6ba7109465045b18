// A partition that answers FF-A direct requests in registers: each of the
// five payload words plus one, in the request's convention. It waits with
// FFA_MSG_WAIT, and every response waits for the next request. Run as a
// server or as a guest; as a guest, a request whose first word is kQuit
// powers it off instead of being answered.
#include <cstdint>

#include "ffa/abi.h"
#include "guests/lib/ffa.h"
#include "runtime/runtime.h"

namespace f = hyp::ffa;
using guest::ffa::call;
using guest::ffa::Regs;

constexpr uint64_t kQuit = 0xdead;

void partition_main(uint64_t /*dtb*/) {
  if (call(f::kVersion, f::kVersion1_2).x[0] != f::kVersion1_2) rt::print("echo: FF-A 1.2 refused\n");
  Regs r = call(f::kMsgWait);
  for (;;) {
    if (r.x[0] != f::kMsgSendDirectReq32 && r.x[0] != f::kMsgSendDirectReq64) {
      r = call(f::kMsgWait);
      continue;
    }
    if (r.x[3] == kQuit) rt::power_off();
    const bool wide = r.x[0] == f::kMsgSendDirectReq64;
    const uint32_t ids = f::pack_ids(f::low_id(r.x[1]), f::high_id(r.x[1]));
    r = call(wide ? f::kMsgSendDirectResp64 : f::kMsgSendDirectResp32, ids, 0, r.x[3] + 1, r.x[4] + 1, r.x[5] + 1,
             r.x[6] + 1, r.x[7] + 1);
  }
}
