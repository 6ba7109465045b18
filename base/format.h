// A freestanding printf subset for the kernel's and servers' log lines.
// Supports %% %c %s %d %i %u %x %X %p, the length modifiers l, ll, z, and a
// field width with optional 0 padding and '-' for left alignment. Output is
// always NUL-terminated when size > 0; the return value is the length the
// full output would have had, as with snprintf.
#pragma once

#include <cstdarg>
#include <cstddef>

namespace hyp {

size_t format(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
size_t vformat(char* buf, size_t size, const char* fmt, va_list args) __attribute__((format(printf, 3, 0)));

}  // namespace hyp
