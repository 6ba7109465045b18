// The two VMs of //tests:ffa_memory_test, one image: FF-A ID 0x10 owns
// pages and shares, lends and donates them to 0x20, its peer, which it
// drives with direct requests (retrieve this handle, relinquish it, touch
// that address, try this misuse). Both check what they see: each other's
// writes where the memory is shared or borrowed, a fault where it is not
// theirs to touch, and the spec's error, with nothing changed, for every
// invalid transition.
#include <cstdint>
#include <cstring>

#include "ffa/abi.h"
#include "ffa/memory.h"
#include "guests/lib/check.h"
#include "guests/lib/ffa.h"
#include "runtime/runtime.h"

namespace {

namespace f = hyp::ffa;
using guest::check;
using guest::ffa::call;
using guest::ffa::code;
using guest::ffa::error;
using guest::ffa::Regs;
using guest::ffa::succeeded;

constexpr uint16_t kOwner = 0x10;
constexpr uint16_t kPeer = 0x20;

// The peer's commands (x3 of a direct request), with x4/x5 the handle (or
// an address in x4) and x6 the transfer.
enum Command : uint64_t {
  kRetrieve = 1,     // answers: x3 error (0: done), x4 the window address, x5 the byte at it
  kRelinquish = 2,   // x3 error
  kTouch = 3,        // read x4: x3 1 if it faulted, x4 the byte
  kWrite = 4,        // write byte x5 at x4: x3 1 if it faulted
  kDonateBack = 5,   // donate the page at x4 (borrowed) to the owner: x3 error
  kQuit = 0xdead,
};

alignas(4096) uint8_t g_tx[4096];
alignas(4096) uint8_t g_rx[4096];
// The owner's pages to give (one each), and one never given.
alignas(4096) volatile uint8_t g_shared[4096];
alignas(4096) volatile uint8_t g_lent[4096];
alignas(4096) volatile uint8_t g_donated[4096];
alignas(4096) volatile uint8_t g_kept[2 * 4096];

uint64_t addr(const volatile void* p) { return reinterpret_cast<uint64_t>(p); }

// ---- Both -----------------------------------------------------------------------------

// Reads (or writes) one byte at `at`, catching a fault: whether it faulted.
bool touch(uint64_t at, uint8_t& value) {
  rt::arm_catch();
  value = *reinterpret_cast<volatile uint8_t*>(at);
  return rt::caught().taken;
}
bool poke(uint64_t at, uint8_t value) {
  rt::arm_catch();
  *reinterpret_cast<volatile uint8_t*>(at) = value;
  return rt::caught().taken;
}

// FFA_MEM_RETRIEVE_REQ as `self` of the owner's `handle` (all the data
// access there is, and instruction access `x`).
Regs retrieve(uint16_t self, uint64_t handle, f::Transfer transfer, f::InstructionAccess x) {
  f::Transaction t;
  t.sender = kOwner;
  t.handle = handle;
  t.flags = f::transfer_flags(transfer);
  f::Access a;
  a.receiver = self;
  a.permissions = f::encode_permissions(
      transfer == f::Transfer::kDonate ? f::DataAccess::kUnspecified : f::DataAccess::kReadWrite, x);
  const uint32_t n = f::write_retrieve_request(t, a, g_tx);
  return call(f::kMemRetrieveReq32, n, n);
}

// ---- The owner ----------------------------------------------------------------------------

// Sends [at, at + pages * 4 KiB) (and, if `second` is not 0, one page there)
// to the peer: the error, or 0 with the handle.
int32_t send(f::Transfer transfer, uint64_t at, uint32_t pages, uint64_t& handle, uint64_t second = 0,
             uint32_t second_pages = 1) {
  f::Transaction t;
  t.sender = kOwner;
  t.attributes = transfer == f::Transfer::kShare ? f::encode_attributes(f::kNormalMemory) : 0;
  f::Access a;
  a.receiver = kPeer;
  a.permissions = f::encode_permissions(transfer == f::Transfer::kDonate ? f::DataAccess::kUnspecified
                                                                          : f::DataAccess::kReadWrite,
                                        f::InstructionAccess::kUnspecified);
  const f::Range ranges[2] = {{at, pages}, {second, second_pages}};
  const uint32_t n = f::write_descriptor(t, &a, 1, ranges, second != 0 ? 2 : 1, g_tx, sizeof(g_tx));
  const uint32_t fid = transfer == f::Transfer::kShare ? f::kMemShare32
                       : transfer == f::Transfer::kLend ? f::kMemLend32
                                                        : f::kMemDonate32;
  const Regs r = call(fid, n, n);
  if (!succeeded(r)) return error(r);
  handle = f::handle_of(r.x[2], r.x[3]);
  return 0;
}

Regs ask(uint64_t command, uint64_t x4 = 0, uint64_t x5 = 0, uint64_t x6 = 0) {
  return call(f::kMsgSendDirectReq64, f::pack_ids(kOwner, kPeer), 0, command, x4, x5, x6);
}
Regs ask_retrieve(uint64_t handle, f::Transfer transfer) {
  return ask(kRetrieve, handle & 0xffff'ffff, handle >> 32, static_cast<uint64_t>(transfer));
}

void owner() {
  check(succeeded(call(f::kRxtxMap64, addr(g_tx), addr(g_rx), 1)), "owner_rxtx_mapped", "-");
  // The peer waits for requests once it has run, on the other CPU, which
  // may come late (QEMU runs each CPU on a host thread): BUSY until then.
  // Up to 20 s, a millisecond at a time.
  Regs r;
  for (int i = 0; i < 20000; ++i) {
    r = ask(kTouch, addr(g_rx));  // an address of the peer's own: answered 0
    if (r.x[0] == f::kMsgSendDirectResp64 || error(r) != code(f::Error::kBusy)) break;
    rt::sleep_until(rt::read_counter() + rt::counter_frequency() / 1000);
  }
  check(r.x[0] == f::kMsgSendDirectResp64, "peer_answers", "x0 0x%lx", r.x[0]);

  // Share: both see each other's writes; no reclaim while the peer holds it.
  uint64_t share = 0;
  g_shared[0] = 0x11;
  check(send(f::Transfer::kShare, addr(g_shared), 1, share) == 0, "shared", "-");
  check((share >> 63) == 1, "handle_is_the_hypervisors", "0x%lx", share);
  r = ask_retrieve(share, f::Transfer::kShare);
  const uint64_t window = r.x[4];
  check(r.x[3] == 0 && r.x[5] == 0x11, "peer_reads_the_share", "error %ld byte 0x%lx", static_cast<int64_t>(r.x[3]),
        r.x[5]);
  r = ask(kWrite, window + 1, 0xa5);
  check(r.x[3] == 0 && g_shared[1] == 0xa5, "owner_sees_the_peers_write", "fault %lu byte 0x%x", r.x[3],
        g_shared[1]);
  r = call(f::kMemReclaim, share & 0xffff'ffff, share >> 32);
  check(error(r) == code(f::Error::kDenied), "no_reclaim_while_retrieved", "%d", error(r));
  r = ask_retrieve(share, f::Transfer::kShare);
  check(static_cast<int32_t>(r.x[3]) == code(f::Error::kDenied), "no_second_retrieve", "%ld",
        static_cast<int64_t>(r.x[3]));
  uint64_t other = 0;
  check(send(f::Transfer::kShare, addr(g_shared), 1, other) == code(f::Error::kDenied), "no_double_share", "-");
  r = ask(kDonateBack, window);
  check(static_cast<int32_t>(r.x[3]) == code(f::Error::kDenied), "no_donating_a_borrowed_page", "%ld",
        static_cast<int64_t>(r.x[3]));
  check(ask(kRelinquish, share & 0xffff'ffff, share >> 32).x[3] == 0, "peer_relinquishes", "-");
  r = ask(kTouch, window);
  check(r.x[3] == 1, "relinquished_page_faults_for_the_peer", "fault %lu", r.x[3]);
  r = call(f::kMemReclaim, share & 0xffff'ffff, share >> 32);
  check(succeeded(r), "reclaimed", "%d", error(r));
  g_shared[2] = 0x33;
  check(g_shared[2] == 0x33 && g_shared[1] == 0xa5, "owner_has_it_back", "-");

  // Lend: the owner's access goes (a fault), the peer's comes and goes.
  uint64_t lend = 0;
  g_lent[0] = 0x22;
  check(send(f::Transfer::kLend, addr(g_lent), 1, lend) == 0, "lent", "-");
  uint8_t byte = 0;
  check(touch(addr(g_lent), byte), "a_lent_page_faults_for_its_owner", "-");
  r = ask_retrieve(lend, f::Transfer::kLend);
  check(r.x[3] == 0 && r.x[5] == 0x22, "peer_reads_the_loan", "error %ld byte 0x%lx", static_cast<int64_t>(r.x[3]),
        r.x[5]);
  const uint64_t lent_window = r.x[4];
  check(ask(kWrite, lent_window + 3, 0x5c).x[3] == 0, "peer_writes_the_loan", "-");
  check(ask(kRelinquish, lend & 0xffff'ffff, lend >> 32).x[3] == 0, "loan_relinquished", "-");
  check(succeeded(call(f::kMemReclaim, lend & 0xffff'ffff, lend >> 32)), "loan_reclaimed", "-");
  check(!touch(addr(g_lent) + 3, byte) && byte == 0x5c, "owner_reads_what_the_borrower_wrote", "byte 0x%x", byte);

  // Donate: the page is the peer's; the owner can neither touch nor reclaim it.
  uint64_t donate = 0;
  g_donated[0] = 0x44;
  check(send(f::Transfer::kDonate, addr(g_donated), 1, donate) == 0, "donated", "-");
  r = ask_retrieve(donate, f::Transfer::kDonate);
  check(r.x[3] == 0 && r.x[5] == 0x44, "peer_owns_the_donation", "error %ld byte 0x%lx",
        static_cast<int64_t>(r.x[3]), r.x[5]);
  check(touch(addr(g_donated), byte), "a_donated_page_is_gone_for_the_donor", "-");
  r = call(f::kMemReclaim, donate & 0xffff'ffff, donate >> 32);
  check(error(r) == code(f::Error::kInvalidParameters), "no_reclaim_of_a_taken_donation", "%d", error(r));

  // Misuse, each refused with nothing changed.
  uint64_t h = 0;
  check(send(f::Transfer::kShare, addr(g_kept), 2, h, addr(g_kept) + 4096) == code(f::Error::kInvalidParameters),
        "overlapping_ranges_refused", "-");
  check(send(f::Transfer::kShare, addr(g_kept) + 8, 1, h) == code(f::Error::kInvalidParameters),
        "unaligned_address_refused", "-");
  check(send(f::Transfer::kShare, addr(g_kept), 1, h, addr(g_donated)) == code(f::Error::kDenied),
        "a_page_not_owned_refused", "-");
  check(send(f::Transfer::kShare, addr(g_rx), 1, h) == code(f::Error::kDenied), "the_rx_buffer_refused", "-");
  r = ask_retrieve(f::kHandleHypervisor | 0x7fff'0007, f::Transfer::kShare);
  check(static_cast<int32_t>(r.x[3]) == code(f::Error::kInvalidParameters), "bad_handle_refused", "%ld",
        static_cast<int64_t>(r.x[3]));
  // A share to the peer that the owner tries to retrieve itself.
  check(send(f::Transfer::kShare, addr(g_kept), 1, h) == 0, "kept_shared", "-");
  r = retrieve(kOwner, h, f::Transfer::kShare, f::InstructionAccess::kUnspecified);
  check(error(r) == code(f::Error::kInvalidParameters), "wrong_receiver_refused", "%d", error(r));
  g_kept[5] = 0x66;
  check(g_kept[5] == 0x66 && !touch(addr(g_kept) + 4096, byte), "pages_unchanged_after_refusals", "-");
  check(succeeded(call(f::kMemReclaim, h & 0xffff'ffff, h >> 32)), "kept_reclaimed", "-");

  (void)call(f::kMsgSendDirectReq64, f::pack_ids(kOwner, kPeer), 0, kQuit);
  guest::finish("ffa memory");
  rt::power_off();
}

// ---- The peer ---------------------------------------------------------------------------

void peer() {
  check(succeeded(call(f::kRxtxMap64, addr(g_tx), addr(g_rx), 1)), "peer_rxtx_mapped", "-");
  Regs r = call(f::kMsgWait);
  for (;;) {
    if (r.x[0] != f::kMsgSendDirectReq64) {
      r = call(f::kMsgWait);
      continue;
    }
    uint64_t out[3] = {0, 0, 0};
    switch (r.x[3]) {
      case kRetrieve: {
        const uint64_t handle = f::handle_of(r.x[4], r.x[5]);
        const auto transfer = static_cast<f::Transfer>(r.x[6]);
        const Regs got = retrieve(kPeer, handle, transfer,
                                  transfer == f::Transfer::kShare ? f::InstructionAccess::kUnspecified
                                                                  : f::InstructionAccess::kNotExecutable);
        if (got.x[0] != f::kMemRetrieveResp) {
          out[0] = static_cast<uint64_t>(static_cast<int64_t>(error(got)));
          break;
        }
        // Where it is: the first range of the answer's composite.
        f::Transaction h;
        f::Access mine;
        f::Range range;
        if (f::read_transaction(g_rx, sizeof(g_rx), hyp::ffa::kVersion1_2, h) == f::kNoError &&
            f::read_access(g_rx, sizeof(g_rx), h, 0, mine) == f::kNoError &&
            f::read_range(g_rx, mine.composite_offset, 0, range) == f::kNoError) {
          uint8_t byte = 0;
          out[1] = range.address;
          out[2] = touch(range.address, byte) ? 0x100 : byte;
        } else {
          out[0] = 1;
        }
        (void)call(f::kRxRelease);
        break;
      }
      case kRelinquish: {
        f::write_relinquish({f::handle_of(r.x[4], r.x[5]), 0, kPeer}, g_tx);
        const Regs got = call(f::kMemRelinquish);
        out[0] = succeeded(got) ? 0 : static_cast<uint64_t>(static_cast<int64_t>(error(got)));
        break;
      }
      case kTouch: {
        uint8_t byte = 0;
        out[0] = touch(r.x[4], byte) ? 1 : 0;
        out[1] = byte;
        break;
      }
      case kWrite:
        out[0] = poke(r.x[4], static_cast<uint8_t>(r.x[5])) ? 1 : 0;
        break;
      case kDonateBack: {
        f::Transaction t;
        t.sender = kPeer;
        f::Access a;
        a.receiver = kOwner;
        const f::Range range{r.x[4], 1};
        const uint32_t n = f::write_descriptor(t, &a, 1, &range, 1, g_tx, sizeof(g_tx));
        const Regs got = call(f::kMemDonate32, n, n);
        out[0] = succeeded(got) ? 0 : static_cast<uint64_t>(static_cast<int64_t>(error(got)));
        break;
      }
      case kQuit:
        guest::finish("ffa memory peer");
        rt::power_off();
      default:
        out[0] = 1;
        break;
    }
    r = call(f::kMsgSendDirectResp64, f::pack_ids(kPeer, kOwner), 0, out[0], out[1], out[2]);
  }
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  Regs r = call(f::kVersion, f::kVersion1_2);
  check(r.x[0] == f::kVersion1_2, "version_negotiated", "0x%lx", r.x[0]);
  const uint16_t id = static_cast<uint16_t>(call(f::kIdGet).x[2]);
  if (id == kPeer) {
    peer();
  } else {
    owner();
  }
}
