// The register map of the hostile test server's device windows
// (hostile_server.cc), shared by the server and the test guests that drive
// it, so that both sides name the same offsets and values.
#pragma once

#include <cstdint>

namespace hyp::hostile {

inline constexpr uint64_t kWindow = 0x1000;

inline constexpr uint64_t kMagic = 0x000;    // reads kMagicValue
inline constexpr uint64_t kGen = 0x008;      // the answering instance's generation (1 = first start)
inline constexpr uint64_t kTrigger = 0x010;  // reads kTriggerValue; arms corrupt-head
inline constexpr uint64_t kScratch = 0x018;  // read/write, kept across restarts

inline constexpr uint64_t kMagicValue = 0x4c49'5453'4f48;  // "HOSTIL"
inline constexpr uint64_t kTriggerValue = 0x7e57'7e57;

// What a 64-bit read of any other 8-byte-aligned offset returns: distinct
// per offset, so a guest can tell its own answer from another one.
constexpr uint64_t pattern(uint64_t offset) { return 0xa5a5'0000'0000'0000 | offset << 16 | (offset ^ 0x5a5a); }

}  // namespace hyp::hostile
