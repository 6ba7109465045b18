// The guest of //tests:ffa_grant_test (docs/ffa.md, "Boot grants"): its
// manifest grants the echo server (FF-A ID 0x30) the upper half of its
// 8 MiB of RAM. It checks, asking the server with direct requests, that
// both see each other's writes there from the start; that neither can undo
// the grant, and the granted pages are neither given on nor used as FF-A
// buffers, while its other pages are shared as usual; that the grant is in
// place after a planned restart of the server; and, after it resets itself
// (a marker in granted memory, which a reset keeps, tells the two boots
// apart), that it is in place still, with the same handle and contents.
#include <cstdint>

#include "ffa/abi.h"
#include "ffa/memory.h"
#include "guests/lib/check.h"
#include "guests/lib/ffa.h"
#include "ipc/hypercall.h"
#include "ipc/psci.h"
#include "runtime/runtime.h"

namespace {

namespace f = hyp::ffa;
using guest::check;
using guest::ffa::call;
using guest::ffa::code;
using guest::ffa::error;
using guest::ffa::Regs;
using guest::ffa::succeeded;

constexpr uint16_t kSelf = 0x10;
constexpr uint16_t kServer = 0x30;

// The echo server's requests (guests/ffa/echo_server.cc).
constexpr uint64_t kBorrowAndReturn = 0x5e1f;
constexpr uint64_t kGrantRead = 0x6a01;
constexpr uint64_t kGrantWrite = 0x6a02;
constexpr uint64_t kGrantDescribe = 0x6a03;
constexpr uint64_t kGrantRelinquish = 0x6a04;
constexpr uint64_t kNoGrant = 0xffff;

// The grant, as //tests:ffa_grant_package makes it.
constexpr uint64_t kGrantBase = 0x4040'0000;
constexpr uint64_t kGrantSize = 0x40'0000;
// Words in granted memory that no image covers: the contents, and the
// marker of the second boot with the handle the first one saw.
constexpr uint64_t kSpot = kGrantBase + 0x10'0000;
constexpr uint64_t kMarker = kGrantBase + kGrantSize - 0x1000;
constexpr uint64_t kMarkerValue = 0x7365'7465'7365'7200;

alignas(4096) uint8_t g_tx[4096];
alignas(4096) uint8_t g_rx[4096];
alignas(4096) volatile uint8_t g_own[4096];  // not granted

volatile uint64_t& word(uint64_t ipa) { return *reinterpret_cast<volatile uint64_t*>(ipa); }
uint64_t addr(const volatile void* p) { return reinterpret_cast<uint64_t>(p); }

Regs ask(uint64_t command, uint64_t x4 = 0, uint64_t x5 = 0) {
  return call(f::kMsgSendDirectReq64, f::pack_ids(kSelf, kServer), 0, command, x4, x5);
}

// FFA_MEM_SHARE of one page at `at` with the server: the error, or 0 with
// the handle.
int32_t share(uint64_t at, uint64_t& handle) {
  f::Transaction t;
  t.sender = kSelf;
  t.attributes = f::encode_attributes(f::kNormalMemory);
  f::Access a;
  a.receiver = kServer;
  a.permissions = f::encode_permissions(f::DataAccess::kReadWrite, f::InstructionAccess::kUnspecified);
  const f::Range range{at, 1};
  const uint32_t n = f::write_descriptor(t, &a, 1, &range, 1, g_tx, sizeof(g_tx));
  const Regs r = call(f::kMemShare32, n, n);
  if (!succeeded(r)) return error(r);
  handle = f::handle_of(r.x[2], r.x[3]);
  return 0;
}

// The server's view of the grant: x3 0 and x4..x7 handle, ipa, size,
// window, as the kernel published them in its info page.
bool described(const Regs& d) {
  return d.x[0] == f::kMsgSendDirectResp64 && d.x[3] == 0 && (d.x[4] >> 63) == 1 && d.x[5] == kGrantBase &&
         d.x[6] == kGrantSize && d.x[7] >= (uint64_t{1} << 39);
}

// The server's first answer: BUSY until it has started and waits for
// requests, which may come late (QEMU runs each CPU on a host thread). Up
// to 20 s, a millisecond at a time.
Regs first_answer(uint64_t command) {
  Regs r;
  for (int i = 0; i < 20000; ++i) {
    r = ask(command);
    if (r.x[0] == f::kMsgSendDirectResp64 || error(r) != code(f::Error::kBusy)) break;
    rt::sleep_until(rt::read_counter() + rt::counter_frequency() / 1000);
  }
  return r;
}

void first_boot() {
  const Regs d = first_answer(kGrantDescribe);
  check(described(d), "server_holds_the_grant_from_the_start",
        "x0 0x%lx x2 0x%lx x3 0x%lx handle 0x%lx 0x%lx+0x%lx at 0x%lx", d.x[0], d.x[2], d.x[3], d.x[4], d.x[5], d.x[6],
        d.x[7]);
  const uint64_t handle = d.x[4];
  const uint64_t window = d.x[7];

  // Each sees the other's writes, at either end of the grant.
  word(kSpot) = 0x1122'3344'5566'7788;
  word(kGrantBase) = 0x0102'0304'0506'0708;
  word(kGrantBase + kGrantSize - 8) = 0x0807'0605'0403'0201;
  Regs r = ask(kGrantRead, kSpot);
  check(r.x[3] == 0 && r.x[4] == 0x1122'3344'5566'7788, "server_reads_the_guests_write", "x3 0x%lx x4 0x%lx", r.x[3],
        r.x[4]);
  check(ask(kGrantRead, kGrantBase).x[4] == 0x0102'0304'0506'0708 &&
            ask(kGrantRead, kGrantBase + kGrantSize - 8).x[4] == 0x0807'0605'0403'0201,
        "server_reads_both_ends", "-");
  r = ask(kGrantWrite, kSpot + 8, 0xfeed'f00d'cafe'beef);
  check(r.x[3] == 0 && word(kSpot + 8) == 0xfeed'f00d'cafe'beef, "guest_sees_the_servers_write", "x3 0x%lx word 0x%lx",
        r.x[3], word(kSpot + 8));
  check(ask(kGrantRead, kGrantBase - 8).x[3] == kNoGrant, "nothing_below_the_grant_is_published", "-");

  // Neither side undoes it, and its pages stay where they are.
  r = ask(kGrantRelinquish);
  check(static_cast<int32_t>(r.x[3]) == code(f::Error::kDenied), "server_cannot_relinquish_it", "%ld",
        static_cast<int64_t>(r.x[3]));
  r = call(f::kMemReclaim, handle & 0xffff'ffff, handle >> 32);
  check(error(r) == code(f::Error::kDenied), "guest_cannot_reclaim_it", "%d", error(r));
  r = call(f::kRxtxMap64, kGrantBase, kGrantBase + 0x1000, 1);
  check(error(r) == code(f::Error::kInvalidParameters), "no_buffers_in_granted_memory", "%d", error(r));
  check(succeeded(call(f::kRxtxMap64, addr(g_tx), addr(g_rx), 1)), "buffers_in_memory_of_its_own", "-");
  uint64_t h = 0;
  check(share(kSpot, h) == code(f::Error::kDenied), "granted_memory_not_shared_again", "-");
  // Its other memory is shared with the same server as usual.
  check(share(addr(g_own), h) == 0, "own_page_shared", "-");
  r = ask(kBorrowAndReturn, h & 0xffff'ffff, h >> 32);
  check(r.x[3] == 0, "server_borrows_and_returns_it", "%ld", static_cast<int64_t>(r.x[3]));
  check(succeeded(call(f::kMemReclaim, h & 0xffff'ffff, h >> 32)), "own_page_reclaimed", "-");

  // A planned restart of the server: its memory is wiped, the grant stays.
  check(rt::hvc(hyp::abi::kHypServerRestart, kServer).x0 == 0, "server_restarted", "-");
  const Regs again = first_answer(kGrantDescribe);
  check(described(again) && again.x[4] == handle && again.x[7] == window, "grant_kept_across_a_server_restart",
        "x0 0x%lx x2 0x%lx handle 0x%lx window 0x%lx", again.x[0], again.x[2], again.x[4], again.x[7]);
  r = ask(kGrantRead, kSpot);
  check(r.x[3] == 0 && r.x[4] == 0x1122'3344'5566'7788, "restarted_server_reads_the_same", "0x%lx", r.x[4]);

  word(kMarker) = kMarkerValue;
  word(kMarker + 8) = handle;
  word(kMarker + 16) = window;
  guest::finish("ffa grant, first boot");
  (void)rt::hvc(hyp::psci::kSystemReset);
}

void second_boot() {
  const uint64_t handle = word(kMarker + 8);
  const uint64_t window = word(kMarker + 16);
  word(kMarker) = 0;
  const Regs d = first_answer(kGrantDescribe);
  check(described(d) && d.x[4] == handle && d.x[7] == window, "grant_kept_across_a_guest_reset",
        "handle 0x%lx (was 0x%lx) window 0x%lx", d.x[4], handle, d.x[7]);
  Regs r = ask(kGrantRead, kSpot + 8);
  check(r.x[3] == 0 && r.x[4] == 0xfeed'f00d'cafe'beef, "server_reads_what_it_wrote_before_the_reset", "0x%lx",
        r.x[4]);
  word(kSpot + 16) = 0x5151'5151'5151'5151;
  r = ask(kGrantRead, kSpot + 16);
  check(r.x[4] == 0x5151'5151'5151'5151, "server_reads_the_reset_guests_write", "0x%lx", r.x[4]);
  r = call(f::kMemReclaim, handle & 0xffff'ffff, handle >> 32);
  check(error(r) == code(f::Error::kDenied), "reset_guest_cannot_reclaim_it", "%d", error(r));
  guest::finish("ffa grant, after reset");
  rt::power_off();
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  if (call(f::kVersion, f::kVersion1_2).x[0] != f::kVersion1_2) rt::print("grant: FF-A 1.2 refused\n");
  if (word(kMarker) == kMarkerValue) {
    second_boot();
  } else {
    first_boot();
  }
}
