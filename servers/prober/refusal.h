// What the probing servers check: an access the kernel refuses, as a
// partition sees it.
#pragma once

#include <cstdint>

#include "runtime/runtime.h"

namespace probe {

// The kernel's answer to an access to nothing: a data abort at this EL
// (EC 0x25) reporting a synchronous external abort (DFSC 0x10). A stage-1
// fault of the server's own tables would report a translation fault.
inline bool kernel_refusal(const rt::Caught& c) {
  return c.taken && (c.esr >> 26) == 0x25 && (c.esr & 0x3f) == 0x10;
}

// Reads `ipa` with the exception catch armed; true if the kernel refused it.
inline bool refused(uint64_t ipa) {
  rt::arm_catch();
  const uint32_t value = *reinterpret_cast<volatile uint32_t*>(ipa);
  (void)value;
  const rt::Caught c = rt::caught();
  return kernel_refusal(c) && c.far == ipa;
}

}  // namespace probe
