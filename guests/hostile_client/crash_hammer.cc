// Reads and writes the hostile server's window while the server crashes on
// every request (crash-always=1) until the kernel gives up on it
// (crash_giveup_test); two or three such guests run on different CPUs.
// Every access must be either answered or aborted, and the guest must get
// through all of them. Once the server is given up on, each access must
// end in a synchronous external abort taken at this guest's EL1 vector:
// DFSC 0x10, WnR as the access, FAR the address accessed, ELR the
// instruction; the guest's PC moves on only through its handler.
//
// HAMMER_INDEX orders the summaries: each guest waits HAMMER_INDEX seconds
// after its work before printing its own.
#include <cstdint>

#include "guests/hostile_client/hostile.h"
#include "guests/lib/check.h"
#include "runtime/runtime.h"

namespace hostile = guest::hostile;
using guest::check;
using rt::Caught;

namespace {

constexpr uint64_t kEcDataAbortSameEl = 0x25;
constexpr uint64_t kDfscExternal = 0x10;
constexpr uint64_t kWnR = 1u << 6;
// FAR before each access checked: an abort that leaves FAR alone shows it.
constexpr uint64_t kStaleFar = 0xfa11'0000'0bad'0000;

bool is_external_abort(const Caught& c, bool write, uint64_t address) {
  return c.taken && (c.esr >> 26) == kEcDataAbortSameEl && (c.esr & 0x3f) == kDfscExternal &&
         ((c.esr & kWnR) != 0) == write && c.far == address;
}

void set_far(uint64_t v) { asm volatile("msr far_el1, %0\n\tisb" ::"r"(v)); }

struct Tally {
  uint64_t reads_answered = 0;
  uint64_t reads_aborted = 0;
  uint64_t writes_done = 0;
  uint64_t writes_aborted = 0;
  uint64_t wrong = 0;
  uint64_t first_wrong_esr = 0;
  uint64_t first_wrong_far = 0;
};

// One access, classified: answered (a read with its value, a write that
// completed) or aborted as the abort must look; anything else is wrong.
void access(Tally& t, uint64_t offset, bool write) {
  const uint64_t address = hostile::kBase + offset;
  rt::arm_catch();
  uint64_t value = 0;
  if (write) {
    hostile::write(offset, offset);
  } else {
    value = hostile::read(offset);
  }
  const Caught c = rt::caught();
  bool ok;
  if (!c.taken) {
    ok = write || value == hostile::pattern(offset);
    (write ? t.writes_done : t.reads_answered) += ok ? 1 : 0;
  } else {
    ok = is_external_abort(c, write, address);
    (write ? t.writes_aborted : t.reads_aborted) += ok ? 1 : 0;
  }
  if (!ok && t.wrong++ == 0) {
    t.first_wrong_esr = c.esr;
    t.first_wrong_far = c.far;
  }
}

// The accesses checked one by one after the give-up, each at a known
// instruction: `at` is its address, for ELR.
uint64_t load64(uint64_t address, uint64_t& at) {
  uint64_t v = 0x5e11'7e11;
  asm volatile("adr %1, 1f\n1: ldr %0, [%2]" : "+r"(v), "=&r"(at) : "r"(address) : "memory");
  return v;
}
uint16_t load16(uint64_t address, uint64_t& at) {
  uint32_t v = 0x7e11;
  asm volatile("adr %1, 1f\n1: ldrh %w0, [%2]" : "+r"(v), "=&r"(at) : "r"(address) : "memory");
  return static_cast<uint16_t>(v);
}
void store64(uint64_t address, uint64_t v, uint64_t& at) {
  asm volatile("adr %0, 1f\n1: str %1, [%2]" : "=&r"(at) : "r"(v), "r"(address) : "memory");
}
void store8(uint64_t address, uint8_t v, uint64_t& at) {
  asm volatile("adr %0, 1f\n1: strb %w1, [%2]" : "=&r"(at) : "r"(v), "r"(address) : "memory");
}

void check_abort(const char* name, bool write, uint64_t address, uint64_t at) {
  const Caught c = rt::caught();
  check(is_external_abort(c, write, address) && c.elr == at, name, "taken %d ESR 0x%lx FAR 0x%lx ELR 0x%lx (at 0x%lx)",
        c.taken, c.esr, c.far, c.elr, at);
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  Tally t;
  // Writes are posted (they complete at once until the give-up); a read
  // waits for its answer, which never comes, until the kernel gives up.
  for (uint64_t i = 0; i < 96; ++i) access(t, 0x100 + 8 * (i % 32), i % 3 == 1);
  check(t.wrong == 0, "every_access_answered_or_aborted",
        "%lu wrong, the first with ESR 0x%lx FAR 0x%lx (reads %lu answered %lu aborted, writes %lu done %lu aborted)",
        t.wrong, t.first_wrong_esr, t.first_wrong_far, t.reads_answered, t.reads_aborted, t.writes_done,
        t.writes_aborted);
  check(t.reads_aborted != 0 && t.reads_answered == 0, "reads_aborted_once_given_up", "%lu aborted, %lu answered",
        t.reads_aborted, t.reads_answered);
  check(t.writes_aborted != 0, "writes_aborted_once_given_up", "%lu aborted, %lu done", t.writes_aborted,
        t.writes_done);

  uint64_t at = 0;
  const uint64_t a = hostile::kBase + 0x208;
  set_far(kStaleFar);
  rt::arm_catch();
  const uint64_t v = load64(a, at);
  check_abort("read_aborts_with_far", false, a, at);
  check(v == 0x5e11'7e11, "aborted_read_leaves_its_register", "0x%lx", v);

  const uint64_t b = hostile::kBase + 0x216;
  set_far(kStaleFar);
  rt::arm_catch();
  (void)load16(b, at);
  check_abort("halfword_read_aborts_with_far", false, b, at);

  const uint64_t w = hostile::kBase + 0x220;
  set_far(kStaleFar);
  rt::arm_catch();
  store64(w, 0x1111, at);
  check_abort("write_aborts_with_wnr_and_far", true, w, at);

  const uint64_t x = hostile::kBase + 0x233;
  set_far(kStaleFar);
  rt::arm_catch();
  store8(x, 0x22, at);
  check_abort("byte_write_aborts_with_wnr_and_far", true, x, at);

  hostile::delay_ms(1000 * HAMMER_INDEX);
  guest::finish("crash hammer");
}
