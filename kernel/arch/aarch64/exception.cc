// Reports an exception the kernel did not expect: which vector, the syndrome
// decoded far enough to read, and every general register. Then parks the CPU.
#include <cstdint>

#include "kernel/arch/aarch64/exception_frame.h"
#include "kernel/arch/cpu.h"
#include "kernel/console.h"

namespace hyp::arch {
namespace {

constexpr const char* kVectorNames[16] = {
    "synchronous, current EL with SP_EL0", "IRQ, current EL with SP_EL0", "FIQ, current EL with SP_EL0",
    "SError, current EL with SP_EL0",      "synchronous, current EL",     "IRQ, current EL",
    "FIQ, current EL",                     "SError, current EL",          "synchronous, lower EL (AArch64)",
    "IRQ, lower EL (AArch64)",             "FIQ, lower EL (AArch64)",     "SError, lower EL (AArch64)",
    "synchronous, lower EL (AArch32)",     "IRQ, lower EL (AArch32)",     "FIQ, lower EL (AArch32)",
    "SError, lower EL (AArch32)",
};

// ESR_ELx.EC values (Arm ARM D17.2.37) that can reach EL2 unexpectedly.
struct EcName {
  uint8_t ec;
  const char* name;
};
constexpr EcName kEcNames[] = {
    {0x00, "unknown reason"},
    {0x01, "WFI/WFE"},
    {0x07, "FP/SIMD access"},
    {0x0e, "illegal execution state"},
    {0x15, "SVC (AArch64)"},
    {0x16, "HVC (AArch64)"},
    {0x17, "SMC (AArch64)"},
    {0x18, "system register access"},
    {0x19, "SVE access"},
    {0x20, "instruction abort, lower EL"},
    {0x21, "instruction abort, current EL"},
    {0x22, "PC alignment fault"},
    {0x24, "data abort, lower EL"},
    {0x25, "data abort, current EL"},
    {0x26, "SP alignment fault"},
    {0x2f, "SError"},
    {0x3c, "BRK"},
};

const char* ec_name(uint64_t ec) {
  for (const auto& e : kEcNames) {
    if (e.ec == ec) return e.name;
  }
  return "unrecognized exception class";
}

}  // namespace
}  // namespace hyp::arch

extern "C" [[noreturn]] void report_unexpected_exception(const hyp::arch::ExceptionFrame* frame, uint64_t vector) {
  using hyp::console::print_fatal;
  const uint64_t ec = (frame->esr >> 26) & 0x3f;
  print_fatal("\nPANIC: unexpected exception on CPU with MPIDR 0x%lx: %s\n", hyp::arch::current_mpidr(),
              vector < 16 ? hyp::arch::kVectorNames[vector] : "bad vector");
  print_fatal("  ESR_EL2 0x%016lx (EC 0x%02lx: %s, ISS 0x%07lx)\n", frame->esr, ec, hyp::arch::ec_name(ec),
              frame->esr & 0x1ff'ffff);
  print_fatal("  ELR_EL2 0x%016lx  FAR_EL2 0x%016lx  SPSR_EL2 0x%016lx\n", frame->elr, frame->far, frame->spsr);
  for (int i = 0; i < 31; i += 2) {
    if (i == 30) {
      print_fatal("  x30 0x%016lx  sp  0x%016lx\n", frame->x[30], frame->sp);
    } else {
      print_fatal("  x%-2d 0x%016lx  x%-2d 0x%016lx\n", i, frame->x[i], i + 1, frame->x[i + 1]);
    }
  }
  print_fatal("PANIC: CPU halted\n");
  hyp::arch::halt();
}
