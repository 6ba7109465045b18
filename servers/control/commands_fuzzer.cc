// Fuzzes the control commands: the input's first bytes are the system the
// kernel reports (any bytes at all), the rest a command line. Every answer
// in JSON must be one valid JSON object on one line, saying ok or not as
// the command did; the backend is only asked to act for a line that names
// an action and a server the system holds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "servers/control/commands.h"
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
  return 0;
}
