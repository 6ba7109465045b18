// Architecture interface for device register access. Device memory the kernel
// touches is identity-mapped at EL2, so a physical address names the register.
#pragma once

#include <cstdint>

#include "base/addr.h"

namespace hyp::arch {

uint32_t mmio_read32(Pa reg);
void mmio_write32(Pa reg, uint32_t value);

}  // namespace hyp::arch
