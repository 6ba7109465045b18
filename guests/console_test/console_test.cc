// A guest that uses the PL011 at 0x09000000 that the UART server emulates.
// Its checks report through the debug console (kernel); what it prints
// through the PL011 reaches the console through the server.
#include <cstddef>
#include <cstdint>

#include "guests/lib/guest.h"

namespace {

constexpr uint64_t kUart = 0x0900'0000;
constexpr uint64_t kDr = 0x000, kFr = 0x018, kLcrH = 0x02c, kCr = 0x030, kImsc = 0x038, kRis = 0x03c,
                   kIcr = 0x044;
constexpr uint32_t kFrRxfe = 1u << 4, kFrTxff = 1u << 5, kFrTxfe = 1u << 7;

uint32_t read32(uint64_t off) { return *reinterpret_cast<volatile uint32_t*>(kUart + off); }
uint16_t read16(uint64_t off) { return *reinterpret_cast<volatile uint16_t*>(kUart + off); }
uint8_t read8(uint64_t off) { return *reinterpret_cast<volatile uint8_t*>(kUart + off); }
void write32(uint64_t off, uint32_t v) { *reinterpret_cast<volatile uint32_t*>(kUart + off) = v; }

void putc(char c) {
  while ((read32(kFr) & kFrTxff) != 0) {
  }
  write32(kDr, static_cast<uint8_t>(c));
}

void puts(const char* s) {
  for (; *s != '\0'; ++s) {
    if (*s == '\n') putc('\r');
    putc(*s);
  }
}

char getc() {
  while ((read32(kFr) & kFrRxfe) != 0) {
  }
  return static_cast<char>(read32(kDr) & 0xff);
}

void check_ids() {
  const uint8_t periph[] = {0x11, 0x10, 0x14, 0x00};
  const uint8_t cell[] = {0x0d, 0xf0, 0x05, 0xb1};
  bool ok = true;
  for (uint64_t i = 0; i < 4; ++i) {
    ok = ok && read32(0xfe0 + 4 * i) == periph[i] && read32(0xff0 + 4 * i) == cell[i];
  }
  guest::check(ok, "pl011_id_registers", "PeriphID0 0x%x PCellID0 0x%x", read32(0xfe0), read32(0xff0));
  guest::check(read16(0xfe0) == 0x11 && read8(0xff4) == 0xf0, "pl011_narrow_reads", "16-bit 0x%x 8-bit 0x%x",
               read16(0xfe0), read8(0xff4));
  guest::check(read32(0x100) == 0, "pl011_unknown_offset_reads_zero", "0x%x", read32(0x100));
}

void check_registers() {
  write32(kCr, 0x301);             // UARTEN, TXE, RXE
  write32(kLcrH, (3u << 5) | (1u << 4));  // 8 bits, FIFOs on
  guest::check(read32(kCr) == 0x301, "pl011_cr_written", "CR 0x%x", read32(kCr));
  guest::check(read32(kLcrH) == 0x70, "pl011_lcr_h_written", "LCR_H 0x%x", read32(kLcrH));
  // Posted writes take effect in order before a later read.
  write32(kImsc, 0x10);
  write32(kImsc, 0x50);
  guest::check(read32(kImsc) == 0x50, "posted_writes_apply_in_order", "IMSC 0x%x", read32(kImsc));
  write32(kImsc, 0);
  write32(kIcr, 0x7ff);
  guest::check((read32(kFr) & kFrTxfe) != 0, "pl011_transmit_fifo_empty_when_idle", "FR 0x%x", read32(kFr));
  guest::check((read32(kRis) & (1u << 5)) != 0, "pl011_tx_interrupt_raw_when_empty", "RIS 0x%x", read32(kRis));
  // A pair load cannot be forwarded (no syndrome): an external abort.
  guest::arm_catch();
  uint64_t a = 0, b = 0;
  asm volatile("ldp %0, %1, [%2]" : "=r"(a), "=r"(b) : "r"(kUart) : "memory");
  guest::check(guest::caught().taken && (guest::caught().esr >> 26) == 0x25, "pl011_pair_load_aborts", "ESR 0x%lx",
               guest::caught().esr);
}

}  // namespace

void guest_main(uint64_t /*dtb*/) {
  check_ids();
  check_registers();
  puts("hello through the forwarded PL011\n");
  puts("a line of 100 characters: ");
  for (int i = 0; i < 74; ++i) putc(static_cast<char>('a' + i % 26));
  puts("\n");
  // Input typed before the guest reads it is kept: the harness sends a long
  // line as soon as it sees this, and the guest waits before reading.
  puts("ready for input\n");
  const uint64_t until = guest::read_counter() + guest::counter_frequency() / 20;
  while (guest::read_counter() < until) {
  }
  char line[128];
  size_t n = 0;
  for (;;) {
    const char c = getc();
    if (c == '\r' || c == '\n') break;
    if (n < sizeof(line) - 1) line[n++] = c;
    putc(c);
  }
  line[n] = '\0';
  puts("\n");
  guest::print("received %zu characters: %s\n", n, line);
  guest::check(n == 60, "input_kept_until_read", "%zu characters", n);
  bool ordered = true;
  for (size_t i = 0; i < n; ++i) ordered = ordered && line[i] == static_cast<char>('0' + i % 10);
  guest::check(ordered, "input_in_order", "%s", line);
  puts("bye\n");
  guest::finish("console_test");
  guest::power_off();
}
