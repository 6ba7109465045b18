// Reads from the hostile server while it loops without waiting once
// (stuck-once=1) on the read of kTrigger (stuck_server_test). The kernel's
// watchdog must stop it after its run budget and restart it; the read is
// replayed to the new instance and answered, and this guest goes on: its
// console lines (through the kernel, not the stuck server) continue.
#include <cstdint>

#include "guests/hostile_client/hostile.h"
#include "guests/lib/check.h"
#include "runtime/runtime.h"

namespace hostile = guest::hostile;
using guest::check;

void partition_main(uint64_t /*dtb*/) {
  // Answered only once the server has started (and said so).
  check(hostile::read(hostile::kMagic) == hostile::kMagicValue, "first_instance_answers", "%s", "no magic");
  hostile::write(hostile::kScratch, 0x57ac'4ed0);
  rt::print("stuck once: before the trigger\n");
  const uint64_t start = rt::read_counter();
  const uint64_t trigger = hostile::read(hostile::kTrigger);
  const uint64_t waited_ms = (rt::read_counter() - start) * 1000 / rt::counter_frequency();
  check(trigger == hostile::kTriggerValue, "trigger_answered_after_the_restart", "0x%lx", trigger);
  rt::print("stuck once: the trigger read took %lu ms\n", waited_ms);
  const uint64_t gen = hostile::read(hostile::kGen);
  check(gen == 2, "answered_by_the_new_instance", "generation %lu", gen);
  const uint64_t scratch = hostile::read(hostile::kScratch);
  check(scratch == 0x57ac'4ed0, "state_kept_across_the_restart", "scratch 0x%lx", scratch);
  for (int i = 0; i < 5; ++i) rt::print("stuck once: line %d after the restart\n", i);
  guest::finish("stuck once");
}
