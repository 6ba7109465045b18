// Test guests' side of the hostile server's device window (servers/hostile):
// where packages put it, and 64-bit register accesses by offset.
#pragma once

#include <cstdint>

#include "servers/hostile/hostile_regs.h"

namespace guest::hostile {

using namespace hyp::hostile;

// The window's guest address in //tests/regressions packages (HOSTILE_DEVICE).
inline constexpr uint64_t kBase = 0x0a00'0000;

inline uint64_t read(uint64_t offset) { return *reinterpret_cast<volatile uint64_t*>(kBase + offset); }
inline void write(uint64_t offset, uint64_t value) { *reinterpret_cast<volatile uint64_t*>(kBase + offset) = value; }

// Waits until the system counter has advanced by `ms` milliseconds.
void delay_ms(uint64_t ms);

}  // namespace guest::hostile
