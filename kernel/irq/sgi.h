// The kernel's software-generated interrupts. SGIs 0..7 are the kernel's
// own (with a secure world, 8..15 belong to it).
#pragma once

#include <cstdint>

namespace hyp::gic {

// Wakes a CPU that sleeps in WFI: something it may be waiting for changed
// (a vCPU became runnable, an answer or a log line arrived).
inline constexpr uint32_t kWakeSgi = 0;

}  // namespace hyp::gic
