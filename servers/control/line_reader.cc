#include "servers/control/line_reader.h"

namespace hyp::control {

void LineReader::feed(const uint8_t* bytes, size_t length, Backend& backend, Output& out) {
  for (size_t i = 0; i < length; ++i) {
    const uint8_t b = bytes[i];
    if (b == kKillLine) {
      reset();
      continue;
    }
    if (b == '\n') {
      size_t n = length_;
      if (n > 0 && line_[n - 1] == '\r') --n;
      if (too_long_) {
        // Answered as what it is, without running any of it.
        const char kTooLong[kMaxLine + 1] = {'x'};
        (void)run_command(kTooLong, sizeof(kTooLong), backend, out, Format::kJson, false);
      } else {
        (void)run_command(line_, n, backend, out, Format::kJson, false);
      }
      reset();
      continue;
    }
    if (length_ == sizeof(line_)) {
      too_long_ = true;
      continue;
    }
    line_[length_++] = static_cast<char>(b);
  }
}

}  // namespace hyp::control
