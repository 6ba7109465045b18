// FF-A memory management descriptors (DEN0077 1.1 and 1.2, "Memory
// management interfaces"): the memory transaction descriptor carried by
// FFA_MEM_SHARE, _LEND, _DONATE and FFA_MEM_RETRIEVE_REQ/_RESP, its
// endpoint memory access descriptors, the composite memory region with its
// address ranges, and the FFA_MEM_RELINQUISH descriptor. Writers, and
// checked readers: every field a partition supplies is validated, and
// nothing outside the buffer a reader is given is read. Freestanding.
//
// Layout (little-endian, offsets in bytes):
//
//   transaction  0 sender ID (2)      2 attributes (2)   4 flags (4)
//                8 handle (8)        16 tag (8)         24 access size (4)
//               28 access count (4)  32 access offset (4) 36 reserved (12)
//   access       0 receiver ID (2)    2 permissions (1)  3 flags (1)
//                4 composite offset (4)
//                8 reserved (8)                                 FF-A 1.1: 16
//                8 implementation-defined (16), 24 reserved (8) FF-A 1.2: 32
//   composite    0 total pages (4)    4 range count (4)  8 reserved (8)
//   range        0 address (8)        8 pages (4)       12 reserved (4)
//   relinquish   0 handle (8)         8 flags (4)       12 endpoint count (4)
//               16 endpoint IDs (2 each)
//
// FF-A 1.0's transaction header (32 bytes, an 8-bit attribute field, no
// access size or offset) is not read: memory calls from an FF-A 1.0 caller
// are refused (docs/ffa.md).
#pragma once

#include <cstdint>

#include "ffa/abi.h"

namespace hyp::ffa {

// FF-A counts memory in 4 KiB pages, whatever the translation granule.
inline constexpr uint64_t kMemPageSize = 4096;

inline constexpr uint32_t kTransactionSize = 48;
inline constexpr uint32_t kAccessSize1_1 = 16;
inline constexpr uint32_t kAccessSize1_2 = 32;
inline constexpr uint32_t kCompositeSize = 16;
inline constexpr uint32_t kRangeSize = 16;
inline constexpr uint32_t kRelinquishSize = 16;  // without its endpoint IDs

// The most receivers one transaction may name (the kernel's limit).
inline constexpr uint32_t kMaxReceivers = 4;

// ---- Handles ----------------------------------------------------------------

// Bit 63 set: the hypervisor allocated the handle (clear: the SPMC did).
inline constexpr uint64_t kHandleHypervisor = uint64_t{1} << 63;
inline constexpr uint64_t kHandleInvalid = ~uint64_t{0};

// A handle from the two 32-bit registers that carry it (low word first).
constexpr uint64_t handle_of(uint64_t low, uint64_t high) { return (low & 0xffff'ffff) | ((high & 0xffff'ffff) << 32); }

// ---- Memory region attributes -----------------------------------------------

// [5:4] type; [3:2] cacheability (Normal) or device kind (Device); [1:0]
// shareability; [6] NS, the relayer's to set in a retrieve response;
// [15:7] zero.
enum class MemoryType : uint8_t { kUnspecified = 0, kDevice = 1, kNormal = 2 };
inline constexpr uint8_t kNonCacheable = 1;
inline constexpr uint8_t kWriteBack = 3;
inline constexpr uint8_t kDeviceNgnrne = 0;
inline constexpr uint8_t kNonShareable = 0;
inline constexpr uint8_t kOuterShareable = 2;
inline constexpr uint8_t kInnerShareable = 3;
inline constexpr uint16_t kAttributeNs = 1u << 6;

struct MemoryAttributes {
  MemoryType type = MemoryType::kUnspecified;
  uint8_t cacheability = 0;  // or the device kind
  uint8_t shareability = 0;

  constexpr bool operator==(const MemoryAttributes&) const = default;
};

constexpr uint16_t encode_attributes(const MemoryAttributes& a) {
  return static_cast<uint16_t>((uint32_t{static_cast<uint8_t>(a.type)} << 4) | ((a.cacheability & 3u) << 2) |
                               (a.shareability & 3u));
}

// Normal, write-back, inner shareable: what shared RAM is.
inline constexpr MemoryAttributes kNormalMemory{MemoryType::kNormal, kWriteBack, kInnerShareable};

// `raw` decoded, if it is a valid encoding: NS clear, bits [15:7] zero, no
// reserved type, cacheability or shareability, and nothing but zeros with
// an unspecified type.
bool decode_attributes(uint16_t raw, MemoryAttributes& out);

