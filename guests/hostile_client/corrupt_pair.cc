// Two guests on two CPUs read from the hostile server while it publishes an
// impossible request-ring head once (corrupt-head=1) and keeps running for a
// while with it (corrupt-hold), serving the trigger read of one of them
// (corrupt_pair_test). The other's reads meet the broken ring when they are
// pushed, or wait for the restart. Both must finish, every read answered
// with its own value.
//
// PAIR_TRIGGER=1: the guest that reads kTrigger; 0: the bystander, which
// reads until the new instance answers. PAIR_INDEX orders the summaries:
// each waits PAIR_INDEX seconds after its work before printing its own.
#include <cstdint>

#include "guests/hostile_client/hostile.h"
#include "guests/lib/check.h"
#include "runtime/runtime.h"

namespace hostile = guest::hostile;
using guest::check;

namespace {

// Reads `count` pattern registers; returns how many came back wrong.
uint64_t read_patterns(uint64_t count, uint64_t& generation) {
  uint64_t wrong = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t offset = 0x100 + 8 * (i % 64);
    if (hostile::read(offset) != hostile::pattern(offset)) ++wrong;
    if (i % 16 == 0) generation = hostile::read(hostile::kGen);
  }
  return wrong;
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  uint64_t generation = hostile::read(hostile::kGen);
  uint64_t wrong = 0;
  uint64_t reads = 0;
  if (PAIR_TRIGGER) {
    wrong += read_patterns(200, generation);
    const uint64_t trigger = hostile::read(hostile::kTrigger);
    check(trigger == hostile::kTriggerValue, "trigger_read_answered", "0x%lx", trigger);
    wrong += read_patterns(200, generation);
    reads = 400;
  } else {
    // Until the new instance answers, and a while after; bounded, in case
    // the restart never comes.
    const uint64_t give_up = rt::read_counter() + 10 * rt::counter_frequency();
    while (generation < 2 && rt::read_counter() < give_up) {
      wrong += read_patterns(64, generation);
      reads += 64;
    }
    wrong += read_patterns(200, generation);
    reads += 200;
  }
  generation = hostile::read(hostile::kGen);
  check(generation == 2, "answered_by_the_restarted_instance", "generation %lu", generation);
  check(wrong == 0, "every_read_got_its_own_answer", "%lu of %lu wrong", wrong, reads);
  hostile::delay_ms(1000 * PAIR_INDEX);
  guest::finish(PAIR_TRIGGER ? "corrupt pair (trigger)" : "corrupt pair (bystander)");
}
