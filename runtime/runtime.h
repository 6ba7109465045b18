// The EL1 runtime every partition image links, test guests and device
// servers alike: entry (start.S), exception vectors, hypercalls, console
// output through the debug-console hypercall, exception capture, power-off.
// Guest helpers (guests/lib) and the server runtime (servers/lib) build on it.
#pragma once

#include <cstdarg>
#include <cstdint>

namespace rt {

struct CallResult {
  uint64_t x0, x1, x2, x3;
};

CallResult hvc(uint64_t x0, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0);
// With a fifth argument register (x4), and a sixth (x5).
CallResult hvc5(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4);
CallResult hvc6(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4, uint64_t x5);
CallResult smc(uint64_t x0, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0);

void print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char* fmt, va_list args);

// The registers the exception entry saved; the handler may change elr.
struct ExceptionFrame {
  uint64_t x[31];
  uint64_t elr;
  uint64_t spsr;
};

// What the last synchronous exception at EL1 was.
struct Caught {
  bool taken;
  uint64_t esr;
  uint64_t far;
  uint64_t elr;
};

// Clears the record; the next exception is recorded, and the partition resumes
// after the faulting instruction (or, for an instruction abort, at the
// caller's return address in x30).
void arm_catch();
Caught caught();

// Partitions that must not go on after an exception nobody expected (device
// servers): such an exception is then reported and the partition stops with
// PSCI SYSTEM_RESET, which the kernel treats as a server failure. Exceptions
// after arm_catch() are still caught.
void set_unexpected_exceptions_fatal();

[[noreturn]] void power_off();

// Other vCPUs (PSCI). A vCPU started with cpu_on() runs fn(arg) on its own
// stack (`stack_top`, 16-byte aligned), with the same vectors as the boot
// vCPU; when fn returns, the vCPU turns itself off. `start` must stay
// valid until the vCPU runs.
struct SecondaryStart {
  uint64_t stack_top;
  void (*fn)(uint64_t);
  uint64_t arg;
};
// PSCI CPU_ON for the vCPU with MPIDR affinity `mpidr`: 0 or PSCI's
// (negative) error.
int64_t cpu_on(uint64_t mpidr, const SecondaryStart* start);
// PSCI CPU_OFF for the calling vCPU.
[[noreturn]] void cpu_off();
// PSCI AFFINITY_INFO at the lowest level: 0 on, 1 off, 2 on pending.
int64_t affinity_info(uint64_t mpidr);
// Waits in WFI until the virtual counter reaches `deadline`, with the
// virtual timer set to end the wait (interrupts stay masked: WFI ends
// without taking one). Other wake-ups are waited out.
void sleep_until(uint64_t deadline);

uint64_t read_counter();        // CNTVCT_EL0
uint64_t counter_frequency();   // CNTFRQ_EL0

}  // namespace rt

// IRQs taken at EL1 go to partition_irq(frame), which an image that unmasks
// them defines (guests/lib/gic.h); without one, an IRQ is reported and the
// vCPU parks.
extern "C" void partition_irq(rt::ExceptionFrame* frame);

// Each partition image defines this: called at EL1, MMU off, with x0 as the
// kernel set it (a guest's device tree). Returning powers the partition off.
void partition_main(uint64_t dtb);
