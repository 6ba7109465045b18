// MAIR_EL2 layout shared by descriptor encoding (mm.cc) and MMU setup (mmu.cc).
#pragma once

#include <cstdint>

namespace hyp::arch {

inline constexpr uint64_t kMairIndexDevice = 0;  // Device-nGnRnE
inline constexpr uint64_t kMairIndexNormal = 1;  // Normal, inner/outer write-back, read/write-allocate
inline constexpr uint64_t kMairValue = (uint64_t{0x00} << (8 * kMairIndexDevice)) | (uint64_t{0xff} << (8 * kMairIndexNormal));

}  // namespace hyp::arch
