// The UART server: one PL011 (pl011.h) per client guest, multiplexed onto
// the physical PL011 it alone owns, with the kernel's log lines.
//
// Console format (docs/servers.md): every line on the physical console
// says where it comes from. Kernel lines carry their own "hyp: " prefix;
// a guest's output is written as it arrives, each line starting with
// "NAME| "; when another source prints while a guest's line is open, that
// line is ended first and continues later under its prefix again. Carriage
// returns from guests are dropped (every line ends with CR LF on the wire).
//
// Input goes to the first client's UART. Bytes move from the physical
// receive FIFO only while that UART has room, so input waits in QEMU (or
// the wire) rather than being dropped.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include "runtime/runtime.h"
#include "servers/lib/runtime.h"
#include "servers/uart/pl011.h"

namespace hyp::server {
namespace {

// The state that survives restarts, in the state page.
struct UartState {
  Pl011 uarts[ipc::kMaxServerDevices];
  int32_t open_line;  // the device whose line is open on the console, or -1
  uint32_t reserved;
};

class UartServer final : public Server {
 public:
  void start(const ipc::ServerInfo& info, void* state, size_t state_size, bool resumed) override {
    static_assert(sizeof(UartState) <= ipc::kChannelPageSize - sizeof(ipc::StateHeader));
    if (state_size < sizeof(UartState)) rt::power_off();
    info_ = &info;
    phys_ = reinterpret_cast<volatile uint32_t*>(info.device_memory_base);
    if (resumed) {
      // Same image, same addresses: the objects the last instance built are
      // valid as they are.
      state_ = static_cast<UartState*>(state);
      log("resumed (%u clients)", info.device_count);
    } else {
      state_ = new (state) UartState{};
      state_->open_line = -1;
      log("started (%u clients)", info.device_count);
    }
  }

  MmioDevice* device(uint32_t index) override {
    return index < info_->device_count && index < ipc::kMaxServerDevices ? &state_->uarts[index] : nullptr;
  }

  void poll() override {
    if (phys_ == nullptr) return;
    for (uint32_t i = 0; i < info_->device_count && i < ipc::kMaxServerDevices; ++i) {
      uint8_t bytes[Pl011::kFifoDepth];
      const size_t n = state_->uarts[i].drain(bytes, sizeof(bytes));
      for (size_t j = 0; j < n; ++j) guest_byte(i, bytes[j]);
    }
    if (info_->device_count == 0) return;
    Pl011& focus = state_->uarts[0];
    while ((phys_[Pl011::kFr / 4] & Pl011::kFrRxfe) == 0 && focus.receive_space() > 0) {
      (void)focus.receive(static_cast<uint8_t>(phys_[Pl011::kDr / 4]));
    }
  }

  void log_line(const char* text, size_t length) override {
    end_open_line();
    for (size_t i = 0; i < length; ++i) put(text[i]);
    put('\r');
    put('\n');
  }

 private:
  void put(char c) {
    while ((phys_[Pl011::kFr / 4] & Pl011::kFrTxff) != 0) {
    }
    phys_[Pl011::kDr / 4] = static_cast<uint8_t>(c);
  }

  void end_open_line() {
    if (state_->open_line < 0) return;
    put('\r');
    put('\n');
    state_->open_line = -1;
  }

  void guest_byte(uint32_t device, uint8_t byte) {
    if (byte == '\r') return;
    if (state_->open_line != static_cast<int32_t>(device)) {
      end_open_line();
      const char* name = info_->client[device];
      for (size_t i = 0; i < ipc::kMaxClientName && name[i] != '\0'; ++i) put(name[i]);
      put('|');
      put(' ');
      state_->open_line = static_cast<int32_t>(device);
    }
    if (byte == '\n') {
      put('\r');
      put('\n');
      state_->open_line = -1;
      return;
    }
    put(static_cast<char>(byte));
  }

  const ipc::ServerInfo* info_ = nullptr;
  volatile uint32_t* phys_ = nullptr;
  UartState* state_ = nullptr;
};

UartServer g_server;

}  // namespace
}  // namespace hyp::server

void partition_main(uint64_t /*dtb*/) { hyp::server::run(hyp::server::g_server); }
