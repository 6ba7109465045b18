// Writes lines to the PL011 at 0x09000000 without ever reading FR: QEMU's
// own PL011 never drops a transmitted byte, and early consoles and
// bare-metal test kernels write DR blindly on the strength of it. Three
// sections of kLines lines each: the FIFO off (LCR_H.FEN clear, the reset
// state: one byte deep) with 32-bit stores, then the FIFO on with 16-bit
// stores (as Linux's amba-pl011 makes them) and with 8-bit stores. Line L
// of a section reads "SECTION LL " and kChars characters of kAlphabet from
// index 11 * L on; tests/defs.bzl (unpolled_tx_lines) spells out the same
// text, and the test expects every byte of it in order.
#include <cstdint>

#include "guests/lib/uart.h"
#include "runtime/runtime.h"

namespace {

using Regs = guest::uart::Regs;

constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr unsigned kAlphabetSize = sizeof(kAlphabet) - 1;
constexpr unsigned kLines = 5;
constexpr unsigned kChars = 60;

template <typename T>
void put(char c) {
  *reinterpret_cast<volatile T*>(guest::uart::kBase + Regs::kDr) = static_cast<T>(static_cast<uint8_t>(c));
}

template <typename T>
void put_text(const char* s) {
  for (; *s != '\0'; ++s) put<T>(*s);
}

template <typename T>
void section(const char* name) {
  for (unsigned line = 0; line < kLines; ++line) {
    put_text<T>(name);
    put<T>(' ');
    put<T>(static_cast<char>('0' + line / 10));
    put<T>(static_cast<char>('0' + line % 10));
    put<T>(' ');
    for (unsigned i = 0; i < kChars; ++i) put<T>(kAlphabet[(11 * line + i) % kAlphabetSize]);
    put<T>('\n');
  }
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  // One read that is not FR: it waits for the UART server, so the console
  // is the server's before the first byte goes out.
  (void)guest::uart::read(Regs::kIdBase);
  section<uint32_t>("off32");
  guest::uart::write(Regs::kLcrH, (3u << 5) | Regs::kLcrFen);  // 8 bits, FIFOs on
  section<uint16_t>("on16");
  section<uint8_t>("on8");
  put_text<uint32_t>("unpolled done\n");
  rt::power_off();
}
