// Input typed while the guest sleeps: the guest enables its PL011's receive
// interrupt (SPI 33, as QEMU's virt wires its UART) in the GIC the GIC
// server gives it, and waits in WFI with nothing else to wake it. The
// physical UART's interrupt goes to the UART server, which moves the bytes
// into the guest's PL011, whose interrupt line it raises: the guest wakes,
// reads them in its handler, and the line falls when its FIFO is empty.
#include <atomic>
#include <cstdint>

#include "guests/lib/check.h"
#include "guests/lib/gic.h"
#include "guests/lib/uart.h"
#include "runtime/runtime.h"

namespace {

using guest::check;
namespace gic = guest::gic;
namespace uart = guest::uart;

constexpr uint32_t kUartSpi = 33;

char g_line[64];
std::atomic<uint32_t> g_length{0};
std::atomic<bool> g_newline{false};
std::atomic<uint32_t> g_interrupts{0};
std::atomic<uint32_t> g_other{0};

}  // namespace

extern "C" void partition_irq(rt::ExceptionFrame* /*frame*/) {
  gic::take_all([&](uint32_t id) {
    if (id == kUartSpi) {
      g_interrupts.fetch_add(1);
      while ((uart::read(uart::Regs::kFr) & uart::Regs::kFrRxfe) == 0) {
        const char c = static_cast<char>(uart::read(uart::Regs::kDr) & 0xff);
        if (c == '\r' || c == '\n') {
          g_newline.store(true);
        } else if (g_length.load() + 1 < sizeof(g_line)) {
          g_line[g_length.load()] = c;
          g_length.fetch_add(1);
        }
      }
    } else {
      g_other.fetch_add(1);
    }
  });
}

void partition_main(uint64_t /*dtb*/) {
  gic::init_distributor();
  gic::init_cpu();
  gic::enable_spi(kUartSpi, 0x80, false, 0);
  uart::write(uart::Regs::kImsc, uart::Regs::kIntRx | uart::Regs::kIntRxTimeout);
  rt::print("uart_wake: waiting in WFI for a line\n");
  const uint64_t start = rt::read_counter();
  uint32_t looks = 0;
  (void)gic::sleep_until([&] {
    ++looks;
    return g_newline.load();
  });
  const uint32_t wakes = looks - 1;
  const uint64_t waited_ms = (rt::read_counter() - start) * 1000 / rt::counter_frequency();
  g_line[g_length.load()] = '\0';
  rt::print("uart_wake: got \"%s\" after %lu ms, %u interrupts, %u wake-ups\n", g_line, waited_ms,
            g_interrupts.load(), wakes);
  check(g_length.load() > 0, "typed_line_arrived_by_interrupt", "");
  check(g_other.load() == 0, "no_other_interrupts", "%u", g_other.load());
  guest::finish("uart_wake");
}