// ---- Flags ------------------------------------------------------------------

// What kind of transaction: the retrieve flags' [4:3].
enum class Transfer : uint8_t { kUnspecified = 0, kShare = 1, kLend = 2, kDonate = 3 };

// FFA_MEM_SHARE/_LEND/_DONATE: [0] clear the memory before the receivers
// map it (not for a share), [1] the operation may be time-sliced.
inline constexpr uint32_t kMemClear = 1u << 0;
inline constexpr uint32_t kMemTimeSlice = 1u << 1;
// FFA_MEM_RETRIEVE_REQ: [0] clear before retrieving, [1] time slicing, [2]
// clear after relinquishing, [4:3] the transaction's kind, [8:5] an address
// range alignment hint with [9] saying it is valid, [10] bypass the check
// of the borrower count.
inline constexpr uint32_t kRetrieveClearBefore = 1u << 0;
inline constexpr uint32_t kRetrieveTimeSlice = 1u << 1;
inline constexpr uint32_t kRetrieveClearAfter = 1u << 2;
inline constexpr int kRetrieveTransferShift = 3;
inline constexpr uint32_t kRetrieveTransferMask = 3u << kRetrieveTransferShift;
inline constexpr uint32_t kRetrieveHintMask = 0x1fu << 5;  // [9:5]
inline constexpr uint32_t kRetrieveBypassBorrowers = 1u << 10;
constexpr Transfer transfer_of(uint32_t retrieve_flags) {
  return static_cast<Transfer>((retrieve_flags & kRetrieveTransferMask) >> kRetrieveTransferShift);
}
constexpr uint32_t transfer_flags(Transfer t) { return static_cast<uint32_t>(t) << kRetrieveTransferShift; }

// FFA_MEM_RELINQUISH: [0] clear the memory after it is relinquished, [1]
// time slicing. FFA_MEM_RECLAIM w3: [0] clear before the owner has it back,
// [1] time slicing.
inline constexpr uint32_t kRelinquishClear = 1u << 0;
inline constexpr uint32_t kRelinquishTimeSlice = 1u << 1;
inline constexpr uint32_t kReclaimClear = 1u << 0;
inline constexpr uint32_t kReclaimTimeSlice = 1u << 1;

// ---- Permissions ------------------------------------------------------------

// The permissions byte of an access descriptor: [1:0] data access, [3:2]
// instruction access, [7:4] zero. 3 is reserved in both fields.
enum class DataAccess : uint8_t { kUnspecified = 0, kReadOnly = 1, kReadWrite = 2 };
enum class InstructionAccess : uint8_t { kUnspecified = 0, kNotExecutable = 1, kExecutable = 2 };

constexpr uint8_t encode_permissions(DataAccess d, InstructionAccess i) {
  return static_cast<uint8_t>(static_cast<uint8_t>(d) | (static_cast<uint8_t>(i) << 2));
}
constexpr DataAccess data_access(uint8_t permissions) { return static_cast<DataAccess>(permissions & 3u); }
constexpr InstructionAccess instruction_access(uint8_t permissions) {
  return static_cast<InstructionAccess>((permissions >> 2) & 3u);
}

// The access descriptor's flags byte, in a retrieve request or response:
// [0] the receiver retrieves for itself alone (non-retrieval borrower).
inline constexpr uint8_t kAccessNonRetrievalBorrower = 1u << 0;

// ---- Descriptors --------------------------------------------------------------

struct Transaction {
  uint16_t sender = 0;
  uint16_t attributes = 0;  // raw; decode_attributes()
  uint32_t flags = 0;
  uint64_t handle = 0;
  uint64_t tag = 0;
  uint32_t access_size = kAccessSize1_1;
  uint32_t access_count = 0;
  uint32_t access_offset = kTransactionSize;
};

struct Access {
  uint16_t receiver = 0;
  uint8_t permissions = 0;
  uint8_t flags = 0;
  uint32_t composite_offset = 0;
  uint8_t impdef[16] = {};  // FF-A 1.2 descriptors only
};

struct Composite {
  uint32_t total_pages = 0;
  uint32_t range_count = 0;
};

struct Range {
  uint64_t address = 0;
  uint32_t pages = 0;
};

// What the readers and checks return when all is well (not an FF-A code).
inline constexpr Error kNoError = static_cast<Error>(0);

