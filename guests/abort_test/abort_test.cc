// Touches memory that is not backed, in every way a partition can: loads,
// stores, a load pair (no syndrome), an instruction fetch, and device
// addresses of the host machine. Each must come back as a synchronous
// external abort at the partition's own EL1 vector.
#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"

namespace {

using rt::Caught;
using guest::check;

uint64_t ec_of(const Caught& c) { return c.esr >> 26; }

void aborts() {
  rt::arm_catch();
  const uint64_t v = *reinterpret_cast<volatile uint32_t*>(0x1000'0000);
  Caught c = rt::caught();
  check(c.taken && ec_of(c) == 0x25 && (c.esr & 0x3f) == 0x10 && c.far == 0x1000'0000 && (c.esr & (1u << 6)) == 0,
        "unbacked_read_external_abort", "taken %d esr %lx far %lx v %lx", c.taken, c.esr, c.far, v);

  rt::arm_catch();
  *reinterpret_cast<volatile uint64_t*>(0x7000'0008) = 1;
  c = rt::caught();
  check(c.taken && ec_of(c) == 0x25 && (c.esr & (1u << 6)) != 0 && c.far == 0x7000'0008, "unbacked_write_external_abort",
        "taken %d esr %lx far %lx", c.taken, c.esr, c.far);

  rt::arm_catch();
  uint64_t a, b;
  asm volatile("ldp %0, %1, [%2]" : "=r"(a), "=r"(b) : "r"(uint64_t{0x2000'0000}) : "memory");  // ISV = 0
  c = rt::caught();
  check(c.taken && ec_of(c) == 0x25, "unbacked_pair_load_external_abort", "taken %d esr %lx", c.taken, c.esr);

  rt::arm_catch();
  asm volatile("blr %0" ::"r"(uint64_t{0x3000'0000}) : "x30", "memory");
  c = rt::caught();
  check(c.taken && ec_of(c) == 0x21 && c.far == 0x3000'0000, "unbacked_fetch_external_abort",
        "taken %d esr %lx far %lx", c.taken, c.esr, c.far);
}


void host_devices() {
  // The host's GIC distributor, UART and flash are not the partition's.
  const uint64_t devices[] = {0x0800'0000, 0x0900'0000, 0x0};
  for (uint64_t a : devices) {
    rt::arm_catch();
    (void)*reinterpret_cast<volatile uint32_t*>(a);
    const Caught c = rt::caught();
    check(c.taken && ec_of(c) == 0x25 && c.far == a, "host_device_unreachable", "address %lx taken %d esr %lx", a,
          c.taken, c.esr);
  }
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  rt::print("abort test: started\n");
  aborts();
  host_devices();
  guest::finish("abort test");
}
