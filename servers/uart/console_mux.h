// The UART server's work, apart from the server runtime: one PL011 model
// (pl011.h) per client guest, multiplexed with the kernel's log lines onto
// the one physical UART (a Wire). Host-testable: uart_server.cc gives it
// the real PL011's registers, tests a fake.
//
// Console format (docs/servers.md): every line on the physical console
// says where it comes from. Kernel lines carry their own "hyp: " prefix;
// a guest's output is written as it arrives, each line starting with
// "NAME| "; when another source prints while a guest's line is open, that
// line is ended first and continues later under its prefix again. Carriage
// returns from guests are dropped (every line ends with CR LF on the wire).
// In raw mode (the server's boot argument console-raw=1, which
// `bazel run //:qemu_guest` gives it for its sole guest) guests' bytes go
// out exactly as written, as on QEMU's own UART: no prefix, carriage
// returns kept. There a kernel line waits while a guest's line is open (up
// to kHeldLines of them, kept in the state page) and follows the guest's
// next line end, so that a guest's lines reach the console whole, as test
// software reading them expects; past that many the guest's line is ended
// for them, as in the other mode.
//
// Output: each client's UART is attached to the console (Pl011::attach),
// so a byte a guest writes to DR is on the wire, in order with everything
// else printed, once the server has applied the write: nothing waits in a
// FIFO for a later turn, and nothing is dropped when the guest does not
// poll FR.TXFF. The cost of a crash stays what docs/servers.md says: a
// write applied and not yet recorded done is applied again by the next
// instance, one doubled character, printed before that instance prints the
// report of the crash.
//
// Input goes to one client's UART, the focus (the first client's at the
// start). Bytes move from the physical receive FIFO while that UART has
// room (one more is held when it has none), so input waits in QEMU (or the
// wire) rather than being dropped.
//
// The monitor (docs/control.md): the escape key, Ctrl-] (kEscape), opens
// a `hyp> ` prompt on the console instead of passing the byte on. Lines
// typed there are control commands (servers/control/commands.h), run with
// this server's control right through `backend`; `console NAME` moves the
// focus to another client; Ctrl-] or `exit` gives input back. Guests go on
// meanwhile: their output still reaches the console, and the prompt is
// printed again under it at the next key.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ipc/channel.h"
#include "servers/control/commands.h"
#include "servers/lib/mmio_device.h"
#include "servers/uart/pl011.h"

namespace hyp::server {

// The physical UART as the multiplexer uses it.
class Wire {
 public:
  // Sends one byte, waiting for room if the UART has none.
  virtual void put(char c) = 0;
  // Takes one received byte if there is one.
  virtual bool get(uint8_t& byte) = 0;

 protected:
  ~Wire() = default;
};

// What survives a restart of the server: it lives in the state page.
inline constexpr uint32_t kHeldLines = 6;

// The monitor's escape key: Ctrl-] (QEMU's -nographic takes Ctrl-A).
inline constexpr uint8_t kEscape = 0x1d;

struct MonitorState {
  uint32_t open;     // the monitor has the console's input
  uint32_t focus;    // the client whose UART input goes to
  uint32_t pending;  // 1: `byte` came for the focus, which had no room
  uint8_t byte;
  uint8_t last;      // the last key taken by the monitor (a CR LF pair is one line end)
  uint16_t length;   // of `line`
  char line[control::kMaxLine];
};

struct ConsoleState {
  Pl011 uarts[ipc::kMaxServerDevices];
  int32_t open_line;  // the device whose line is open on the console, or -1
  uint32_t held_count;  // raw mode: kernel lines waiting for the open line's end
  ipc::LogLine held[kHeldLines];
  MonitorState monitor;
};

class ConsoleMux {
 public:
  ConsoleMux() = default;
  // The UARTs point at this object's ports.
  ConsoleMux(const ConsoleMux&) = delete;
  ConsoleMux& operator=(const ConsoleMux&) = delete;

  // At each start of the server. `state` is zeroed at the first start and
  // as the last instance left it after a restart (`resumed`): the same image
  // runs again, so the objects there are valid as they are.
  void start(const ipc::ServerInfo& info, ConsoleState* state, bool resumed, Wire* wire, control::Backend* backend,
             bool raw = false);

  // The PL011 of client `index`, or null.
  MmioDevice* device(uint32_t index);
  const Pl011* uart(uint32_t index) const {
    return index < info_->device_count && index < ipc::kMaxServerDevices ? &state_->uarts[index] : nullptr;
  }
  // Whether input would be taken now (nothing is held for a full focus).
  bool wants_input() const { return state_->monitor.pending == 0; }
  bool monitor_open() const { return state_->monitor.open != 0; }
  // The client input goes to.
  uint32_t focus() const { return state_->monitor.focus; }

  // Moves input from the wire to the focus's UART while it has room, or to
  // the monitor. (Output needs no polling: it goes out as DR writes are
  // applied.)
  void poll();

  // One line from another source (no line ending).
  void log_line(const char* text, size_t length);

 private:
  // Connects client `index`'s UART to the console.
  class Port final : public Pl011::Transmitter {
   public:
    void transmit(uint8_t byte) override { mux->guest_byte(index, byte); }
    ConsoleMux* mux = nullptr;
    uint32_t index = 0;
  };

  // The monitor's answers, lines ending in CR LF on the wire.
  class MonitorOutput final : public control::Output {
   public:
    void write(const char* text, size_t length) override;
    ConsoleMux* mux = nullptr;
  };

  void put(char c) { wire_->put(c); }
  void puts(const char* s) {
    for (; *s != '\0'; ++s) put(*s);
  }
  // Input for the monitor, and what it does with a line.
  void monitor_key(uint8_t key);
  void run_line();
  void open_monitor();
  void close_monitor();
  // The prompt and what is typed after it, printed again if something else
  // printed since; ended (CR LF) before anything else prints.
  void show_prompt();
  void end_prompt();
  void end_open_line();
  // Raw mode: prints the kernel lines held back (ending the open line).
  void print_held();
  void print_line(const char* text, size_t length);
  void guest_byte(uint32_t device, uint8_t byte);

  const ipc::ServerInfo* info_ = nullptr;
  ConsoleState* state_ = nullptr;
  Wire* wire_ = nullptr;
  control::Backend* backend_ = nullptr;
  bool raw_ = false;
  bool prompt_shown_ = false;
  MonitorOutput monitor_out_;
  Port ports_[ipc::kMaxServerDevices];
};

}  // namespace hyp::server
