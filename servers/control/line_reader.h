// The host control channel's input (docs/control.md, "Protocol"): bytes
// from the host, cut into command lines, each run as a control command
// with a JSON answer. A line ends at LF (a CR before it is dropped);
// Ctrl-U (0x15) drops what was read of the current line, which a client
// sends first so that an earlier client's unfinished line is not joined to
// its own; a line longer than kMaxLine is answered with an error when it
// ends, and nothing of it is run.
#pragma once

#include <cstddef>
#include <cstdint>

#include "servers/control/commands.h"

namespace hyp::control {

class LineReader {
 public:
  static constexpr uint8_t kKillLine = 0x15;

  // Takes `length` bytes; runs every line they complete.
  void feed(const uint8_t* bytes, size_t length, Backend& backend, Output& out);
  // Forgets a line under way (the channel was reset).
  void reset() {
    length_ = 0;
    too_long_ = false;
  }

 private:
  char line_[kMaxLine + 1] = {};
  size_t length_ = 0;
  bool too_long_ = false;
};

}  // namespace hyp::control
