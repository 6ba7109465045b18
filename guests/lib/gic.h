// A test guest's GICv3, as the package of the interrupt tests lays it out
// (tests/defs.bzl, GICV3: the distributor at 0x08000000, redistributors at
// 0x080a0000, as on QEMU's virt) and a guest OS would drive it: the CPU interface through
// ICC_* system registers, the distributor and redistributors through MMIO.
#pragma once

#include <cstdint>

#include "runtime/runtime.h"

namespace guest::gic {

inline constexpr uint64_t kDist = 0x0800'0000;
inline constexpr uint64_t kRedist = 0x080a'0000;
inline constexpr uint64_t kRedistStride = 0x2'0000;

// This vCPU's index (MPIDR_EL1.Aff0, as the kernel numbers vCPUs).
uint32_t self();

// The distributor: affinity routing is always on; group 1 enabled. Once,
// by one vCPU.
void init_distributor();
// This vCPU: its redistributor woken, its CPU interface on (system
// registers, group 1, every priority unmasked, EOI both drops and
// deactivates). IRQs stay masked at PSTATE until irqs_on().
void init_cpu();

// SGI or PPI `intid` of this vCPU: group 1, `priority`, enabled.
void enable_private(uint32_t intid, uint8_t priority);
// SPI `intid`: group 1, `priority`, level or edge, to vCPU `target`, enabled.
void enable_spi(uint32_t intid, uint8_t priority, bool edge, uint32_t target);

// SGI `intid` to the vCPUs in `targets` (bit n: vCPU n).
void send_sgi(uint32_t intid, uint16_t targets);

// The CPU interface: acknowledge (1023: nothing pending) and end.
uint32_t acknowledge();
void end(uint32_t intid);
uint8_t running_priority();

inline void irqs_on() { asm volatile("msr daifclr, #2" ::: "memory"); }
inline void irqs_off() { asm volatile("msr daifset, #2" ::: "memory"); }

// In an IRQ handler: every interrupt pending at the CPU interface, highest
// priority first, each passed to `handle` and then ended.
template <typename Handle>
void take_all(Handle handle) {
  for (uint32_t id = acknowledge(); id < 1020; id = acknowledge()) {
    handle(id);
    end(id);
  }
}

// Waits in WFI until `done()`, for something an interrupt to this vCPU
// brings. Looks with IRQs masked, so that an interrupt that comes after
// the look still ends the WFI (it is pending) and is taken once they are
// unmasked again. `give_up`: a virtual count that ends the wait too (0:
// none). Returns whether `done()`.
template <typename Done>
bool sleep_until(Done done, uint64_t give_up = 0) {
  for (;;) {
    irqs_off();
    if (done()) break;
    if (give_up != 0 && rt::read_counter() >= give_up) {
      irqs_on();
      return false;
    }
    asm volatile("wfi" ::: "memory");
    irqs_on();
  }
  irqs_on();
  return true;
}

}  // namespace guest::gic
