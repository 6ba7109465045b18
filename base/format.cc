#include "base/format.h"

#include <cstdint>

namespace hyp {
namespace {

class Sink {
 public:
  Sink(char* buf, size_t size) : buf_(buf), size_(size) {}

  void put(char c) {
    if (size_ != 0 && len_ + 1 < size_) buf_[len_] = c;
    ++len_;
  }
  void repeat(char c, size_t n) {
    for (size_t i = 0; i < n; ++i) put(c);
  }
  size_t finish() {
    if (size_ != 0) buf_[len_ + 1 < size_ ? len_ : size_ - 1] = '\0';
    return len_;
  }

 private:
  char* buf_;
  size_t size_;
  size_t len_ = 0;
};

struct Spec {
  size_t width = 0;
  bool zero_pad = false;
  bool left = false;
};

void emit_padded(Sink& out, const Spec& spec, const char* text, size_t len, bool negative) {
  const size_t body = len + (negative ? 1 : 0);
  const size_t pad = spec.width > body ? spec.width - body : 0;
  if (!spec.left && !spec.zero_pad) out.repeat(' ', pad);
  if (negative) out.put('-');
  if (!spec.left && spec.zero_pad) out.repeat('0', pad);
  for (size_t i = 0; i < len; ++i) out.put(text[i]);
  if (spec.left) out.repeat(' ', pad);
}

void emit_number(Sink& out, const Spec& spec, uint64_t value, unsigned base, bool upper, bool negative) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = digits[value % base];
    value /= base;
  } while (value != 0);
  char text[24];
  for (size_t i = 0; i < n; ++i) text[i] = tmp[n - 1 - i];
  emit_padded(out, spec, text, n, negative);
}

}  // namespace

size_t vformat(char* buf, size_t size, const char* fmt, va_list args) {
  Sink out(buf, size);
  for (const char* p = fmt; *p != '\0'; ++p) {
    if (*p != '%') {
      out.put(*p);
      continue;
    }
    ++p;
    Spec spec;
    for (;; ++p) {
      if (*p == '0') {
        spec.zero_pad = true;
      } else if (*p == '-') {
        spec.left = true;
      } else {
        break;
      }
    }
    while (*p >= '0' && *p <= '9') spec.width = spec.width * 10 + static_cast<size_t>(*p++ - '0');
    int longs = 0;
    bool size_t_arg = false;
    for (;; ++p) {
      if (*p == 'l') {
        ++longs;
      } else if (*p == 'z') {
        size_t_arg = true;
      } else {
        break;
      }
    }
    const bool wide = longs > 0 || size_t_arg;
    switch (*p) {
      case '%':
        out.put('%');
        break;
      case 'c': {
        const char c = static_cast<char>(va_arg(args, int));
        emit_padded(out, spec, &c, 1, false);
        break;
      }
      case 's': {
        const char* s = va_arg(args, const char*);
        if (s == nullptr) s = "(null)";
        size_t len = 0;
        while (s[len] != '\0') ++len;
        emit_padded(out, spec, s, len, false);
        break;
      }
      case 'd':
      case 'i': {
        const int64_t v = wide ? va_arg(args, int64_t) : va_arg(args, int);
        const uint64_t magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
        emit_number(out, spec, magnitude, 10, false, v < 0);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        const uint64_t v = wide ? va_arg(args, uint64_t) : va_arg(args, unsigned);
        emit_number(out, spec, v, *p == 'u' ? 10 : 16, *p == 'X', false);
        break;
      }
      case 'p': {
        const auto v = reinterpret_cast<uintptr_t>(va_arg(args, void*));
        out.put('0');
        out.put('x');
        emit_number(out, spec, v, 16, false, false);
        break;
      }
      case '\0':
        // A lone '%' ends the string: print it and stop.
        out.put('%');
        return out.finish();
      default:
        // Unknown conversions are printed literally so a bad format shows.
        out.put('%');
        out.put(*p);
        break;
    }
  }
  return out.finish();
}

size_t format(char* buf, size_t size, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  const size_t n = vformat(buf, size, fmt, args);
  va_end(args);
  return n;
}

}  // namespace hyp
