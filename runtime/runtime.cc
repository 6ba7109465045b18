#include "runtime/runtime.h"

#include <cstdarg>
#include <cstddef>

#include "base/format.h"
#include "ipc/hypercall.h"
#include "ipc/psci.h"

extern "C" char partition_secondary_entry[];  // start.S

namespace rt {
namespace {

Caught g_caught;
bool g_armed;
bool g_fatal;

CallResult call(bool use_smc, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3) {
  register uint64_t x0 asm("x0") = a0;
  register uint64_t x1 asm("x1") = a1;
  register uint64_t x2 asm("x2") = a2;
  register uint64_t x3 asm("x3") = a3;
  if (use_smc) {
    asm volatile("smc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : : "memory");
  } else {
    asm volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : : "memory");
  }
  return {x0, x1, x2, x3};
}

void write(const char* text, size_t len) {
  // The buffer is in RAM, whose IPA equals its address (MMU off).
  while (len > 0) {
    const size_t chunk = len < hyp::abi::kHypDebugWriteMax ? len : hyp::abi::kHypDebugWriteMax;
    hvc(hyp::abi::kHypDebugWrite, reinterpret_cast<uint64_t>(text), chunk);
    text += chunk;
    len -= chunk;
  }
}

}  // namespace

void vprint(const char* fmt, va_list args) {
  char buf[256];
  size_t n = hyp::vformat(buf, sizeof(buf), fmt, args);
  if (n >= sizeof(buf)) n = sizeof(buf) - 1;
  write(buf, n);
}

CallResult hvc(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3) { return call(false, x0, x1, x2, x3); }
CallResult hvc5(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4) {
  return hvc6(x0, x1, x2, x3, x4, 0);
}
CallResult hvc6(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4, uint64_t x5) {
  register uint64_t r0 asm("x0") = x0;
  register uint64_t r1 asm("x1") = x1;
  register uint64_t r2 asm("x2") = x2;
  register uint64_t r3 asm("x3") = x3;
  register uint64_t r4 asm("x4") = x4;
  register uint64_t r5 asm("x5") = x5;
  asm volatile("hvc #0" : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "+r"(r4), "+r"(r5) : : "memory");
  return {r0, r1, r2, r3};
}
CallResult smc(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3) { return call(true, x0, x1, x2, x3); }

void print(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vprint(fmt, args);
  va_end(args);
}

void arm_catch() {
  g_caught = {};
  g_armed = true;
}

void set_unexpected_exceptions_fatal() { g_fatal = true; }
Caught caught() { return g_caught; }

[[noreturn]] void power_off() {
  hvc(hyp::psci::kSystemOff);
  for (;;) asm volatile("wfi");
}

int64_t cpu_on(uint64_t mpidr, const SecondaryStart* start) {
  return static_cast<int64_t>(hvc(hyp::psci::kCpuOn64, mpidr, reinterpret_cast<uint64_t>(partition_secondary_entry),
                                  reinterpret_cast<uint64_t>(start))
                                  .x0);
}

[[noreturn]] void cpu_off() {
  hvc(hyp::psci::kCpuOff);
  for (;;) asm volatile("wfi");
}

int64_t affinity_info(uint64_t mpidr) {
  return static_cast<int64_t>(hvc(hyp::psci::kAffinityInfo64, mpidr, 0).x0);
}

void sleep_until(uint64_t deadline) {
  // CNTV_CTL_EL0: ENABLE, IMASK clear (the condition ends WFI; PSTATE.I
  // keeps the interrupt from being taken).
  asm volatile("msr cntv_cval_el0, %0\n\tmov x1, #1\n\tmsr cntv_ctl_el0, x1\n\tisb" ::"r"(deadline) : "x1");
  while (read_counter() < deadline) asm volatile("wfi" ::: "memory");
  asm volatile("msr cntv_ctl_el0, xzr\n\tisb");
}

uint64_t read_counter() {
  uint64_t v;
  asm volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v));
  return v;
}

uint64_t counter_frequency() {
  uint64_t v;
  asm volatile("mrs %0, cntfrq_el0" : "=r"(v));
  return v;
}

}  // namespace rt

extern "C" void partition_exception(rt::ExceptionFrame* frame) {
  uint64_t esr;
  uint64_t far;
  asm volatile("mrs %0, esr_el1\n\tmrs %1, far_el1" : "=r"(esr), "=r"(far));
  rt::g_caught = {true, esr, far, frame->elr};
  const uint64_t ec = esr >> 26;
  if (rt::g_fatal && !rt::g_armed) {
    rt::print("fatal: exception EC 0x%lx at pc 0x%lx (ESR 0x%lx, FAR 0x%lx)\n", ec, frame->elr, esr, far);
    rt::hvc(hyp::psci::kSystemReset);
    for (;;) asm volatile("wfi");
  }
  rt::g_armed = false;
  if (ec == 0x20 || ec == 0x21) {
    frame->elr = frame->x[30];  // a fetch fault: return to the caller
  } else {
    frame->elr += 4;
  }
}

extern "C" [[gnu::weak]] void partition_irq(rt::ExceptionFrame* frame) {
  rt::print("unexpected IRQ at pc 0x%lx\n", frame->elr);
  for (;;) asm volatile("wfi");
}

extern "C" [[noreturn]] void partition_power_off() { rt::power_off(); }

extern "C" [[noreturn]] void partition_cpu_off() { rt::cpu_off(); }

extern "C" void partition_entry_main(uint64_t dtb) { partition_main(dtb); }
