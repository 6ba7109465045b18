// A device server that misbehaves on command, for regression tests of the
// kernel's run loop (tests/regressions): it serves simple register windows,
// and its command line makes it break its channel or crash.
//
// Command line (numbers only, as servers/lib's bootarg() reads them):
//   corrupt-head=1   once over the channel's life (a marker in the state
//                    page), after serving a read of kTrigger, publish an
//                    impossible request-ring head (tail + 1000) before waiting
//   corrupt-hold=US  with corrupt-head: keep running for US microseconds
//                    with the corrupt head published before waiting, so that
//                    guests on other CPUs push into the broken ring meanwhile
//   crash-always=1   every read and write faults on purpose before it is
//                    answered or recorded done, in every instance
//   stuck-once=1     once over the channel's life (a marker in the state
//                    page), a read of kTrigger never returns: the server
//                    loops without waiting, as a server with a bug would
//   owe-once=1       once, a read of kTrigger is taken and never answered:
//                    the server calls HYP_SERVER_WAIT over and over instead
//   idle-once=1      once, at start, the server calls HYP_SERVER_WAIT over
//                    and over without taking any request
//
// Each client gets one window (hostile_regs.h): identification, the
// answering instance's generation, the trigger, a scratch register kept in
// the state page, and a distinct pattern at every other offset.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "ipc/channel.h"
#include "ipc/hypercall.h"
#include "runtime/runtime.h"
#include "servers/hostile/hostile_regs.h"
#include "servers/lib/runtime.h"

