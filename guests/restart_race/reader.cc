// Keeps the UART server busy from its own CPU while another guest asks for
// planned restarts of it (restart_race_test): bursts of READER_BURST posted
// writes to the PL011's IBRD, each burst checked by a read of IBRD, and
// reads of the identification registers. Posted writes queue up and are
// applied in one long turn of the server, so the server is often in the
// middle of its work when the restart is asked for. Stops after
// READER_SECONDS; the test ends before that.
#include <cstdint>

#include "guests/lib/check.h"
#include "guests/lib/uart.h"
#include "runtime/runtime.h"

namespace {

using Regs = guest::uart::Regs;

// PeriphID0-3 then PCellID0-3, as the PL011 model answers them.
constexpr uint8_t kIds[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  rt::print("reader: started\n");
  const uint64_t end = rt::read_counter() + READER_SECONDS * rt::counter_frequency();
  uint64_t rounds = 0;
  uint64_t wrong = 0;
  while (rt::read_counter() < end) {
    uint32_t last = 0;
    for (uint32_t i = 0; i < READER_BURST; ++i) {
      last = static_cast<uint32_t>((rounds * READER_BURST + i) & 0xffff);
      guest::uart::write(Regs::kIbrd, last);
    }
    if (READER_BURST != 0 && guest::uart::read(Regs::kIbrd) != last) ++wrong;
    for (uint64_t i = 0; i < 8; ++i) {
      if (guest::uart::read(Regs::kIdBase + 4 * i) != kIds[i]) ++wrong;
    }
    ++rounds;
  }
  guest::check(wrong == 0, "answers_correct", "%lu wrong in %lu rounds", wrong, rounds);
  guest::finish("reader");
}
