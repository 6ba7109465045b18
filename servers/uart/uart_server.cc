// The UART server: the console multiplexer (console_mux.h) on the physical
// PL011 this server alone owns, served over its channel.
#include <cstddef>
#include <cstdint>

#include "runtime/runtime.h"
#include "servers/lib/runtime.h"
#include "servers/uart/console_mux.h"
#include "servers/uart/pl011.h"

namespace hyp::server {
namespace {

// The physical PL011, polled. A server given no device memory has no
// console: its output goes nowhere and no input comes.
class PhysicalUart final : public Wire {
 public:
  void attach(uint64_t base) { regs_ = reinterpret_cast<volatile uint32_t*>(base); }

  void put(char c) override {
    if (regs_ == nullptr) return;
    while ((regs_[Pl011::kFr / 4] & Pl011::kFrTxff) != 0) {
    }
    regs_[Pl011::kDr / 4] = static_cast<uint8_t>(c);
  }

  bool get(uint8_t& byte) override {
    if (regs_ == nullptr || (regs_[Pl011::kFr / 4] & Pl011::kFrRxfe) != 0) return false;
    byte = static_cast<uint8_t>(regs_[Pl011::kDr / 4]);
    return true;
  }

 private:
  volatile uint32_t* regs_ = nullptr;
};

class UartServer final : public Server {
 public:
  void start(const ipc::ServerInfo& info, void* state, size_t state_size, bool resumed) override {
    static_assert(sizeof(ConsoleState) <= ipc::kChannelPageSize - sizeof(ipc::StateHeader));
    if (state_size < sizeof(ConsoleState)) rt::power_off();
    if (info.device_memory_size != 0) uart_.attach(info.device_memory_base);
    mux_.start(info, static_cast<ConsoleState*>(state), resumed, &uart_);
    log("%s (%u clients)", resumed ? "resumed" : "started", info.device_count);
  }

  MmioDevice* device(uint32_t index) override { return mux_.device(index); }
  void poll() override { mux_.poll(); }
  void log_line(const char* text, size_t length) override { mux_.log_line(text, length); }

 private:
  PhysicalUart uart_;
  ConsoleMux mux_;
};

UartServer g_server;

}  // namespace
}  // namespace hyp::server

void partition_main(uint64_t /*dtb*/) { hyp::server::run(hyp::server::g_server); }
