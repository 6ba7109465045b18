// Test guests' side of the PL011 a UART server emulates for them, at the
// address their packages give it. Register offsets and bits are the model's
// own (servers/uart/pl011.h): the guest drives exactly what the server serves.
#pragma once

#include <cstdint>

#include "servers/uart/pl011.h"

namespace guest::uart {

using Regs = hyp::server::Pl011;

inline constexpr uint64_t kBase = 0x0900'0000;

template <typename T = uint32_t>
T read(uint64_t offset) {
  return *reinterpret_cast<volatile T*>(kBase + offset);
}

inline void write(uint64_t offset, uint32_t value) { *reinterpret_cast<volatile uint32_t*>(kBase + offset) = value; }

// Waits for room in the transmit FIFO, then sends `c`.
void putc(char c);
// Sends `s`, each "\n" as "\r\n".
void puts(const char* s);
// Waits for a received byte.
char getc();

}  // namespace guest::uart
