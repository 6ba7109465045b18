// Reads from the hostile server while it publishes an impossible request-
// ring head once (corrupt-head=1), in its first instance, after answering
// the read of kTrigger (corrupt_head_test). The kernel must see the broken
// ring when the server waits, report it and restart the server, and this
// guest must go on: its read answered, and the next ones answered by the
// new instance, with the state it kept.
#include <cstdint>

#include "guests/hostile_client/hostile.h"
#include "guests/lib/check.h"
#include "runtime/runtime.h"

namespace hostile = guest::hostile;
using guest::check;

void partition_main(uint64_t /*dtb*/) {
  const uint64_t magic = hostile::read(hostile::kMagic);
  const uint64_t gen = hostile::read(hostile::kGen);
  check(magic == hostile::kMagicValue && gen == 1, "first_instance_answers", "magic 0x%lx generation %lu", magic,
        gen);
  hostile::write(hostile::kScratch, 0x5eed'1234);
  const uint64_t trigger = hostile::read(hostile::kTrigger);
  check(trigger == hostile::kTriggerValue, "read_answered_before_the_corruption", "0x%lx", trigger);
  const uint64_t after = hostile::read(hostile::kGen);
  check(after == 2, "next_read_answered_by_the_new_instance", "generation %lu", after);
  const uint64_t scratch = hostile::read(hostile::kScratch);
  check(scratch == 0x5eed'1234, "state_kept_across_the_restart", "scratch 0x%lx", scratch);
  const uint64_t p = hostile::read(0x100);
  check(p == hostile::pattern(0x100), "later_reads_answered", "0x%lx", p);
  guest::finish("corrupt once");
}
