// PSCI function IDs and return codes (Arm DEN0022, PSCI 1.1, sections 5.1
// and 5.2.2): part of the partition ABI (docs/abi.md), and what the kernel
// itself uses to call the firmware below it.
#pragma once

#include <cstdint>

namespace hyp::psci {

inline constexpr uint32_t kVersion = 0x8400'0000;
inline constexpr uint32_t kCpuSuspend32 = 0x8400'0001;
inline constexpr uint32_t kCpuSuspend64 = 0xC400'0001;
inline constexpr uint32_t kCpuOff = 0x8400'0002;
inline constexpr uint32_t kCpuOn32 = 0x8400'0003;
inline constexpr uint32_t kCpuOn64 = 0xC400'0003;
inline constexpr uint32_t kAffinityInfo32 = 0x8400'0004;
inline constexpr uint32_t kAffinityInfo64 = 0xC400'0004;
inline constexpr uint32_t kMigrateInfoType = 0x8400'0006;
// MIGRATE_INFO_TYPE's answer: no Trusted OS that needs migrating.
inline constexpr int64_t kMigrateNotRequired = 2;
inline constexpr uint32_t kSystemOff = 0x8400'0008;
inline constexpr uint32_t kSystemReset = 0x8400'0009;
inline constexpr uint32_t kFeatures = 0x8400'000A;

enum class Ret : int32_t {
  kSuccess = 0,
  kNotSupported = -1,
  kInvalidParameters = -2,
  kDenied = -3,
  kAlreadyOn = -4,
  kOnPending = -5,
  kInternalFailure = -6,
  kNotPresent = -7,
  kDisabled = -8,
  kInvalidAddress = -9,
};

constexpr const char* ret_name(Ret r) {
  switch (r) {
    case Ret::kSuccess: return "SUCCESS";
    case Ret::kNotSupported: return "NOT_SUPPORTED";
    case Ret::kInvalidParameters: return "INVALID_PARAMETERS";
    case Ret::kDenied: return "DENIED";
    case Ret::kAlreadyOn: return "ALREADY_ON";
    case Ret::kOnPending: return "ON_PENDING";
    case Ret::kInternalFailure: return "INTERNAL_FAILURE";
    case Ret::kNotPresent: return "NOT_PRESENT";
    case Ret::kDisabled: return "DISABLED";
    case Ret::kInvalidAddress: return "INVALID_ADDRESS";
  }
  return "unknown PSCI return code";
}

}  // namespace hyp::psci