namespace hyp::server {
namespace {

// What survives restarts, in the state page.
struct HostileState {
  uint64_t scratch[ipc::kMaxServerDevices];
  uint32_t corrupted;  // the one corruption corrupt-head asks for is done
  uint32_t stuck;      // the one misbehaviour stuck-once, owe-once or idle-once asks for has begun
};

template <typename T>
T* channel_page(uint64_t index) {
  return reinterpret_cast<T*>(ipc::kChannelIpa + index * ipc::kChannelPageSize);
}

// Like servers/lib's crash-every: an access to an IPA nothing backs, which
// the kernel answers with an abort the runtime treats as fatal (PSCI
// SYSTEM_RESET, a server failure). The request is then neither answered nor
// recorded done.
[[noreturn]] void crash_on_purpose() {
  log("failing on purpose (crash-always)");
  volatile auto* nowhere = reinterpret_cast<volatile uint64_t*>(0x7f00'0000);
  (void)*nowhere;
  for (;;) asm volatile("wfi");
}

void spin_us(uint64_t us) {
  const uint64_t ticks = us * rt::counter_frequency() / 1'000'000;
  const uint64_t start = rt::read_counter();
  while (rt::read_counter() - start < ticks) {
  }
}

class HostileServer;

class Window final : public MmioDevice {
 public:
  void bind(HostileServer* server, uint32_t index) {
    server_ = server;
    index_ = index;
  }
  uint64_t window() const override { return hostile::kWindow; }
  uint64_t read(uint64_t offset, unsigned width) override;
  void write(uint64_t offset, unsigned width, uint64_t value) override;
  void reset() override;

 private:
  HostileServer* server_ = nullptr;
  uint32_t index_ = 0;
};

class HostileServer final : public Server {
 public:
  void start(const ipc::ServerInfo& info, void* state, size_t state_size, bool resumed) override {
    static_assert(sizeof(HostileState) <= ipc::kChannelPageSize - sizeof(ipc::StateHeader));
    if (state_size < sizeof(HostileState)) rt::power_off();
    info_ = &info;
    state_ = resumed ? static_cast<HostileState*>(state) : new (state) HostileState{};
    generation_ = channel_page<const ipc::StateHeader>(ipc::kStatePage)->generation;
    uint64_t v = 0;
    corrupt_head_ = bootarg(info, "corrupt-head", v) && v != 0;
    hold_us_ = bootarg(info, "corrupt-hold", v) ? v : 0;
    crash_always_ = bootarg(info, "crash-always", v) && v != 0;
    stuck_once_ = bootarg(info, "stuck-once", v) && v != 0;
    owe_once_ = bootarg(info, "owe-once", v) && v != 0;
    if (bootarg(info, "idle-once", v) && v != 0 && state_->stuck == 0) {
      state_->stuck = 1;
      log("waiting without taking anything (idle-once)");
      for (;;) rt::hvc(abi::kHypServerWait);
    }
    for (uint32_t i = 0; i < ipc::kMaxServerDevices; ++i) windows_[i].bind(this, i);
    log("%s (generation %u, %u clients)", resumed ? "resumed" : "started", generation_, info.device_count);
  }

  MmioDevice* device(uint32_t index) override {
    return index < info_->device_count && index < ipc::kMaxServerDevices ? &windows_[index] : nullptr;
  }

  // After this turn's requests, before the runtime waits: the one place
  // where a published head stays as written until the kernel looks at it
  // (the runtime's next successful pop would publish its own head again).
  void poll() override {
    if (!armed_) return;
    armed_ = false;
    state_->corrupted = 1;
    auto* requests = channel_page<ipc::RequestRing>(ipc::kRequestPage);
    const uint32_t tail = requests->tail.load(std::memory_order_acquire);
    log("publishing request head %u with tail %u", tail + 1000, tail);
    requests->head.store(tail + 1000, std::memory_order_release);
    if (hold_us_ != 0) spin_us(hold_us_);
  }

  uint64_t read(uint32_t index, uint64_t offset) {
    if (crash_always_) crash_on_purpose();
    switch (offset) {
      case hostile::kMagic:
        return hostile::kMagicValue;
      case hostile::kGen:
        return generation_;
      case hostile::kTrigger:
        if (corrupt_head_ && state_->corrupted == 0) armed_ = true;
        if (owe_once_ && state_->stuck == 0) {
          state_->stuck = 1;
          log("waiting while owing an answer (owe-once)");
          for (;;) rt::hvc(abi::kHypServerWait);
        }
        if (stuck_once_ && state_->stuck == 0) {
          state_->stuck = 1;
          log("looping without waiting (stuck-once)");
          for (;;) asm volatile("" ::: "memory");
        }
        return hostile::kTriggerValue;
      case hostile::kScratch:
        return state_->scratch[index];
      default:
        return hostile::pattern(offset);
    }
  }

  void write(uint32_t index, uint64_t offset, uint64_t value) {
    if (crash_always_) crash_on_purpose();
    if (offset == hostile::kScratch) state_->scratch[index] = value;
  }

  void reset(uint32_t index) { state_->scratch[index] = 0; }

 private:
  const ipc::ServerInfo* info_ = nullptr;
  HostileState* state_ = nullptr;
  Window windows_[ipc::kMaxServerDevices];
  uint32_t generation_ = 0;
  bool corrupt_head_ = false;
  bool crash_always_ = false;
  bool stuck_once_ = false;
  bool owe_once_ = false;
  bool armed_ = false;
  uint64_t hold_us_ = 0;
};

// Registers are 64 bits wide: a narrower read returns the bytes at its
// offset within the register; a write stores the value it carries.
uint64_t Window::read(uint64_t offset, unsigned width) {
  const uint64_t v = server_->read(index_, offset & ~uint64_t{7}) >> (8 * (offset & 7));
  return width >= 8 ? v : v & ((uint64_t{1} << (8 * width)) - 1);
}

void Window::write(uint64_t offset, unsigned width, uint64_t value) {
  (void)width;
  server_->write(index_, offset, value);
}

void Window::reset() { server_->reset(index_); }

HostileServer g_server;

}  // namespace
}  // namespace hyp::server

void partition_main(uint64_t /*dtb*/) { hyp::server::run(hyp::server::g_server); }
