// Exit-cost benchmarks, meant to run under QEMU's -icount shift=0,sleep=off
// on one CPU: virtual time then advances 1 ns per instruction executed,
// guest and hypervisor alike, so a duration read from the virtual counter
// is an instruction count. Each figure is averaged over kIterations and has
// the cost of the same loop without the operation subtracted.
#include <cstdint>

#include "ffa/abi.h"
#include "ffa/memory.h"
#include "guests/lib/ffa.h"
#include "guests/lib/uart.h"
#include "ipc/hypercall.h"
#include "runtime/runtime.h"

namespace {

constexpr uint64_t kIterations = 20000;

// Nanoseconds (= instructions under icount shift=0) for `ticks` of the counter.
uint64_t to_ns(uint64_t ticks) { return ticks * 1'000'000'000 / rt::counter_frequency(); }

// The UART server's partition ID (first in the bench package).
constexpr uint64_t kUartServerId = 1;

template <typename Body>
uint64_t measure(Body body, uint64_t iterations = kIterations) {
  const uint64_t start = rt::read_counter();
  for (uint64_t i = 0; i < iterations; ++i) body();
  return to_ns(rt::read_counter() - start);
}

void report(const char* name, uint64_t total_ns, uint64_t baseline_ns, uint64_t iterations = kIterations) {
  const uint64_t net = total_ns > baseline_ns ? total_ns - baseline_ns : 0;
  // Round to the nearest whole instruction.
  rt::print("figure %s: %lu instructions\n", name, (net + iterations / 2) / iterations);
}

// The partitions answering FF-A direct requests in the bench package: a
// server and a guest, both //guests/ffa:echo_server.
constexpr uint16_t kEchoServer = 0x30;
constexpr uint16_t kEchoGuest = 0x40;

// A direct request's registers set up, with or without the call itself.
template <bool kCall>
void direct_request(uint64_t w1) {
  register uint64_t x0 asm("x0") = hyp::ffa::kMsgSendDirectReq64;
  register uint64_t x1 asm("x1") = w1;
  register uint64_t x2 asm("x2") = 0;
  register uint64_t x3 asm("x3") = 1;
  register uint64_t x4 asm("x4") = 2;
  register uint64_t x5 asm("x5") = 3;
  register uint64_t x6 asm("x6") = 4;
  register uint64_t x7 asm("x7") = 5;
  if constexpr (kCall) {
    asm volatile("hvc #0"
                 : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(x6), "+r"(x7)
                 :
                 : "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "memory");
  } else {
    asm volatile(""
                 : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(x6), "+r"(x7)
                 :
                 : "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17", "memory");
  }
}

alignas(4096) uint8_t g_tx[4096];
alignas(4096) uint8_t g_rx[4096];
alignas(4096) uint8_t g_page[4096];

// ffa_share_cycle: one page shared with the echo server, which retrieves
// it and relinquishes it at once when asked (a direct request), then
// reclaimed. Minus one ffa_direct_msg round trip (the request that makes
// the server act), so that what is left is the four memory calls.
void share_cycle(uint16_t self) {
  namespace f = hyp::ffa;
  using guest::ffa::call;
  if (call(f::kRxtxMap64, reinterpret_cast<uint64_t>(g_tx), reinterpret_cast<uint64_t>(g_rx), 1).x[0] !=
      f::kSuccess32) {
    rt::print("bench: FFA_RXTX_MAP refused\n");
    return;
  }
  f::Transaction t;
  t.sender = self;
  t.attributes = f::encode_attributes(f::kNormalMemory);
  f::Access a;
  a.receiver = kEchoServer;
  a.permissions = f::encode_permissions(f::DataAccess::kReadWrite, f::InstructionAccess::kUnspecified);
  const f::Range range{reinterpret_cast<uint64_t>(g_page), 1};
  const uint32_t n = f::write_descriptor(t, &a, 1, &range, 1, g_tx, sizeof(g_tx));
  constexpr uint64_t kCycles = 2000;
  constexpr uint64_t kBorrowAndReturn = 0x5e1f;  // //guests/ffa:echo_server
  bool ok = true;
  const uint64_t cycles = measure(
      [&] {
        const guest::ffa::Regs shared = call(f::kMemShare32, n, n);
        const uint64_t handle = f::handle_of(shared.x[2], shared.x[3]);
        const guest::ffa::Regs done =
            call(f::kMsgSendDirectReq64, f::pack_ids(self, kEchoServer), 0, kBorrowAndReturn, shared.x[2], shared.x[3]);
        const guest::ffa::Regs back = call(f::kMemReclaim, handle & 0xffff'ffff, handle >> 32);
        ok = ok && shared.x[0] == f::kSuccess32 && done.x[3] == 0 && back.x[0] == f::kSuccess32;
      },
      kCycles);
  const uint64_t direct = measure([&] { direct_request<true>(f::pack_ids(self, kEchoServer)); }, kCycles);
  if (!ok) {
    rt::print("bench: a share cycle failed\n");
    return;
  }
  report("ffa_share_cycle", cycles, direct, kCycles);
}

// FF-A direct request/response round trips from this guest: to the echo
// server (which runs in this vCPU's place, on this CPU), and to the echo
// guest (a vCPU of its own on this CPU, which the scheduler switches to).
void ffa_figures() {
  namespace f = hyp::ffa;
  using guest::ffa::call;
  if (call(f::kVersion, f::kVersion1_2).x[0] != f::kVersion1_2) {
    rt::print("bench: FF-A 1.2 refused\n");
    return;
  }
  const uint16_t self = static_cast<uint16_t>(call(f::kIdGet).x[2]);
  // Both must answer before they are timed (the guest waits for messages
  // only once it has run).
  for (const uint16_t echo : {kEchoServer, kEchoGuest}) {
    guest::ffa::Regs r;
    for (int i = 0; i < 1000; ++i) {
      r = call(f::kMsgSendDirectReq64, f::pack_ids(self, echo), 0, 1);
      if (r.x[0] == f::kMsgSendDirectResp64) break;
      (void)call(f::kYield);
    }
    if (r.x[0] != f::kMsgSendDirectResp64 || r.x[3] != 2) {
      rt::print("bench: partition 0x%x does not answer (x0 0x%lx)\n", echo, r.x[0]);
      return;
    }
  }
  const uint64_t to_server = f::pack_ids(self, kEchoServer);
  const uint64_t to_guest = f::pack_ids(self, kEchoGuest);
  const uint64_t empty = measure([&] { direct_request<false>(to_server); });
  report("ffa_direct_msg", measure([&] { direct_request<true>(to_server); }), empty);
  report("ffa_direct_msg_vm", measure([&] { direct_request<true>(to_guest); }), empty);
  share_cycle(self);
  // The echo guest powers off (the run ends once every guest has).
  (void)call(f::kMsgSendDirectReq64, to_guest, 0, 0xdead);
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  rt::print("bench: %lu iterations each, counter at %lu Hz\n", kIterations, rt::counter_frequency());
  const uint64_t empty = measure([] {
    register uint64_t x0 asm("x0") = hyp::abi::kHypVersion;
    asm volatile("" : "+r"(x0)::"x1", "x2", "x3", "memory");
  });
  const uint64_t hypercall = measure([] {
    register uint64_t x0 asm("x0") = hyp::abi::kHypVersion;
    asm volatile("hvc #0" : "+r"(x0)::"x1", "x2", "x3", "memory");
  });
  report("hypercall", hypercall, empty);

  // A forwarded read: trap, request on the UART server's ring, switch to
  // the server on this CPU, its answer, switch back, completion.
  const uint64_t read = measure([] { (void)guest::uart::read(guest::uart::Regs::kIdBase); });
  report("mmio_read_server", read, empty);
  // A posted write: the guest goes on at once; the server takes the writes
  // in batches (when half its ring is full), which the average includes.
  const uint64_t write = measure([] { guest::uart::write(guest::uart::Regs::kImsc, 0); });
  report("mmio_write_posted", write, empty);
  // A planned restart as the guest sees it: the restart call returns once
  // the new instance has started, then one read; minus an ordinary read.
  constexpr uint64_t kRestarts = 50;
  const uint64_t restart = measure(
      [] {
        rt::hvc(hyp::abi::kHypServerRestart, kUartServerId);
        (void)guest::uart::read(guest::uart::Regs::kIdBase);
      },
      kRestarts);
  report("server_restart", restart, read * kRestarts / kIterations, kRestarts);
  ffa_figures();
  rt::print("bench: done\n");
}
