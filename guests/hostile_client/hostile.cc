// Helpers of the guests that drive the hostile server (hostile.h).
#include "guests/hostile_client/hostile.h"

#include "runtime/runtime.h"

namespace guest::hostile {

void delay_ms(uint64_t ms) {
  const uint64_t end = rt::read_counter() + ms * rt::counter_frequency() / 1000;
  while (rt::read_counter() < end) {
  }
}

}  // namespace guest::hostile
