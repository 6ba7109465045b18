// Asks for RESTART_RACE_COUNT planned restarts of the UART server (partition
// 1) while another guest keeps that server busy on another CPU, and prints
// "restart NNNN" after each (restart_race_test).
//
// Each round: the restart call, then one read of the PL011, then the line
// through the debug console. A correct kernel answers that read only from
// the instance the restart started, after reporting the restart, so the
// line always follows the report. A call that returns 0 although no restart
// happened lets the old instance answer the read: the line then comes
// before a restart the kernel starts late, or a later call is refused.
#include <cstdint>

#include "guests/lib/check.h"
#include "guests/lib/uart.h"
#include "ipc/hypercall.h"
#include "runtime/runtime.h"

namespace {

constexpr uint64_t kUartServerId = 1;

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  int refused = 0;
  for (int k = 1; k <= RESTART_RACE_COUNT; ++k) {
    const uint64_t status = rt::hvc(hyp::abi::kHypServerRestart, kUartServerId).x0;
    // Reported at once, so that the test stops here.
    if (status != 0 && refused++ == 0) guest::check(false, "restart_accepted", "restart %d: 0x%lx", k, status);
    (void)guest::uart::read(guest::uart::Regs::kFr);
    rt::print("restart %04d\n", k);
  }
  guest::check(refused == 0, "restarts_accepted", "%d of %d refused", refused, RESTART_RACE_COUNT);
  guest::finish("restart race");
  rt::power_off();
}
