// The control commands (docs/control.md): one line in, text for a person
// or one JSON object for a program out. The console monitor (servers/uart)
// and the host control channel (servers/control) both run them; what they
// act on is a Backend, the kernel's control calls in a server
// (kernel_backend.h) and a fake in host tests.
//
// Freestanding: no allocation, fixed buffers, every line checked before
// anything is done (docs/control.md lists the grammar).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "ipc/control.h"

namespace hyp::control {

class Backend {
 public:
  virtual Status read_system(ipc::ControlSystem& out) = 0;
  virtual Status read_exits(uint16_t id, uint32_t vcpu, ipc::ControlExits& out) = 0;
  virtual Status restart(uint16_t id) = 0;
  virtual Status stop(uint16_t id) = 0;
  virtual Status start(uint16_t id) = 0;
  virtual Status set_trace(bool on) = 0;
  // CPU `cpu`'s trace records from index `first` on (ipc::ControlTrace).
  virtual Status read_trace(uint32_t cpu, uint64_t first, ipc::ControlTrace& out) = 0;

 protected:
  ~Backend() = default;
};

// Where a command's answer goes.
class Output {
 public:
  virtual void write(const char* text, size_t length) = 0;
  void print(const char* fmt, ...) __attribute__((format(printf, 2, 3)));

 protected:
  ~Output() = default;
};

enum class Format : uint8_t {
  kText,  // the monitor: lines for a person
  kJson,  // the control channel: one JSON object on one line
};

// The longest command line taken, without its line end.
inline constexpr size_t kMaxLine = 120;

// What the caller does after a command.
struct Outcome {
  enum class Kind : uint8_t {
    kDone,     // answered in full
    kLeave,    // `exit`: leave the monitor (the console only)
    kConsole,  // `console NAME`: input to NAME (the console only; not answered yet)
  };
  Kind kind = Kind::kDone;
  bool ok = false;  // the command did what it said (kDone)
  char target[ipc::kControlNameLength] = {};  // kConsole: NAME
};

// Runs command `line` (`length` bytes, no line end). `console` says whether
// the console-only commands (`exit`, `console NAME`) exist here.
Outcome run_command(const char* line, size_t length, Backend& backend, Output& out, Format format, bool console);

// The name of exit reason `r` (ipc::ControlExits): "dabt", "hvc64", ...,
// or null for one without a name.
const char* exit_reason_name(size_t r);

}  // namespace hyp::control
