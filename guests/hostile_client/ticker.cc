// Prints a line every 100 ms for two seconds, touching no device: while a
// server is stuck on another CPU, the rest of the system goes on
// (stuck_server_test).
#include <cstdint>

#include "runtime/runtime.h"

void partition_main(uint64_t /*dtb*/) {
  const uint64_t step = rt::counter_frequency() / 10;
  uint64_t next = rt::read_counter() + step;
  for (int i = 0; i < 20; ++i) {
    while (rt::read_counter() < next) {
    }
    next += step;
    rt::print("tick %02d\n", i);
  }
}
