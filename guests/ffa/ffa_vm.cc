// The two VMs of //tests:ffa_test, one image: FF-A ID 0x10 checks, 0x20 is
// its peer. The checker discovers the partitions, sends direct requests to
// the echo server (//guests/ffa:echo_server, ID 0x30) and to its peer,
// exchanges indirect messages with the peer and sets it a notification, and
// gets the spec's error for each misuse. The peer waits for messages with
// FFA_MSG_WAIT, woken by requests and by the notification pending interrupt
// (an SGI its GIC delivers): it answers requests (the payload doubled),
// answers each message with one of its own, and reports notifications.
#include <cstdint>
#include <cstring>

#include "ffa/abi.h"
#include "guests/lib/check.h"
#include "guests/lib/ffa.h"
#include "guests/lib/gic.h"
#include "runtime/runtime.h"

namespace {

namespace f = hyp::ffa;
using guest::check;
using guest::ffa::call;
using guest::ffa::code;
using guest::ffa::error;
using guest::ffa::Regs;
using guest::ffa::succeeded;

constexpr uint16_t kChecker = 0x10;
constexpr uint16_t kPeer = 0x20;
constexpr uint16_t kEcho = 0x30;
constexpr char kEchoUuid[] = "6d1b4a52-1f0c-4e5d-9a83-2b7c0e6f4d19";
constexpr uint32_t kNotification = 5;
constexpr uint32_t kPendingSgi = 8;  // FFA_FEATURES(1) says which
constexpr uint64_t kQuit = 0xdead;

alignas(4096) uint8_t g_tx[4096];
alignas(4096) uint8_t g_rx[4096];

uint64_t addr(const void* p) { return reinterpret_cast<uint64_t>(p); }

bool equal(const char* a, const char* b) {
  for (; *a != '\0' && *a == *b; ++a, ++b) {
  }
  return *a == *b;
}

void sleep_us(uint64_t us) { rt::sleep_until(rt::read_counter() + rt::counter_frequency() / 1'000'000 * us); }

// Sends `text` to `to` through the TX buffer, retrying while the
// receiver's buffer is busy. The last answer.
Regs send_message(uint16_t self, uint16_t to, const char* text) {
  const f::MessageHeader h{.offset = f::kMessageHeaderSize1_1,
                           .sender = self,
                           .receiver = to,
                           .size = static_cast<uint32_t>(std::strlen(text))};
  f::write_message_header(h, g_tx);
  std::memcpy(g_tx + h.offset, text, h.size);
  Regs r;
  for (int i = 0; i < 2000; ++i) {
    r = call(f::kMsgSend2);
    if (error(r) != code(f::Error::kBusy)) break;
    sleep_us(100);
  }
  return r;
}

// The message in the RX buffer, as "sender: text" in `out`; false if the
// header does not parse.
bool read_message(uint16_t& sender, char* out, size_t out_size) {
  f::MessageHeader h;
  if (!f::parse_message_header(g_rx, sizeof(g_rx), h) || h.size >= out_size) return false;
  sender = h.sender;
  std::memcpy(out, g_rx + h.offset, h.size);
  out[h.size] = '\0';
  return true;
}

// Waits (polling, as the checker takes no interrupts) for a message in the
// RX buffer; copies it out and gives the buffer back.
bool wait_message(uint16_t self, uint16_t& sender, char* out, size_t out_size) {
  for (int i = 0; i < 20000; ++i) {
    const Regs r = call(f::kNotificationGet, f::pack_ids(0, self), f::kGetFromHypervisor);
    if (succeeded(r) && (r.x[7] & f::kFrameworkRxFull) != 0) {
      const bool ok = read_message(sender, out, out_size);
      (void)call(f::kRxRelease);
      return ok;
    }
    sleep_us(100);
  }
  return false;
}

// ---- The checker ---------------------------------------------------------------

void checker() {
  // Discovery.
  Regs r = call(f::kPartitionInfoGet);
  check(error(r) == code(f::Error::kBusy), "info_without_rx_buffer_busy", "x0 0x%lx w2 %d", r.x[0], error(r));
  r = call(f::kRxtxMap64, addr(g_tx) + 0x800, addr(g_rx), 1);
  check(error(r) == code(f::Error::kInvalidParameters), "unaligned_rxtx_refused", "%d", error(r));
  r = call(f::kRxtxMap64, 0x0900'0000, addr(g_rx), 1);
  check(error(r) == code(f::Error::kInvalidParameters), "unowned_rxtx_refused", "%d", error(r));
  r = call(f::kRxtxMap64, addr(g_tx), addr(g_tx), 1);
  check(error(r) == code(f::Error::kInvalidParameters), "one_page_for_both_refused", "%d", error(r));
  r = call(f::kRxtxMap64, addr(g_tx), addr(g_rx), 1);
  check(succeeded(r), "rxtx_mapped", "%d", error(r));
  r = call(f::kRxtxMap64, addr(g_tx), addr(g_rx), 1);
  check(error(r) == code(f::Error::kDenied), "second_rxtx_denied", "%d", error(r));

  r = call(f::kPartitionInfoGet);
  bool echo_found = false;
  bool peer_found = false;
  f::Uuid uuid;
  (void)f::parse_uuid(kEchoUuid, uuid);
  const uint64_t count = r.x[2];
  for (uint64_t i = 0; succeeded(r) && r.x[3] == f::kPartitionInfoSize && i < count; ++i) {
    const f::PartitionInfo p = f::read_partition_info(g_rx + i * f::kPartitionInfoSize, f::kPartitionInfoSize);
    if (p.id == kEcho) {
      echo_found = p.uuid == uuid && p.contexts == 1 && (p.properties & f::properties::kDirectReceive) != 0 &&
                   (p.properties & f::properties::kDirectSend) == 0 && (p.properties & f::properties::kAarch64) != 0 &&
                   (p.properties & f::properties::kIndirect) != 0;
    }
    if (p.id == kPeer) peer_found = (p.properties & f::properties::kDirectReceive) != 0;
  }
  check(succeeded(r) && count == 4 && echo_found && peer_found, "partitions_discovered",
        "x0 0x%lx count %lu size %lu echo %d peer %d", r.x[0], count, r.x[3], echo_found, peer_found);
  r = call(f::kPartitionInfoGet);
  check(error(r) == code(f::Error::kBusy), "full_rx_buffer_busy", "%d", error(r));
  check(succeeded(call(f::kRxRelease)), "rx_released", "-");
  r = call(f::kPartitionInfoGet, uuid.words[0], uuid.words[1], uuid.words[2], uuid.words[3]);
  const f::PartitionInfo by_uuid = f::read_partition_info(g_rx, f::kPartitionInfoSize);
  check(succeeded(r) && r.x[2] == 1 && by_uuid.id == kEcho, "found_by_uuid", "x0 0x%lx count %lu id 0x%x", r.x[0],
        r.x[2], by_uuid.id);
  (void)call(f::kRxRelease);

  // Direct requests to the echo server, in both conventions, once it waits
  // for them (it may not have run yet: BUSY until then).
  for (int i = 0; i < 2000; ++i) {
    r = call(f::kMsgSendDirectReq64, f::pack_ids(kChecker, kEcho), 0, 1);
    if (error(r) != code(f::Error::kBusy)) break;
    sleep_us(100);
  }
  bool echoed = true;
  for (uint64_t i = 0; i < 100 && echoed; ++i) {
    const bool wide = (i & 1) != 0;
    const uint64_t base = wide ? 0x1'0000'0000 * i : i;
    r = call(wide ? f::kMsgSendDirectReq64 : f::kMsgSendDirectReq32, f::pack_ids(kChecker, kEcho), 0, base,
             base + 1, base + 2, base + 3, base + 4);
    echoed = r.x[0] == (wide ? f::kMsgSendDirectResp64 : f::kMsgSendDirectResp32) &&
             r.x[1] == f::pack_ids(kEcho, kChecker) && r.x[3] == base + 1 && r.x[7] == base + 5;
  }
  check(echoed, "direct_requests_to_server", "x0 0x%lx x1 0x%lx x3 0x%lx", r.x[0], r.x[1], r.x[3]);

  // Misuse.
  r = call(f::kMsgSendDirectReq32, f::pack_ids(kChecker, 0x77));
  check(error(r) == code(f::Error::kInvalidParameters), "request_to_nobody_refused", "%d", error(r));
  r = call(f::kMsgSendDirectReq32, f::pack_ids(kChecker, kChecker));
  check(error(r) == code(f::Error::kInvalidParameters), "request_to_itself_refused", "%d", error(r));
  r = call(f::kMsgSendDirectReq32, f::pack_ids(kPeer, kEcho));
  check(error(r) == code(f::Error::kInvalidParameters), "forged_sender_refused", "%d", error(r));
  r = call(f::kMsgSendDirectResp32, f::pack_ids(kChecker, kEcho));
  check(error(r) == code(f::Error::kDenied), "response_without_request_denied", "%d", error(r));
  r = call(f::kNotificationSet, f::pack_ids(kChecker, kPeer), 0, 1u << 6);
  check(error(r) == code(f::Error::kDenied), "unbound_notification_denied", "%d", error(r));
  r = call(f::kNotificationBind, f::pack_ids(kChecker, kPeer), 0, 1);
  check(error(r) == code(f::Error::kInvalidParameters), "binding_for_another_refused", "%d", error(r));

  // A direct request to the peer, a VM on another CPU, once it waits.
  for (int i = 0; i < 2000; ++i) {
    r = call(f::kMsgSendDirectReq64, f::pack_ids(kChecker, kPeer), 0, 21);
    if (error(r) != code(f::Error::kBusy)) break;
    sleep_us(100);
  }
  check(r.x[0] == f::kMsgSendDirectResp64 && r.x[1] == f::pack_ids(kPeer, kChecker) && r.x[3] == 42,
        "direct_request_between_vms", "x0 0x%lx x1 0x%lx x3 %lu", r.x[0], r.x[1], r.x[3]);

  // An indirect message to the peer, and its answer.
  r = send_message(kChecker, kPeer, "ping");
  check(succeeded(r), "message_sent", "%d", error(r));
  uint16_t from = 0;
  char text[64] = {};
  bool got = wait_message(kChecker, from, text, sizeof(text));
  check(got && from == kPeer && equal(text, "pong: ping"), "message_answered", "from 0x%x '%s'", from,
        text);

  // An indirect message to the server, which has no interrupts: the kernel
  // runs it for the message.
  r = send_message(kChecker, kEcho, "hello");
  check(succeeded(r), "message_to_server_sent", "%d", error(r));
  got = wait_message(kChecker, from, text, sizeof(text));
  check(got && from == kEcho && equal(text, "echo: hello"), "message_to_server_answered", "from 0x%x '%s'", from,
        text);

  // A message to the server and, before the server has run for it, a
  // direct request: the server answers the request first, and is run for
  // the message after.
  r = send_message(kChecker, kEcho, "first");
  const Regs direct = call(f::kMsgSendDirectReq64, f::pack_ids(kChecker, kEcho), 0, 7);
  got = wait_message(kChecker, from, text, sizeof(text));
  check(succeeded(r) && direct.x[0] == f::kMsgSendDirectResp64 && direct.x[3] == 8 && got && from == kEcho &&
            equal(text, "echo: first"),
        "message_then_request_to_server", "send %d, x0 0x%lx, from 0x%x '%s'", error(r), direct.x[0], from, text);

  // A notification the peer bound for this partition to set.
  r = call(f::kNotificationSet, f::pack_ids(kChecker, kPeer), 0, 1u << kNotification);
  check(succeeded(r), "notification_set", "%d", error(r));
  got = wait_message(kChecker, from, text, sizeof(text));
  check(got && from == kPeer && equal(text, "notified: 5"), "notification_delivered",
        "from 0x%x '%s'", from, text);

  // Done: the peer powers off instead of answering, and the request it
  // leaves unanswered fails.
  r = call(f::kMsgSendDirectReq64, f::pack_ids(kChecker, kPeer), 0, kQuit);
  check(error(r) == code(f::Error::kAborted), "request_to_stopping_peer_aborted", "x0 0x%lx w2 %d", r.x[0],
        error(r));
  guest::finish("ffa");
}

// ---- The peer ----------------------------------------------------------------------

volatile uint32_t g_pending_sgis = 0;

void peer() {
  guest::gic::init_distributor();
  guest::gic::init_cpu();
  Regs r = call(f::kFeatures, static_cast<uint32_t>(f::FeatureId::kNotificationPendingInterrupt));
  check(succeeded(r) && r.x[2] == kPendingSgi, "pending_interrupt_told", "x0 0x%lx x2 %lu", r.x[0], r.x[2]);
  guest::gic::enable_private(kPendingSgi, 0x80);
  check(succeeded(call(f::kRxtxMap64, addr(g_tx), addr(g_rx), 1)), "peer_rxtx_mapped", "-");
  r = call(f::kNotificationBind, f::pack_ids(kChecker, kPeer), 0, 1u << kNotification);
  check(succeeded(r), "notification_bound", "%d", error(r));
  r = call(f::kNotificationBind, f::pack_ids(kChecker, kPeer), 0, 1u << kNotification);
  check(error(r) == code(f::Error::kDenied), "second_bind_denied", "%d", error(r));

  uint32_t requests = 0;
  r = call(f::kMsgWait);
  for (;;) {
    if (r.x[0] == f::kMsgSendDirectReq64 || r.x[0] == f::kMsgSendDirectReq32) {
      ++requests;
      if (r.x[3] == kQuit) {
        // A response would wait for the next request: this one is left
        // unanswered, for the kernel to fail when the partition stops.
        check(requests == 2, "peer_served_every_request", "%u", requests);
        check(g_pending_sgis >= 2, "pending_interrupts_taken", "%u", g_pending_sgis);
        guest::finish("ffa peer");
        rt::power_off();
      }
      r = call(r.x[0] == f::kMsgSendDirectReq64 ? f::kMsgSendDirectResp64 : f::kMsgSendDirectResp32,
               f::pack_ids(kPeer, f::high_id(r.x[1])), 0, r.x[3] * 2);
      continue;
    }
    if (error(r) == code(f::Error::kInterrupted)) {
      // The pending interrupt: taken (and counted), then what is pending.
      guest::gic::irqs_on();
      guest::gic::irqs_off();
      const Regs n = call(f::kNotificationGet, f::pack_ids(0, kPeer), f::kGetFromVms | f::kGetFromHypervisor);
      if (succeeded(n) && (n.x[7] & f::kFrameworkRxFull) != 0) {
        uint16_t from = 0;
        char text[48] = {};
        char reply[64] = "pong: ";
        const bool ok = read_message(from, text, sizeof(text));
        (void)call(f::kRxRelease);
        if (ok) {
          std::memcpy(reply + 6, text, std::strlen(text) + 1);
          (void)send_message(kPeer, from, reply);
        }
      }
      if (succeeded(n) && ((n.x[4] >> kNotification) & 1) != 0) (void)send_message(kPeer, kChecker, "notified: 5");
    }
    r = call(f::kMsgWait);
  }
}

}  // namespace

// The peer's interrupts: the notification pending SGI, counted.
extern "C" void partition_irq(rt::ExceptionFrame* /*frame*/) {
  guest::gic::take_all([](uint32_t id) {
    if (id == kPendingSgi) g_pending_sgis = g_pending_sgis + 1;
  });
}

void partition_main(uint64_t /*dtb*/) {
  Regs r = call(f::kVersion, f::kVersion1_2);
  check(r.x[0] == f::kVersion1_2, "version_negotiated", "0x%lx", r.x[0]);
  r = call(f::kIdGet);
  const uint16_t id = static_cast<uint16_t>(r.x[2]);
  check(succeeded(r) && (id == kChecker || id == kPeer), "id_told", "x0 0x%lx id 0x%x", r.x[0], id);
  if (id == kPeer) {
    peer();
  } else {
    checker();
  }
}
