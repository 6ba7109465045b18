// The UART server: the console multiplexer (console_mux.h) on the physical
// PL011 this server alone owns, served over its channel.
#include <cstddef>
#include <cstdint>

#include "ipc/hypercall.h"
#include "runtime/runtime.h"
#include "servers/control/kernel_backend.h"
#include "servers/lib/runtime.h"
#include "servers/uart/console_mux.h"
#include "servers/uart/pl011.h"

namespace hyp::server {
namespace {

// The physical PL011: output polled, input read when its interrupt (which
// the kernel hands this server) says so, and at every turn. A server given
// no device memory has no console: its output goes nowhere and no input
// comes.
class PhysicalUart final : public Wire {
 public:
  void attach(uint64_t base) { regs_ = reinterpret_cast<volatile uint32_t*>(base); }

  // Receive interrupts on while input can be taken, off while it cannot
  // (its line would stay up, and this server would run for nothing); the
  // receive timeout's interrupt cleared once bytes were taken. Only bytes
  // taken can end the room there was, so while listening with none taken
  // there is nothing to do. The receive interrupt itself is never cleared
  // here: it ends as the FIFO is read empty, and QEMU's PL011 raises it
  // only as its FIFO goes from empty to one byte, so a clear racing with a
  // byte that just arrived would leave that byte without an interrupt
  // (with the monitor open nothing else runs this server: input stopped).
  // A byte that arrives after the timeout's clear raises the receive
  // interrupt (the FIFO goes from empty to one byte), which stays up.
  template <typename Room>
  void listen(Room room) {
    if (regs_ == nullptr || (listening_ && !took_)) return;
    constexpr uint32_t kRx = Pl011::kIntRx | Pl011::kIntRxTimeout;
    if (took_) regs_[Pl011::kIcr / 4] = Pl011::kIntRxTimeout;
    took_ = false;
    const bool on = room();
    if (on != listening_) regs_[Pl011::kImsc / 4] = on ? kRx : 0;
    listening_ = on;
  }

  void put(char c) override {
    if (regs_ == nullptr) return;
    while ((regs_[Pl011::kFr / 4] & Pl011::kFrTxff) != 0) {
    }
    regs_[Pl011::kDr / 4] = static_cast<uint8_t>(c);
  }

  bool get(uint8_t& byte) override {
    if (regs_ == nullptr || (regs_[Pl011::kFr / 4] & Pl011::kFrRxfe) != 0) return false;
    byte = static_cast<uint8_t>(regs_[Pl011::kDr / 4]);
    took_ = true;
    return true;
  }

 private:
  volatile uint32_t* regs_ = nullptr;
  bool listening_ = false;
  bool took_ = true;  // clear whatever an earlier instance left
};

class UartServer final : public Server {
 public:
  void start(const ipc::ServerInfo& info, void* state, size_t state_size, bool resumed) override {
    static_assert(sizeof(ConsoleState) <= ipc::kChannelPageSize - sizeof(ipc::StateHeader));
    if (state_size < sizeof(ConsoleState)) rt::power_off();
    if (info.device_memory_count != 0) uart_.attach(info.device_memory_base[0]);
    uint64_t raw = 0;
    (void)bootarg(info, "console-raw", raw);
    mux_.start(info, static_cast<ConsoleState*>(state), resumed, &uart_, &control_, raw != 0);
    // The devices with an interrupt line: told again at the first turn.
    lines_ = 0;
    for (uint32_t d = 0; d < info.device_count && d < ipc::kMaxServerDevices; ++d) {
      const Pl011* u = mux_.uart(d);
      if (info.device_irq[d] != 0 && u != nullptr) line_[lines_++] = {u, d, info.device_irq[d], false, false};
    }
    log("%s (%u clients)", resumed ? "resumed" : "started", info.device_count);
  }

  MmioDevice* device(uint32_t index) override { return mux_.device(index); }

  // Input moved; then each guest's PL011 interrupt line, where the guest's
  // device has one, told to the kernel when it changed.
  void poll() override {
    mux_.poll();
    uart_.listen([this] { return mux_.wants_input(); });
    for (uint32_t i = 0; i < lines_; ++i) {
      Line& l = line_[i];
      const bool level = l.uart->interrupt();
      if (level == l.level && l.told) continue;
      const auto op = level ? abi::irq::Op::kRaise : abi::irq::Op::kLower;
      if (rt::hvc5(abi::kHypIrqSignal, l.device, 0, l.irq, static_cast<uint64_t>(op)).x0 == 0) {
        l.level = level;
        l.told = true;
      }
    }
  }
  void log_line(const char* text, size_t length) override { mux_.log_line(text, length); }

 private:
  PhysicalUart uart_;
  ConsoleMux mux_;
  // The monitor's commands, with this server's control right (the
  // manifest's; none: every command that needs it is refused).
  control::KernelBackend control_;
  struct Line {
    const Pl011* uart;
    uint32_t device;
    uint32_t irq;
    bool level;  // as last told
    bool told;
  };
  Line line_[ipc::kMaxServerDevices] = {};
  uint32_t lines_ = 0;
};

UartServer g_server;

}  // namespace
}  // namespace hyp::server

void partition_main(uint64_t /*dtb*/) { hyp::server::run(hyp::server::g_server); }
