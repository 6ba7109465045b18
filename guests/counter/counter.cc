// Prints "count NNNN" lines through the PL011 at 0x09000000, asking the
// kernel for a planned restart of the UART server (partition 1) every
// COUNTER_RESTART_EVERY lines. The test reads the lines back in order.
#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"
#include "guests/lib/uart.h"
#include "ipc/hypercall.h"

namespace {

constexpr uint64_t kUartServerId = 1;

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  int restarts_failed = 0;
  for (int i = 0; i < COUNTER_LINES; ++i) {
    char line[] = "count 0000\n";
    line[6] = static_cast<char>('0' + i / 1000 % 10);
    line[7] = static_cast<char>('0' + i / 100 % 10);
    line[8] = static_cast<char>('0' + i / 10 % 10);
    line[9] = static_cast<char>('0' + i % 10);
    guest::uart::puts(line);
    if (COUNTER_RESTART_EVERY != 0 && (i + 1) % COUNTER_RESTART_EVERY == 0 && i + 1 < COUNTER_LINES) {
      if (rt::hvc(hyp::abi::kHypServerRestart, kUartServerId).x0 != 0) ++restarts_failed;
    }
  }
  guest::uart::puts("count done\n");
  guest::check(restarts_failed == 0, "restarts_accepted", "%d refused", restarts_failed);
  guest::check(rt::hvc(hyp::abi::kHypServerRestart, 99).x0 != 0, "restart_of_no_server_refused", "-");
  guest::finish("counter");
  rt::power_off();
}
