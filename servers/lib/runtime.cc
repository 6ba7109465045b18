#include "servers/lib/runtime.h"

#include <cstdarg>
#include <cstring>

#include "base/format.h"
#include "runtime/runtime.h"
#include "ipc/hypercall.h"
#include "ipc/message.h"
#include "ipc/psci.h"
#include "ipc/ring.h"

namespace hyp::server {
namespace {

// Stage 1: an identity map in 1 GiB blocks (40-bit VA, 4 KiB granule, a
// level-0 table over two level-1 tables). Stage 2 decides what exists;
// stage 1 only gives memory types: device for the first GiB (the UART's
// registers), normal write-back for RAM (executable) and for the channel
// (not), and normal write-back, not executable, for the windows where the
// kernel maps the guest memory granted to the server (2^39 and up), each
// whole GiB that holds part of a grant (docs/ffa.md, "Boot grants").
constexpr uint64_t kBlockValid = 0x1;
constexpr uint64_t kAttrDevice = 0 << 2;  // MAIR index 0: Device-nGnRnE
constexpr uint64_t kAttrNormal = 1 << 2;  // MAIR index 1: Normal write-back
constexpr uint64_t kInnerShareable = 3 << 8;
constexpr uint64_t kAccessFlag = 1 << 10;
constexpr uint64_t kExecuteNever = (1ull << 53) | (1ull << 54);
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kTableValid = 0x3;
constexpr uint64_t kVaLimit = 1ull << 40;

alignas(4096) uint64_t g_level0[512];
alignas(4096) uint64_t g_level1[512];       // VA 0 .. 512 GiB
alignas(4096) uint64_t g_level1_high[512];  // VA 512 GiB .. 1 TiB: grant windows

// Each GiB holding part of a grant, mapped before the server starts.
void map_grants(const ipc::ServerInfo& info) {
  for (uint32_t i = 0; i < info.grant_count && i < ipc::kMaxServerGrants; ++i) {
    const ipc::Grant& g = info.grants[i];
    const uint64_t start = g.window + g.ipa;
    if (g.size == 0 || start < kVaLimit / 2 || start >= kVaLimit || g.size > kVaLimit - start) continue;
    for (uint64_t gib = start / kGiB; gib <= (start + g.size - 1) / kGiB; ++gib) {
      g_level1_high[gib - 512] = gib * kGiB | kBlockValid | kAttrNormal | kInnerShareable | kAccessFlag | kExecuteNever;
    }
  }
  // New entries only (none was valid before): ordered before any use.
  asm volatile("dsb ishst\nisb" ::: "memory");
}

void enable_mmu() {
  g_level0[0] = reinterpret_cast<uint64_t>(g_level1) | kTableValid;
  g_level0[1] = reinterpret_cast<uint64_t>(g_level1_high) | kTableValid;
  g_level1[0] = 0 * kGiB | kBlockValid | kAttrDevice | kAccessFlag | kExecuteNever;
  g_level1[1] = 1 * kGiB | kBlockValid | kAttrNormal | kInnerShareable | kAccessFlag;
  g_level1[2] = 2 * kGiB | kBlockValid | kAttrNormal | kInnerShareable | kAccessFlag | kExecuteNever;
  constexpr uint64_t kMair = 0xffull << 8;  // index 0 = 0x00 device, index 1 = 0xff normal WB
  // TCR_EL1: T0SZ 24 (40-bit VA, walks from level 0), walks inner/outer
  // write-back and inner shareable, 4 KiB granule, TTBR1 walks disabled
  // (EPD1), 40-bit IPS.
  constexpr uint64_t kTcr = 24 | (1 << 8) | (1 << 10) | (3 << 12) | (1ull << 23) | (2ull << 32);
  // SCTLR_EL1: RES1 bits, M, C, I.
  constexpr uint64_t kSctlr = 0x30d0'0800 | (1 << 0) | (1 << 2) | (1 << 12);
  asm volatile(
      "msr mair_el1, %0\n"
      "msr tcr_el1, %1\n"
      "msr ttbr0_el1, %2\n"
      "dsb ish\n"
      "tlbi vmalle1\n"
      "dsb ish\n"
      "isb\n"
      "msr sctlr_el1, %3\n"
      "isb\n"
      :
      : "r"(kMair), "r"(kTcr), "r"(reinterpret_cast<uint64_t>(g_level0)), "r"(kSctlr)
      : "memory");
}

template <typename T>
T* channel_page(uint64_t index) {
  return reinterpret_cast<T*>(ipc::kChannelIpa + index * ipc::kChannelPageSize);
}

constexpr uint32_t kStateMagic = 0x54415453;  // "STAT"

void wait_for_work() { rt::hvc(abi::kHypServerWait); }

// Crash tests only: the server's command line may ask it to fail on
// purpose after every N requests, between applying a request and recording
// it as done (the worst moment: that request is applied twice).
[[noreturn]] void crash_on_purpose() { fail_on_purpose("crash-every"); }

uint64_t g_current_request = 0;

}  // namespace

void fail_on_purpose(const char* why) {
  log("failing on purpose (%s)", why);
  volatile auto* nowhere = reinterpret_cast<volatile uint64_t*>(0x7f00'0000);  // RAM IPA space, not mapped
  (void)*nowhere;
  for (;;) asm volatile("wfi");
}

namespace {

ipc::Response serve(Server& server, const ipc::Request& r) {
  ipc::Response resp{};
  resp.seq = r.seq;
  resp.status = ipc::ResponseStatus::kOk;
  if (!ipc::request_well_formed(r)) {
    resp.status = ipc::ResponseStatus::kBadRequest;
    return resp;
  }
  if (r.kind == ipc::RequestKind::kQuiesce) {
    server.quiesce();
    return resp;
  }
  if (r.kind == ipc::RequestKind::kResume) return resp;
  MmioDevice* dev = server.device(r.device);
  if (dev == nullptr) {
    resp.status = ipc::ResponseStatus::kNoDevice;
    return resp;
  }
  switch (r.kind) {
    case ipc::RequestKind::kRead:
    case ipc::RequestKind::kWrite:
      if (r.offset >= dev->window() || dev->window() - r.offset < r.width) {
        resp.status = ipc::ResponseStatus::kBadRequest;
      } else if (r.kind == ipc::RequestKind::kRead) {
        resp.data = dev->read(r.offset, r.width);
      } else {
        dev->write(r.offset, r.width, r.data);
      }
      break;
    case ipc::RequestKind::kReset:
      dev->reset();
      break;
    default:
      break;
  }
  return resp;
}

}  // namespace

uint64_t current_request() { return g_current_request; }

void log(const char* fmt, ...) {
  char buf[200];
  va_list args;
  va_start(args, fmt);
  size_t n = vformat(buf, sizeof(buf) - 1, fmt, args);
  va_end(args);
  if (n > sizeof(buf) - 2) n = sizeof(buf) - 2;
  buf[n++] = '\n';
  rt::hvc(abi::kHypDebugWrite, reinterpret_cast<uint64_t>(buf), n);
}

bool bootarg(const ipc::ServerInfo& info, const char* key, uint64_t& value) {
  const size_t key_len = std::strlen(key);
  const char* args = info.bootargs;
  const size_t len = strnlen(args, sizeof(info.bootargs));
  for (size_t i = 0; i + key_len < len; ++i) {
    if ((i != 0 && args[i - 1] != ' ') || std::memcmp(args + i, key, key_len) != 0 || args[i + key_len] != '=') {
      continue;
    }
    value = 0;
    for (size_t j = i + key_len + 1; j < len && args[j] >= '0' && args[j] <= '9'; ++j) {
      value = value * 10 + static_cast<uint64_t>(args[j] - '0');
    }
    return true;
  }
  return false;
}

[[noreturn]] void run(Server& server) {
  rt::set_unexpected_exceptions_fatal();
  enable_mmu();
  auto* requests = channel_page<ipc::RequestRing>(ipc::kRequestPage);
  auto* responses = channel_page<ipc::ResponseRing>(ipc::kResponsePage);
  auto* logs = channel_page<ipc::LogRing>(ipc::kLogPage);
  const auto* info = channel_page<const ipc::ServerInfo>(ipc::kInfoPage);
  auto* state = channel_page<ipc::StateHeader>(ipc::kStatePage);
  if (info->magic != ipc::kInfoMagic) {
    log("no channel information from the kernel");
    rt::hvc(psci::kSystemOff);
  }
  const bool resumed = state->magic == kStateMagic;
  if (!resumed) {
    std::memset(state, 0, ipc::kChannelPageSize);
    state->magic = kStateMagic;
  }
  ++state->generation;
  map_grants(*info);
  server.start(*info, state + 1, ipc::kChannelPageSize - sizeof(*state), resumed);
  uint64_t crash_every = 0;
  (void)bootarg(*info, "crash-every", crash_every);
  uint64_t handled = 0;

  ipc::RingConsumer<ipc::Request, ipc::kRingEntries> in(requests, requests->head.load(std::memory_order_relaxed));
  ipc::RingProducer<ipc::Response, ipc::kRingEntries> out(responses, responses->tail.load(std::memory_order_relaxed));
  ipc::RingConsumer<ipc::LogLine, ipc::kLogEntries> log_in(logs, logs->head.load(std::memory_order_relaxed));
  // Filled by each pop before it is read (a log line is 128 bytes, not
  // cleared on every turn of the loop).
  ipc::LogLine line;
  for (;;) {
    ipc::Request r{};
    bool quiesced = false;
    while (!quiesced && in.pop(r) == ipc::RingStatus::kOk) {
      g_current_request = r.seq;
      const ipc::Response resp = serve(server, r);
      g_current_request = 0;
      if ((r.flags & ipc::kRequestPosted) == 0) {
        // A full response ring empties when the kernel runs.
        while (out.push(resp) == ipc::RingStatus::kFull) wait_for_work();
      }
      if (crash_every != 0 && ++handled % crash_every == 0) crash_on_purpose();
      __atomic_store_n(&state->done_seq, r.seq, __ATOMIC_RELEASE);
      quiesced = r.kind == ipc::RequestKind::kQuiesce;
    }
    server.poll();
    while (log_in.pop(line) == ipc::RingStatus::kOk) {
      server.log_line(line.text, line.length < sizeof(line.text) ? line.length : sizeof(line.text));
    }
    wait_for_work();
  }
}

}  // namespace hyp::server
