#include "guests/lib/check.h"

#include <cstdarg>

#include "base/format.h"
#include "runtime/runtime.h"

namespace guest {
namespace {

int g_passed;
int g_failed;

}  // namespace

void check(bool ok, const char* name, const char* fmt, ...) {
  if (ok) {
    ++g_passed;
    rt::print("check %s: ok\n", name);
    return;
  }
  ++g_failed;
  char detail[160];
  va_list args;
  va_start(args, fmt);
  hyp::vformat(detail, sizeof(detail), fmt, args);
  va_end(args);
  rt::print("check %s: FAILED (%s)\n", name, detail);
}

int finish(const char* suite) {
  rt::print("%s: %d passed, %d failed\n", suite, g_passed, g_failed);
  return g_failed;
}

}  // namespace guest
