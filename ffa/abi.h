// The Arm Firmware Framework for A-profile (FF-A, DEN0077) as partitions and
// the kernel speak it: function IDs, error codes, versions, register
// packings and the fixed-layout structures. Freestanding; shared by the
// kernel, servers, test guests and host tests. docs/ffa.md says which calls
// the kernel implements and how.
//
// Every FF-A call is an SMCCC fast call of the standard secure service
// (owner 4), issued with HVC #0 or SMC #0. The 32-bit form (SMC32) carries
// 32-bit values in w0..w7; the 64-bit form (SMC64) 64-bit values in x0..x17.
// Results come back in the same registers: x0 = FFA_SUCCESS with results
// from x2, or FFA_ERROR with the error code in w2, or, for the calls that
// wait, the function ID of what ended the wait.
#pragma once

#include <cstdint>

namespace hyp::ffa {

// ---- Function IDs ------------------------------------------------------

inline constexpr uint32_t kSmc32 = 0x8400'0000;  // fast, SMC32, owner 4
inline constexpr uint32_t kSmc64 = 0xC400'0000;  // fast, SMC64, owner 4

inline constexpr uint32_t kError = 0x8400'0060;
inline constexpr uint32_t kSuccess32 = 0x8400'0061;
inline constexpr uint32_t kSuccess64 = 0xC400'0061;
inline constexpr uint32_t kInterrupt = 0x8400'0062;
inline constexpr uint32_t kVersion = 0x8400'0063;
inline constexpr uint32_t kFeatures = 0x8400'0064;
inline constexpr uint32_t kRxRelease = 0x8400'0065;
inline constexpr uint32_t kRxtxMap32 = 0x8400'0066;
inline constexpr uint32_t kRxtxMap64 = 0xC400'0066;
inline constexpr uint32_t kRxtxUnmap = 0x8400'0067;
inline constexpr uint32_t kPartitionInfoGet = 0x8400'0068;
inline constexpr uint32_t kIdGet = 0x8400'0069;
inline constexpr uint32_t kMsgPoll = 0x8400'006A;  // FF-A 1.0 only
inline constexpr uint32_t kMsgWait = 0x8400'006B;
inline constexpr uint32_t kYield = 0x8400'006C;
inline constexpr uint32_t kRun = 0x8400'006D;
inline constexpr uint32_t kMsgSend = 0x8400'006E;  // FF-A 1.0 only
inline constexpr uint32_t kMsgSendDirectReq32 = 0x8400'006F;
inline constexpr uint32_t kMsgSendDirectReq64 = 0xC400'006F;
inline constexpr uint32_t kMsgSendDirectResp32 = 0x8400'0070;
inline constexpr uint32_t kMsgSendDirectResp64 = 0xC400'0070;
inline constexpr uint32_t kMemDonate32 = 0x8400'0071;
inline constexpr uint32_t kMemDonate64 = 0xC400'0071;
inline constexpr uint32_t kMemLend32 = 0x8400'0072;
inline constexpr uint32_t kMemLend64 = 0xC400'0072;
inline constexpr uint32_t kMemShare32 = 0x8400'0073;
inline constexpr uint32_t kMemShare64 = 0xC400'0073;
inline constexpr uint32_t kMemRetrieveReq32 = 0x8400'0074;
inline constexpr uint32_t kMemRetrieveReq64 = 0xC400'0074;
inline constexpr uint32_t kMemRetrieveResp = 0x8400'0075;
inline constexpr uint32_t kMemRelinquish = 0x8400'0076;
inline constexpr uint32_t kMemReclaim = 0x8400'0077;
inline constexpr uint32_t kMemFragRx = 0x8400'007A;
inline constexpr uint32_t kMemFragTx = 0x8400'007B;
inline constexpr uint32_t kNotificationBitmapCreate = 0x8400'007D;
inline constexpr uint32_t kNotificationBitmapDestroy = 0x8400'007E;
inline constexpr uint32_t kNotificationBind = 0x8400'007F;
inline constexpr uint32_t kNotificationUnbind = 0x8400'0080;
inline constexpr uint32_t kNotificationSet = 0x8400'0081;
inline constexpr uint32_t kNotificationGet = 0x8400'0082;
inline constexpr uint32_t kNotificationInfoGet32 = 0x8400'0083;
inline constexpr uint32_t kNotificationInfoGet64 = 0xC400'0083;
inline constexpr uint32_t kRxAcquire = 0x8400'0084;
inline constexpr uint32_t kSpmIdGet = 0x8400'0085;
inline constexpr uint32_t kMsgSend2 = 0x8400'0086;
inline constexpr uint32_t kPartitionInfoGetRegs = 0xC400'008B;  // FF-A 1.2, SMC64 only

// The function numbers SMCCC gives FF-A: 0x60..0xEF of the standard secure
// service, in both conventions. Every one of them is answered (most with
// NOT_SUPPORTED); the rest of the owner's range is PSCI's and TRNG's.
inline constexpr uint32_t kFirstFunction = 0x60;
inline constexpr uint32_t kLastFunction = 0xEF;

// Bit 16 of an SMCCC function ID is the caller's hint that it keeps no live
// SVE state (SMCCC 1.3); it is not part of the ID.
inline constexpr uint32_t kSveHint = 1u << 16;

// Whether `fid` (SVE hint removed) is in FF-A's range.
constexpr bool is_ffa(uint32_t fid) {
  const uint32_t base = fid & 0xffff'ff00;
  const uint32_t number = fid & 0xff;
  return (base == kSmc32 || base == kSmc64) && number >= kFirstFunction && number <= kLastFunction;
}

constexpr bool is_smc64(uint32_t fid) { return (fid & (1u << 30)) != 0; }

// ---- Errors ------------------------------------------------------------

// Returned as FFA_ERROR with the code in w2, a negative 32-bit value. The
// upper half of x2 is zero (w2 is the value; x2 is not sign-extended), but
// FFA_VERSION's NOT_SUPPORTED, which is all of x0/w0.
enum class Error : int32_t {
  kNotSupported = -1,
  kInvalidParameters = -2,
  kNoMemory = -3,
  kBusy = -4,
  kInterrupted = -5,
  kDenied = -6,
  kRetry = -7,
  kAborted = -8,
  kNoData = -9,
};

constexpr uint64_t error_word(Error e) { return static_cast<uint32_t>(static_cast<int32_t>(e)); }

// ---- Versions ----------------------------------------------------------

// [30:16] major, [15:0] minor; bit 31 must be zero.
constexpr uint32_t make_version(uint32_t major, uint32_t minor) { return (major << 16) | minor; }
constexpr uint32_t version_major(uint32_t v) { return (v >> 16) & 0x7fff; }
constexpr uint32_t version_minor(uint32_t v) { return v & 0xffff; }
inline constexpr uint32_t kVersion1_0 = make_version(1, 0);
inline constexpr uint32_t kVersion1_1 = make_version(1, 1);
inline constexpr uint32_t kVersion1_2 = make_version(1, 2);
// FFA_VERSION's answer when the caller's version cannot be served: w0 = -1.
inline constexpr uint64_t kVersionNotSupported = 0xffff'ffff;

// A callee at `callee` serves a caller at `caller` if the majors match and
// the caller asks for no newer minor.
constexpr bool version_compatible(uint32_t caller, uint32_t callee) {
  return (caller >> 31) == 0 && version_major(caller) == version_major(callee) &&
         version_minor(caller) <= version_minor(callee);
}

// ---- IDs ---------------------------------------------------------------

// Partition IDs are 16 bits; bit 15 set names the secure world. 0 is the
// hypervisor.
inline constexpr uint16_t kHypervisorId = 0;
inline constexpr uint16_t kSecureIdBit = 0x8000;

// w1 of the messaging and notification calls: [31:16] one ID, [15:0] another.
constexpr uint32_t pack_ids(uint16_t high, uint16_t low) { return (uint32_t{high} << 16) | low; }
constexpr uint16_t high_id(uint64_t w1) { return static_cast<uint16_t>(w1 >> 16); }
constexpr uint16_t low_id(uint64_t w1) { return static_cast<uint16_t>(w1); }

// ---- FFA_FEATURES ------------------------------------------------------

// w1 with bit 31 clear names a feature, not a function: its ID in [7:0].
enum class FeatureId : uint32_t {
  kNotificationPendingInterrupt = 1,
  kScheduleReceiverInterrupt = 2,
  kManagedExitInterrupt = 3,
};

// FFA_FEATURES(FFA_RXTX_MAP) w2: [1:0] the buffers' minimum size and
// alignment (0: 4 KiB), [31:16] (FF-A 1.2) their largest size in pages.
inline constexpr uint32_t kRxtxMin4K = 0;
inline constexpr int kRxtxMaxPagesShift = 16;

// ---- FFA_RXTX_MAP ------------------------------------------------------

inline constexpr uint64_t kBufferPageSize = 4096;  // the unit of w3
inline constexpr uint32_t kRxtxPageCountMask = 0x3f;  // w3 [5:0]

// ---- Partition information ---------------------------------------------

// A UUID as FF-A carries it: four 32-bit words, each the little-endian
// value of four of the UUID's bytes in string order (so
// 486178e0-e7f8-11e3-... has words[0] = 0xe0786148). In memory, the words
// stored little-endian are the UUID's bytes in string order.
struct Uuid {
  uint32_t words[4] = {};

