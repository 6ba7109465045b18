// The RTC server: a PL031 real-time clock (pl031.h) for each guest it
// serves, kept against the machine's own PL031, which this server alone
// owns (docs/adding-a-server.md walks through it). Each guest's clock
// reads the machine's time plus what the guest loaded; its match
// interrupt comes from the machine's PL031 match, which the server points
// at the earliest match any guest waits for. Everything a guest set is in
// the state page, so a restarted server reads the same time.
#include <cstddef>
#include <cstdint>
#include <new>

#include "ipc/hypercall.h"
#include "runtime/runtime.h"
#include "servers/lib/runtime.h"
#include "servers/rtc/pl031.h"

namespace hyp::server {
namespace {

constexpr uint32_t kMaxGuests = ipc::kMaxServerDevices;

// The machine's PL031, as the time the guests' clocks are kept against. It
// runs from reset (QEMU's counts the host's time from its start). Its one
// match serves every guest: the earliest match asked for.
class MachineRtc {
 public:
  void attach(uint64_t base) {
    regs_ = reinterpret_cast<volatile uint32_t*>(base);
    for (bool& a : armed_) a = false;
    if (regs_ != nullptr) regs_[Pl031::kImsc / 4] = 0;
  }
  uint32_t now() { return regs_ != nullptr ? regs_[Pl031::kDr / 4] : 0; }
  // Guest `guest`'s clock wants its match at `at` (or none).
  void arm(uint32_t guest, bool armed, uint32_t at) {
    armed_[guest] = armed;
    at_[guest] = at;
    program();
  }
  // Whether the match interrupt came (and clears it).
  bool take_match() {
    if (regs_ == nullptr || (regs_[Pl031::kRis / 4] & 1) == 0) return false;
    regs_[Pl031::kIcr / 4] = 1;
    return true;
  }

 private:
  // The machine's match at the earliest one armed.
  void program() {
    if (regs_ == nullptr) return;
    const uint32_t now_s = now();
    bool any = false;
    uint32_t earliest = 0;
    for (uint32_t i = 0; i < kMaxGuests; ++i) {
      if (!armed_[i]) continue;
      if (!any || static_cast<int32_t>(at_[i] - now_s) < static_cast<int32_t>(earliest - now_s)) earliest = at_[i];
      any = true;
    }
    regs_[Pl031::kImsc / 4] = 0;
    regs_[Pl031::kIcr / 4] = 1;
    if (!any) return;
    regs_[Pl031::kMr / 4] = earliest;
    regs_[Pl031::kImsc / 4] = 1;
  }

  volatile uint32_t* regs_ = nullptr;
  bool armed_[kMaxGuests] = {};
  uint32_t at_[kMaxGuests] = {};
};

// One guest's view of the machine's PL031: its time, and its share of the
// one match.
class GuestClock final : public Clock {
 public:
  void attach(MachineRtc& machine, uint32_t guest) {
    machine_ = &machine;
    guest_ = guest;
  }
  uint32_t now() override { return machine_->now(); }
  void arm(bool armed, uint32_t at) override { machine_->arm(guest_, armed, at); }

 private:
  MachineRtc* machine_ = nullptr;
  uint32_t guest_ = 0;
};

struct RtcState {
  Pl031 clocks[kMaxGuests];
};

class RtcServer final : public Server {
 public:
  void start(const ipc::ServerInfo& info, void* state, size_t state_size, bool resumed) override {
    static_assert(sizeof(RtcState) <= ipc::kChannelPageSize - sizeof(ipc::StateHeader));
    if (state_size < sizeof(RtcState)) rt::power_off();
    state_ = resumed ? static_cast<RtcState*>(state) : new (state) RtcState{};
    guests_ = info.device_count < kMaxGuests ? info.device_count : kMaxGuests;
    machine_.attach(info.device_memory_count != 0 ? info.device_memory_base[0] : 0);
    for (uint32_t i = 0; i < guests_; ++i) {
      clocks_[i].attach(machine_, i);
      state_->clocks[i].attach(&clocks_[i]);
      irq_[i] = info.device_irq[i];
      told_[i] = false;
    }
    log("%s: %u clocks on the machine's PL031 at 0x%lx, which reads %u", resumed ? "resumed" : "started", guests_,
        info.device_memory_count != 0 ? info.device_memory_base[0] : 0, machine_.now());
  }

  MmioDevice* device(uint32_t index) override {
    return index < guests_ ? &state_->clocks[index] : nullptr;
  }

  // A match came: each guest's clock looks whether it was its own. Then
  // each guest's interrupt line, told to the kernel when it changed.
  void poll() override {
    if (machine_.take_match()) {
      for (uint32_t i = 0; i < guests_; ++i) state_->clocks[i].matched();
    }
    for (uint32_t i = 0; i < guests_; ++i) {
      const bool level = state_->clocks[i].interrupt();
      if (irq_[i] == 0 || (told_[i] && level == level_[i])) continue;
      const auto op = level ? abi::irq::Op::kRaise : abi::irq::Op::kLower;
      if (rt::hvc6(abi::kHypIrqSignal, i, 0, irq_[i], static_cast<uint64_t>(op), current_request()).x0 == 0) {
        level_[i] = level;
        told_[i] = true;
      }
    }
  }

 private:
  MachineRtc machine_;
  GuestClock clocks_[kMaxGuests];
  RtcState* state_ = nullptr;
  uint32_t guests_ = 0;
  uint32_t irq_[kMaxGuests] = {};
  bool level_[kMaxGuests] = {};
  bool told_[kMaxGuests] = {};
};

constinit RtcServer g_server;

}  // namespace
}  // namespace hyp::server

void partition_main(uint64_t /*dtb*/) { hyp::server::run(hyp::server::g_server); }
