#include "kernel/console.h"

#include <cstdarg>
#include <atomic>
#include <cstdint>

#include "base/format.h"
#include "base/spinlock.h"
#include "kernel/arch/mmio.h"

namespace hyp::console {
namespace {

// PL011 registers (Arm PrimeCell UART PL011 TRM, section 3.2).
constexpr uint64_t kUartDr = 0x000;
constexpr uint64_t kUartFr = 0x018;
constexpr uint32_t kFrTxff = 1u << 5;  // transmit FIFO full

// A line longer than this is cut; log lines are short.
constexpr size_t kLineMax = 512;
// Polls of FR before a stuck transmitter is given up on for one character.
constexpr int kTxSpinLimit = 1 << 20;

constinit SpinLock g_lock;
constinit Pa g_base{};
constinit bool g_ready = false;
constinit std::atomic<Sink> g_sink{nullptr};

void put_raw(char c) {
  for (int i = 0; i < kTxSpinLimit && (arch::mmio_read32(g_base.offset(kUartFr)) & kFrTxff) != 0; ++i) {
  }
  arch::mmio_write32(g_base.offset(kUartDr), static_cast<uint8_t>(c));
}

void write_unlocked(const char* text, size_t len) {
  if (!g_ready) return;
  for (size_t i = 0; i < len; ++i) {
    if (text[i] == '\n') put_raw('\r');
    put_raw(text[i]);
  }
}

size_t vprint_to(char (&buf)[kLineMax], const char* fmt, va_list args) {
  const size_t n = vformat(buf, sizeof(buf), fmt, args);
  return n < sizeof(buf) ? n : sizeof(buf) - 1;
}

}  // namespace

void init(Pa base) {
  g_base = base;
  g_ready = true;
}

bool ready() { return g_ready; }

void write(const char* text, size_t len) {
  SpinLockGuard guard(g_lock);
  write_unlocked(text, len);
}

void print(const char* fmt, ...) {
  char buf[kLineMax];
  va_list args;
  va_start(args, fmt);
  const size_t n = vprint_to(buf, fmt, args);
  va_end(args);
  if (Sink sink = g_sink.load(std::memory_order_acquire); sink != nullptr) {
    sink(buf, n);
    return;
  }
  write(buf, n);
}

void set_sink(Sink sink) { g_sink.store(sink, std::memory_order_release); }

// The lock is taken only if it can be: outside what the analysis can follow.
void print_fatal(const char* fmt, ...) __attribute__((no_thread_safety_analysis)) {
  char buf[kLineMax];
  va_list args;
  va_start(args, fmt);
  const size_t n = vprint_to(buf, fmt, args);
  va_end(args);
  bool locked = false;
  for (int i = 0; i < kTxSpinLimit && !locked; ++i) locked = g_lock.try_lock();
  write_unlocked(buf, n);
  if (locked) g_lock.unlock();
}

}  // namespace hyp::console