  constexpr bool is_nil() const { return (words[0] | words[1] | words[2] | words[3]) == 0; }
  friend constexpr bool operator==(const Uuid& a, const Uuid& b) {
    return a.words[0] == b.words[0] && a.words[1] == b.words[1] && a.words[2] == b.words[2] &&
           a.words[3] == b.words[3];
  }
  // The register forms of FF-A 1.2: bytes 0-7 and 8-15 as little-endian u64.
  constexpr uint64_t low64() const { return (uint64_t{words[1]} << 32) | words[0]; }
  constexpr uint64_t high64() const { return (uint64_t{words[3]} << 32) | words[2]; }
};

// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex digits of either case,
// exactly that shape). False, `out` untouched, for anything else.
bool parse_uuid(const char* text, Uuid& out);

// Partition properties (the descriptor's word at offset 4).
namespace properties {
inline constexpr uint32_t kDirectReceive = 1u << 0;  // receives FFA_MSG_SEND_DIRECT_REQ
inline constexpr uint32_t kDirectSend = 1u << 1;     // sends FFA_MSG_SEND_DIRECT_REQ
inline constexpr uint32_t kIndirect = 1u << 2;       // sends and receives FFA_MSG_SEND2
inline constexpr uint32_t kNotifications = 1u << 3;  // receives notifications (FF-A 1.1)
// [5:4] the ID's type: 0 = a PE endpoint (offset 2 counts execution contexts).
inline constexpr uint32_t kAarch64 = 1u << 8;  // FF-A 1.1
// What an FF-A 1.0 caller is told: the bits its version defines.
inline constexpr uint32_t kVersion1_0Mask = 0x7;
}  // namespace properties

// The partition information descriptor (FF-A 1.1 and 1.2: 24 bytes; an FF-A
// 1.0 caller gets the first 8).
struct PartitionInfo {
  uint16_t id = 0;
  uint16_t contexts = 0;  // execution contexts (vCPUs)
  uint32_t properties = 0;
  Uuid uuid{};
};
inline constexpr uint32_t kPartitionInfoSize = 24;
inline constexpr uint32_t kPartitionInfoSize1_0 = 8;

// FFA_PARTITION_INFO_GET w5.
inline constexpr uint32_t kInfoCountOnly = 1u << 0;

// FFA_PARTITION_INFO_GET_REGS: x3 [15:0] the first index wanted, [31:16]
// the caller's tag (0: a fresh query); at most this many descriptors in
// x3..x17, three registers each.
inline constexpr uint32_t kInfoRegsPerCall = 5;

// Writes `info` for a caller of FF-A `version` at `out` (which holds at
// least partition_info_size(version) bytes), little-endian.
void write_partition_info(const PartitionInfo& info, uint32_t version, uint8_t* out);
constexpr uint32_t partition_info_size(uint32_t version) {
  return version == kVersion1_0 ? kPartitionInfoSize1_0 : kPartitionInfoSize;
}
// Reads a descriptor of `size` bytes (24, or 8 for FF-A 1.0) at `in`.
PartitionInfo read_partition_info(const uint8_t* in, uint32_t size);

// The first register of a descriptor in FFA_PARTITION_INFO_GET_REGS.
constexpr uint64_t partition_info_reg(const PartitionInfo& p) {
  return p.id | (uint64_t{p.contexts} << 16) | (uint64_t{p.properties} << 32);
}

// ---- Direct messages ---------------------------------------------------

// w2 of FFA_MSG_SEND_DIRECT_REQ/RESP: bit 31 marks a framework message
// (type in [7:0]); a partition message has w2 = 0.
inline constexpr uint32_t kFrameworkMessage = 1u << 31;
inline constexpr int kDirectPayloadFirst = 3;  // x3..x7
inline constexpr int kDirectPayloadCount = 5;

// ---- FFA_MSG_WAIT ------------------------------------------------------

// w2 (FF-A 1.2): keep the RX buffer (no implicit FFA_RX_RELEASE).
inline constexpr uint32_t kWaitRetainRx = 1u << 0;

// ---- Indirect messages (FFA_MSG_SEND2) ---------------------------------

// The header at offset 0 of the sender's TX buffer, copied with the
// payload to offset 0 of the receiver's RX buffer. FF-A 1.1: 20 bytes, the
// payload at offset 20. FF-A 1.2 adds a reserved word and the UUID of the
// protocol: 40 bytes, the payload at offset 40 or later.
struct MessageHeader {
  uint32_t flags = 0;     // must be 0
  uint32_t reserved = 0;  // must be 0
  uint32_t offset = 0;    // of the payload from the start of the buffer
  uint16_t sender = 0;    // the word at 12: [31:16]
  uint16_t receiver = 0;  //                 [15:0]
  uint32_t size = 0;      // of the payload
  Uuid uuid{};            // FF-A 1.2 headers only (offset >= 40)
};
inline constexpr uint32_t kMessageHeaderSize1_1 = 20;
inline constexpr uint32_t kMessageHeaderSize1_2 = 40;

// Reads and checks the header at the start of `buffer` (`size` bytes): the
// flags and reserved fields zero, the payload at offset 20 (an FF-A 1.1
// header) or at 40 or beyond (1.2, whose second reserved word must be zero
// too), and the payload inside the buffer. Reads nothing outside
// [buffer, buffer + size). The IDs are the caller's to check.
bool parse_message_header(const uint8_t* buffer, uint64_t size, MessageHeader& out);
// The same checks on a copy of the header's 40 bytes (what a reader takes
// once from a buffer its writer may change meanwhile), for a buffer of
// `size` bytes (at least 40).
bool check_message_header(const uint8_t (&header)[kMessageHeaderSize1_2], uint64_t size, MessageHeader& out);
// Writes `h` (20 bytes, or 40 if h.offset >= 40) at `out`.
void write_message_header(const MessageHeader& h, uint8_t* out);

// ---- Notifications -----------------------------------------------------

inline constexpr uint32_t kNotificationCount = 64;

// FFA_NOTIFICATION_BIND w2 and FFA_NOTIFICATION_SET w2 [0].
inline constexpr uint32_t kNotificationPerVcpu = 1u << 0;
// FFA_NOTIFICATION_SET w2: [1] delay the schedule receiver interrupt,
// [31:16] the vCPU of a per-vCPU notification; [15:2] must be zero.
inline constexpr uint32_t kNotificationDelaySri = 1u << 1;
inline constexpr int kNotificationVcpuShift = 16;
// FFA_NOTIFICATION_GET w2: which bitmaps to return (and clear).
inline constexpr uint32_t kGetFromSps = 1u << 0;         // w2/w3
inline constexpr uint32_t kGetFromVms = 1u << 1;         // w4/w5
inline constexpr uint32_t kGetFromSpm = 1u << 2;         // w6
inline constexpr uint32_t kGetFromHypervisor = 1u << 3;  // w7
// The framework notification bit "RX buffer full" in w6/w7.
inline constexpr uint32_t kFrameworkRxFull = 1u << 0;

// A 64-bit notification bitmap from two 32-bit registers.
constexpr uint64_t bitmap_of(uint64_t low, uint64_t high) { return ((high & 0xffff'ffff) << 32) | (low & 0xffff'ffff); }

}  // namespace hyp::ffa
