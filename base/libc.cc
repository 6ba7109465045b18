// The C library functions that freestanding code still needs: the compiler
// emits calls to mem* for copies and zeroing, and Debian's prebuilt AArch64
// libfdt calls the string functions below. Built with -fno-builtin so these
// loops are not turned back into calls to themselves.
#include <cstddef>
#include <cstdint>

extern "C" {

void* memcpy(void* dst, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  // Eight bytes at a time when both sides allow it (-mstrict-align: never
  // an unaligned doubleword), then bytes.
  if (((reinterpret_cast<uintptr_t>(d) | reinterpret_cast<uintptr_t>(s)) & 7) == 0) {
    for (; n >= 8; n -= 8, d += 8, s += 8) {
      *reinterpret_cast<uint64_t*>(d) = *reinterpret_cast<const uint64_t*>(s);
    }
  }
  for (size_t i = 0; i < n; ++i) d[i] = s[i];
  return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  if (d < s) {
    for (size_t i = 0; i < n; ++i) d[i] = s[i];
  } else {
    for (size_t i = n; i > 0; --i) d[i - 1] = s[i - 1];
  }
  return dst;
}

void* memset(void* dst, int c, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  for (; n > 0 && (reinterpret_cast<uintptr_t>(d) & 7) != 0; --n) *d++ = static_cast<unsigned char>(c);
  const uint64_t pattern = uint64_t{0x0101'0101'0101'0101} * static_cast<unsigned char>(c);
  for (; n >= 8; n -= 8, d += 8) *reinterpret_cast<uint64_t*>(d) = pattern;
  for (; n > 0; --n) *d++ = static_cast<unsigned char>(c);
  return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

void* memchr(const void* s, int c, size_t n) {
  const auto* p = static_cast<const unsigned char*>(s);
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == static_cast<unsigned char>(c)) return const_cast<unsigned char*>(p + i);
  }
  return nullptr;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  return n;
}

size_t strnlen(const char* s, size_t max) {
  size_t n = 0;
  while (n < max && s[n] != '\0') ++n;
  return n;
}

char* strchr(const char* s, int c) {
  for (;; ++s) {
    if (*s == static_cast<char>(c)) return const_cast<char*>(s);
    if (*s == '\0') return nullptr;
  }
}

char* strrchr(const char* s, int c) {
  const char* last = nullptr;
  for (;; ++s) {
    if (*s == static_cast<char>(c)) last = s;
    if (*s == '\0') return const_cast<char*>(last);
  }
}

unsigned long strtoul(const char* s, char** end, int base) {  // NOLINT(google-runtime-int)
  const char* p = s;
  while (*p == ' ' || *p == '\t' || *p == '\n') ++p;
  if (*p == '+') ++p;
  if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    p += 2;
    base = 16;
  } else if (base == 0) {
    base = p[0] == '0' ? 8 : 10;
  }
  unsigned long value = 0;  // NOLINT(google-runtime-int)
  const char* digits_start = p;
  for (;; ++p) {
    int d;
    if (*p >= '0' && *p <= '9') {
      d = *p - '0';
    } else if (*p >= 'a' && *p <= 'z') {
      d = *p - 'a' + 10;
    } else if (*p >= 'A' && *p <= 'Z') {
      d = *p - 'A' + 10;
    } else {
      break;
    }
    if (d >= base) break;
    value = value * static_cast<unsigned>(base) + static_cast<unsigned>(d);
  }
  if (end != nullptr) *end = const_cast<char*>(p == digits_start ? s : p);
  return value;
}

// libfdt.a was built with the stack protector. Our own code is not; the guard
// value is fixed because there is no entropy source this early.
uintptr_t __stack_chk_guard = 0x595e9fbd94fda766;

[[noreturn]] void __stack_chk_fail() {
  for (;;) asm volatile("wfi");
}

}  // extern "C"
