// The hypercall ABI partitions use (docs/abi.md): SMC Calling Convention
// function IDs in the vendor-specific hypervisor service range (owner 6,
// SMCCC 1.4 section 6), issued with HVC #0. x0 carries the function ID and
// returns the status; x1..x7 carry arguments and results.
#pragma once

#include <cstdint>

namespace hyp::abi {

// SMCCC function-ID fields (SMCCC 1.4, 2.5).
inline constexpr uint32_t kSmcccFast = 1u << 31;
inline constexpr uint32_t kSmccc64 = 1u << 30;
inline constexpr uint32_t kSmcccOwnerShift = 24;
inline constexpr uint32_t kSmcccOwnerMask = 0x3f;

enum class SmcccOwner : uint32_t {
  kArch = 0,
  kCpu = 1,
  kSip = 2,
  kOem = 3,
  kStandardSecure = 4,  // PSCI, FF-A
  kStandardHyp = 5,
  kVendorHyp = 6,
};

constexpr SmcccOwner smccc_owner(uint32_t function_id) {
  return static_cast<SmcccOwner>((function_id >> kSmcccOwnerShift) & kSmcccOwnerMask);
}

// Arm architecture calls (SMCCC 1.4, 7).
inline constexpr uint32_t kSmcccVersion = 0x8000'0000;
inline constexpr uint32_t kSmcccArchFeatures = 0x8000'0001;
inline constexpr uint32_t kSmcccVersion1_1 = 0x1'0001;

// SMCCC "unknown function" (SMCCC 1.4, 5.2): -1, sign-extended into x0.
inline constexpr uint64_t kSmcccNotSupported = ~uint64_t{0};

// Our hypervisor calls. Status codes in x0 are hyp::Status values as a
// negative number (0 is success), see docs/abi.md.
inline constexpr uint32_t kHypVersion = 0x8600'0000;      // -> x0 = 0, x1 = ABI version (major << 16 | minor)
inline constexpr uint32_t kHypDebugPutc = 0x8600'0001;    // x1 = byte; -> x0 = 0
inline constexpr uint32_t kHypDebugWrite = 0xC600'0002;   // x1 = IPA, x2 = length (<= 256) -> x0 = 0 or error
inline constexpr uint32_t kHypAbiVersion = 0x0001'0000;  // 1.0

// Device servers (docs/servers.md).
// Server: every request taken so far is answered; returns when there is more.
inline constexpr uint32_t kHypServerWait = 0x8600'0010;  // -> x0 = 0
// Control partitions: restart server partition x1 (its partition ID) as a
// planned restart: quiesced, rebuilt from its image, resumed with its state.
inline constexpr uint32_t kHypServerRestart = 0x8600'0011;  // x1 = id -> x0 = 0 or error

inline constexpr uint64_t kHypDebugWriteMax = 256;

}  // namespace hyp::abi
