// Fuzzes the control commands: the input's first bytes are the system the
// kernel reports (any bytes at all), the rest a command line. Every answer
// in JSON must be one valid JSON object on one line, saying ok or not as
// the command did; the backend is asked to act at most once a line. The
// bytes are also fed to the control channel's line reader, which must
// answer each line it completes with one JSON line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "servers/control/commands.h"
#include "servers/control/line_reader.h"
#include "servers/control/testing/fake_backend.h"
#include "servers/control/testing/json_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hyp::control;
  testing::FakeBackend backend;
  size_t used = 0;
  if (size > 0 && (data[0] & 1) != 0) {
    // A system of arbitrary bytes.
    const size_t n = size - 1 < sizeof(backend.sys) ? size - 1 : sizeof(backend.sys);
    std::memcpy(&backend.sys, data + 1, n);
    used = 1 + n;
  } else if (size > 0) {
    used = 1;
  }
  const char* line = reinterpret_cast<const char*>(data + used);
  const size_t length = size - used;
  for (const Format format : {Format::kText, Format::kJson}) {
    testing::StringOutput out;
    const size_t calls = backend.calls.size();
    const Outcome o = run_command(line, length, backend, out, format, format == Format::kText);
    const std::string text = out.take();
    if (format == Format::kJson) {
      if (!testing::JsonCheck::valid(text) || text.empty() || text.find('\n') != text.size() - 1) std::abort();
      const bool says_ok = text.rfind("{\"ok\":true,", 0) == 0;
      if (says_ok != o.ok && o.kind == Outcome::Kind::kDone && length > 0) std::abort();
    }
    if (backend.calls.size() > calls + 1) std::abort();
  }
  // The same bytes as the control channel's stream: every line it completes
  // gets exactly one JSON answer line.
  LineReader reader;
  testing::StringOutput out;
  reader.feed(reinterpret_cast<const uint8_t*>(line), length, backend, out);
  const std::string text = out.take();
  size_t lines = 0;
  for (size_t i = 0; i < length; ++i) lines += line[i] == '\n' ? 1 : 0;
  size_t answered = 0;
  for (size_t from = 0; from < text.size();) {
    const size_t end = text.find('\n', from);
    if (end == std::string::npos) std::abort();  // an answer without its line end
    if (!testing::JsonCheck::valid(std::string_view(text).substr(from, end - from))) std::abort();
    ++answered;
    from = end + 1;
  }
  if (answered != lines) std::abort();
  return 0;
}
