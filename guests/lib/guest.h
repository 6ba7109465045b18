// The runtime of bare-metal test guests: hypercalls, console output through
// the debug-console hypercall, exception capture, and a tiny check framework
// whose output the integration tests read.
#pragma once

#include <cstdint>

namespace guest {

struct CallResult {
  uint64_t x0, x1, x2, x3;
};

CallResult hvc(uint64_t x0, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0);
CallResult smc(uint64_t x0, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0);

void print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The registers the exception entry saved; the handler may change elr.
struct ExceptionFrame {
  uint64_t x[31];
  uint64_t elr;
  uint64_t pad;
};

// What the last synchronous exception at EL1 was.
struct Caught {
  bool taken;
  uint64_t esr;
  uint64_t far;
  uint64_t elr;
};

// Clears the record; the next exception is recorded, and the guest resumes
// after the faulting instruction (or, for an instruction abort, at the
// caller's return address in x30).
void arm_catch();
Caught caught();

// Partitions that must not go on after an exception nobody expected (device
// servers): such an exception is then reported and the partition stops with
// PSCI SYSTEM_RESET, which the kernel treats as a server failure. Exceptions
// after arm_catch() are still caught.
void set_unexpected_exceptions_fatal();

// Checks print "check NAME: ok" or "check NAME: FAILED (...)".
void check(bool ok, const char* name, const char* fmt = "", ...) __attribute__((format(printf, 3, 4)));
// Prints the summary line and returns the number of failures.
int finish(const char* suite);

[[noreturn]] void power_off();

uint64_t read_counter();        // CNTVCT_EL0
uint64_t counter_frequency();   // CNTFRQ_EL0

}  // namespace guest

// Each test guest defines this.
void guest_main(uint64_t dtb);
