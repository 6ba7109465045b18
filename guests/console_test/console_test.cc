// A guest that uses the PL011 at 0x09000000 that the UART server emulates.
// Its checks report through the debug console (kernel); what it prints
// through the PL011 reaches the console through the server.
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"
#include "guests/lib/uart.h"

namespace {

using guest::uart::getc;
using guest::uart::putc;
using guest::uart::puts;
using Regs = guest::uart::Regs;

uint32_t read32(uint64_t off) { return guest::uart::read(off); }
void write32(uint64_t off, uint32_t v) { guest::uart::write(off, v); }

constexpr uint64_t kPeriphId = Regs::kIdBase;        // PeriphID0..3
constexpr uint64_t kCellId = Regs::kIdBase + 0x10;   // PCellID0..3

void check_ids() {
  const uint8_t periph[] = {0x11, 0x10, 0x14, 0x00};
  const uint8_t cell[] = {0x0d, 0xf0, 0x05, 0xb1};
  bool ok = true;
  for (uint64_t i = 0; i < 4; ++i) {
    ok = ok && read32(kPeriphId + 4 * i) == periph[i] && read32(kCellId + 4 * i) == cell[i];
  }
  guest::check(ok, "pl011_id_registers", "PeriphID0 0x%x PCellID0 0x%x", read32(kPeriphId), read32(kCellId));
  const uint16_t half = guest::uart::read<uint16_t>(kPeriphId);
  const uint8_t byte = guest::uart::read<uint8_t>(kCellId + 4);
  guest::check(half == 0x11 && byte == 0xf0, "pl011_narrow_reads", "16-bit 0x%x 8-bit 0x%x", half, byte);
  guest::check(read32(0x100) == 0, "pl011_unknown_offset_reads_zero", "0x%x", read32(0x100));
}

void check_registers() {
  write32(Regs::kCr, 0x301);                          // UARTEN, TXE, RXE
  write32(Regs::kLcrH, (3u << 5) | Regs::kLcrFen);    // 8 bits, FIFOs on
  guest::check(read32(Regs::kCr) == 0x301, "pl011_cr_written", "CR 0x%x", read32(Regs::kCr));
  guest::check(read32(Regs::kLcrH) == 0x70, "pl011_lcr_h_written", "LCR_H 0x%x", read32(Regs::kLcrH));
  // Posted writes take effect in order before a later read.
  write32(Regs::kImsc, 0x10);
  write32(Regs::kImsc, 0x50);
  guest::check(read32(Regs::kImsc) == 0x50, "posted_writes_apply_in_order", "IMSC 0x%x", read32(Regs::kImsc));
  write32(Regs::kImsc, 0);
  write32(Regs::kIcr, 0x7ff);
  const uint32_t fr = read32(Regs::kFr);
  guest::check((fr & Regs::kFrTxfe) != 0, "pl011_transmit_fifo_empty_when_idle", "FR 0x%x", fr);
  const uint32_t ris = read32(Regs::kRis);
  guest::check((ris & Regs::kIntTx) != 0, "pl011_tx_interrupt_raw_when_empty", "RIS 0x%x", ris);
  // A pair load cannot be forwarded (no syndrome): an external abort.
  rt::arm_catch();
  uint64_t a = 0, b = 0;
  asm volatile("ldp %0, %1, [%2]" : "=r"(a), "=r"(b) : "r"(guest::uart::kBase) : "memory");
  guest::check(rt::caught().taken && (rt::caught().esr >> 26) == 0x25, "pl011_pair_load_aborts", "ESR 0x%lx",
               rt::caught().esr);
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  check_ids();
  check_registers();
  puts("hello through the forwarded PL011\n");
  puts("a line of 100 characters: ");
  for (int i = 0; i < 74; ++i) putc(static_cast<char>('a' + i % 26));
  puts("\n");
  // Input typed before the guest reads it is kept: the harness sends a long
  // line as soon as it sees this, and the guest waits before reading.
  puts("ready for input\n");
  const uint64_t until = rt::read_counter() + rt::counter_frequency() / 20;
  while (rt::read_counter() < until) {
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
  rt::print("received %zu characters: %s\n", n, line);
  guest::check(n == 60, "input_kept_until_read", "%zu characters", n);
  bool ordered = true;
  for (size_t i = 0; i < n; ++i) ordered = ordered && line[i] == static_cast<char>('0' + i % 10);
  guest::check(ordered, "input_in_order", "%s", line);
  puts("bye\n");
  guest::finish("console_test");
  rt::power_off();
}