// Readers. Each returns kInvalidParameters for anything malformed (a
// reserved field not zero, a reserved encoding, a part outside the buffer
// or misplaced), leaving `out` unchanged; the buffer is `size` bytes.

// The transaction header of a descriptor from a caller at FF-A `version`
// (1.1 or later): access descriptors of 16 bytes (32 also from 1.2), from
// 1 to kMaxReceivers of them, starting at a 16-byte aligned offset at or
// after the header, all inside the buffer.
Error read_transaction(const uint8_t* buffer, uint32_t size, uint32_t version, Transaction& out);
// Access descriptor `index` (< t.access_count) of a header read by
// read_transaction() from the same buffer.
Error read_access(const uint8_t* buffer, uint32_t size, const Transaction& t, uint32_t index, Access& out);
// The composite at `offset`: 8-byte aligned, its header and its range
// array inside the buffer, at least one range.
Error read_composite(const uint8_t* buffer, uint32_t size, uint32_t offset, Composite& out);
// Range `index` (< c.range_count) of the composite at `offset` read by
// read_composite() from the same buffer. Only its reserved word is checked.
Error read_range(const uint8_t* buffer, uint32_t offset, uint32_t index, Range& out);

// Writers (the buffer must hold what they write).
void write_transaction(const Transaction& t, uint8_t* out);
void write_access(const Access& a, uint32_t access_size, uint8_t* out);
void write_composite(const Composite& c, uint8_t* out);
void write_range(const Range& r, uint8_t* out);

// A whole descriptor: the header `t` (its access count and offset are set
// here, right after the header), `count` access descriptors of
// t.access_size bytes each all pointing at one composite right after them,
// and its `range_count` ranges. Returns its length, or 0 if it does not fit
// in `capacity` bytes.
uint32_t write_descriptor(Transaction t, const Access* receivers, uint32_t count, const Range* ranges,
                          uint32_t range_count, uint8_t* out, uint32_t capacity);

// A retrieve request for one receiver: the header `t` (its access count and
// offset are set here) and that receiver's access descriptor, nothing after
// it (the receiver does not choose addresses). Returns its length.
uint32_t write_retrieve_request(Transaction t, const Access& receiver, uint8_t* out);

// ---- Checked requests ---------------------------------------------------------

// A checked FFA_MEM_SHARE/_LEND/_DONATE descriptor.
struct SendRequest {
  Transaction header;
  MemoryAttributes attributes;
  Access receivers[kMaxReceivers];
  uint32_t composite_offset = 0;
  Composite composite;
};

// Checks a whole send descriptor of `length` bytes from `caller` at FF-A
// `version`, for a `transfer` (share, lend or donate), against every rule
// that needs no state: the header, flags and attributes the transfer
// allows, its receivers (not the sender, no two alike, the permissions the
// transfer allows, one composite for all, right after the access array),
// and the composite's ranges (4 KiB aligned, not empty, not wrapping,
// adding up to its page count, not overlapping one another), with the
// descriptor ending where the ranges end. kDenied for a descriptor that
// names another sender or a kind of memory other than normal RAM;
// kInvalidParameters for the rest.
Error check_send(const uint8_t* buffer, uint32_t length, uint32_t version, Transfer transfer, uint16_t caller,
                 SendRequest& out);

// A checked FFA_MEM_RETRIEVE_REQ descriptor: the receivers' access
// descriptors (no composite: the caller does not choose addresses).
struct RetrieveRequest {
  Transaction header;
  Transfer transfer = Transfer::kUnspecified;  // from its flags
  Access receivers[kMaxReceivers];
};

// Checks a retrieve request of `length` bytes at FF-A `version`: header,
// attributes (unspecified or valid), flags (no time slicing, no hint, no
// bypass, nothing reserved),
// receivers (no composite offset, valid permissions, no two alike), and the
// descriptor ending with its access array. Matching it against the
// transaction it names is the caller's.
Error check_retrieve_request(const uint8_t* buffer, uint32_t length, uint32_t version, RetrieveRequest& out);

struct Relinquish {
  uint64_t handle = 0;
  uint32_t flags = 0;
  uint16_t endpoint = 0;
};

// A relinquish descriptor of `size` bytes: flags [31:1] zero (time slicing
// is not offered), exactly one endpoint, inside the buffer.
Error read_relinquish(const uint8_t* buffer, uint32_t size, Relinquish& out);
// Writes one with a single endpoint (18 bytes).
void write_relinquish(const Relinquish& r, uint8_t* out);

}  // namespace hyp::ffa
