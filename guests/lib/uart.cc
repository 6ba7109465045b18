#include "guests/lib/uart.h"

namespace guest::uart {

void putc(char c) {
  while ((read(Regs::kFr) & Regs::kFrTxff) != 0) {
  }
  write(Regs::kDr, static_cast<uint8_t>(c));
}

void puts(const char* s) {
  for (; *s != '\0'; ++s) {
    if (*s == '\n') putc('\r');
    putc(*s);
  }
}

char getc() {
  while ((read(Regs::kFr) & Regs::kFrRxfe) != 0) {
  }
  return static_cast<char>(read(Regs::kDr) & 0xff);
}

}  // namespace guest::uart
