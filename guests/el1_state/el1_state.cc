// The EL1-state test's guest: puts its own value in every register of
// servers/el1_state/registers.h, then makes the EL1-state server run on its
// CPU (reads of the server's device) twice, and checks that the server never
// saw a guest value, that the server's own values survived the guest's
// turns, and that the guest's values survived the server's. What the kernel
// traps instead of switching is checked too, from this side.
#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"
#include "servers/el1_state/registers.h"
#include "servers/el1_state/trapped.h"

namespace {

using el1_state::kCount;
using el1_state::kInfo;
using guest::check;

constexpr uint64_t kDevice = 0x0900'0000;  // the server's window (tests/el1_state)

uint64_t device_read(uint64_t offset) { return *reinterpret_cast<volatile uint64_t*>(kDevice + offset); }

uint64_t g_mine[kCount];
bool g_present[kCount];

// The first register, if any, that no longer holds the guest's value.
int changed_register(uint64_t& now) {
  for (uint32_t r = 0; r < kCount; ++r) {
    if (!g_present[r]) continue;
    now = el1_state::read(r);
    if (now != g_mine[r]) return static_cast<int>(r);
  }
  return -1;
}

void check_kept(const char* name) {
  uint64_t now = 0;
  const int r = changed_register(now);
  check(r < 0, name, "%s is 0x%lx, not the guest's 0x%lx", r < 0 ? "" : kInfo[r].name, now,
        r < 0 ? 0 : g_mine[r]);
}

// Pointer-authentication keys are the guest's alone (servers trap them).
uint64_t apia_lo() {
  uint64_t v;
  asm volatile("mrs %0, S3_0_C2_C1_0" : "=r"(v));
  return v;
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  // The server answers only once its own checks are done: the console
  // then shows them first.
  check(device_read(el1_state::kCountReg) == kCount, "server_knows_the_same_registers", "%s", "another count");
  // What traps is checked before the registers are set: the exceptions it
  // takes change ELR, ESR, FAR and SPSR, which the rest of the test sets.
  el1_state::check_trapped(/*server=*/false);

  for (uint32_t r = 0; r < kCount; ++r) {
    rt::arm_catch();
    el1_state::write(r, kInfo[r].guest_value);
    g_mine[r] = el1_state::read(r);
    g_present[r] = !rt::caught().taken;
    if (!g_present[r]) rt::print("el1 state: %s is not implemented here\n", kInfo[r].name);
  }
  asm volatile("msr S3_0_C2_C1_0, %0\n\tisb" ::"r"(uint64_t{0x6a7e'0000'0000'0001}));  // APIAKeyLo_EL1
  check_kept("guest_values_set");

  uint64_t seen[kCount];
  for (uint32_t r = 0; r < kCount; ++r) seen[r] = device_read(el1_state::kSeenBase + 8 * r);
  check_kept("guest_values_kept_after_first_server_run");
  int leaked = -1;
  for (uint32_t r = 0; r < kCount && leaked < 0; ++r) {
    if (g_present[r] && seen[r] == g_mine[r]) leaked = static_cast<int>(r);
  }
  check(leaked < 0, "server_never_sees_guest_values", "the server found the guest's 0x%lx in %s",
        leaked < 0 ? 0 : g_mine[leaked], leaked < 0 ? "" : kInfo[leaked].name);

  // Second turn: the server must find what it left, not what the guest has.
  int lost = -1;
  uint64_t found = 0, left = 0;
  for (uint32_t r = 0; r < kCount; ++r) {
    const uint64_t own = device_read(el1_state::kOwnBase + 8 * r);
    const uint64_t again = device_read(el1_state::kSeenBase + 8 * r);
    if (lost < 0 && kInfo[r].server_writes && own != el1_state::kAbsent && again != own) {
      lost = static_cast<int>(r);
      found = again;
      left = own;
    }
  }
  check(lost < 0, "server_values_kept_across_guest_runs", "%s: the server left 0x%lx and found 0x%lx",
        lost < 0 ? "" : kInfo[lost].name, left, found);
  check_kept("guest_values_kept_after_second_server_run");
  check(apia_lo() == 0x6a7e'0000'0000'0001, "pointer_authentication_key_kept", "0x%lx", apia_lo());
  guest::finish("el1 state");
}
