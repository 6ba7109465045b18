#include "ffa/memory.h"

#include <cstring>

namespace hyp::ffa {
namespace {

// Both ends are little-endian: a copy is the encoding.
template <typename T>
T get(const uint8_t* in) {
  T v;
  std::memcpy(&v, in, sizeof(v));
  return v;
}
template <typename T>
void put(uint8_t* out, T v) {
  std::memcpy(out, &v, sizeof(v));
}

bool all_zero(const uint8_t* p, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// [offset, offset + n) lies inside a buffer of `size` bytes (no wrap: the
// sum is taken in 64 bits).
constexpr bool inside(uint64_t offset, uint64_t n, uint32_t size) { return offset <= size && n <= size - offset; }

bool valid_permissions(uint8_t p) {
  return (p & 0xf0) == 0 && (p & 3u) != 3u && ((p >> 2) & 3u) != 3u;
}

// Whether the access size fits the caller's version: 16 bytes (FF-A 1.1's
// layout, which 1.2 callers may still use) or 32 (1.2's).
bool access_size_ok(uint32_t access_size, uint32_t version) {
  return access_size == kAccessSize1_1 || (access_size == kAccessSize1_2 && version >= kVersion1_2);
}

}  // namespace

bool decode_attributes(uint16_t raw, MemoryAttributes& out) {
  if ((raw & ~uint16_t{0x3f}) != 0) return false;  // NS and [15:7]
  const auto type = static_cast<uint8_t>((raw >> 4) & 3u);
  const auto cache = static_cast<uint8_t>((raw >> 2) & 3u);
  const auto share = static_cast<uint8_t>(raw & 3u);
  MemoryAttributes a{static_cast<MemoryType>(type), cache, share};
  switch (a.type) {
    case MemoryType::kUnspecified:
      if (cache != 0 || share != 0) return false;
      break;
    case MemoryType::kDevice:
      // Every device kind is valid; device memory is not shareable-tagged
      // beyond what the type implies, but the field must not be reserved.
      if (share == 1) return false;
      break;
    case MemoryType::kNormal:
      if ((cache != kNonCacheable && cache != kWriteBack) || share == 1) return false;
      break;
    default:
      return false;  // 3: reserved
  }
  out = a;
  return true;
}

Error read_transaction(const uint8_t* buffer, uint32_t size, uint32_t version, Transaction& out) {
  if (version < kVersion1_1 || size < kTransactionSize) return Error::kInvalidParameters;
  Transaction t;
  t.sender = get<uint16_t>(buffer);
  t.attributes = get<uint16_t>(buffer + 2);
  t.flags = get<uint32_t>(buffer + 4);
  t.handle = get<uint64_t>(buffer + 8);
  t.tag = get<uint64_t>(buffer + 16);
  t.access_size = get<uint32_t>(buffer + 24);
  t.access_count = get<uint32_t>(buffer + 28);
  t.access_offset = get<uint32_t>(buffer + 32);
  if (!all_zero(buffer + 36, 12)) return Error::kInvalidParameters;
  if (!access_size_ok(t.access_size, version)) return Error::kInvalidParameters;
  if (t.access_count == 0 || t.access_count > kMaxReceivers) return Error::kInvalidParameters;
  if (t.access_offset < kTransactionSize || t.access_offset % 16 != 0) return Error::kInvalidParameters;
  if (!inside(t.access_offset, uint64_t{t.access_count} * t.access_size, size)) return Error::kInvalidParameters;
  out = t;
  return kNoError;
}

Error read_access(const uint8_t* buffer, uint32_t size, const Transaction& t, uint32_t index, Access& out) {
  const uint64_t at = t.access_offset + uint64_t{index} * t.access_size;
  if (index >= t.access_count || !inside(at, t.access_size, size)) return Error::kInvalidParameters;
  const uint8_t* p = buffer + at;
  Access a;
  a.receiver = get<uint16_t>(p);
  a.permissions = p[2];
  a.flags = p[3];
  a.composite_offset = get<uint32_t>(p + 4);
  if (t.access_size == kAccessSize1_2) {
    std::memcpy(a.impdef, p + 8, sizeof(a.impdef));
    if (!all_zero(p + 24, 8)) return Error::kInvalidParameters;
  } else if (!all_zero(p + 8, 8)) {
    return Error::kInvalidParameters;
  }
  if (!valid_permissions(a.permissions) || (a.flags & ~kAccessNonRetrievalBorrower) != 0) {
    return Error::kInvalidParameters;
  }
  out = a;
  return kNoError;
}

Error read_composite(const uint8_t* buffer, uint32_t size, uint32_t offset, Composite& out) {
  if (offset % 8 != 0 || !inside(offset, kCompositeSize, size)) return Error::kInvalidParameters;
  const uint8_t* p = buffer + offset;
  Composite c;
  c.total_pages = get<uint32_t>(p);
  c.range_count = get<uint32_t>(p + 4);
  if (!all_zero(p + 8, 8) || c.range_count == 0) return Error::kInvalidParameters;
  if (!inside(uint64_t{offset} + kCompositeSize, uint64_t{c.range_count} * kRangeSize, size)) {
    return Error::kInvalidParameters;
  }
  out = c;
  return kNoError;
}

Error read_range(const uint8_t* buffer, uint32_t offset, uint32_t index, Range& out) {
  const uint8_t* p = buffer + offset + kCompositeSize + uint64_t{index} * kRangeSize;
  if (get<uint32_t>(p + 12) != 0) return Error::kInvalidParameters;
  out = {get<uint64_t>(p), get<uint32_t>(p + 8)};
  return kNoError;
}

void write_transaction(const Transaction& t, uint8_t* out) {
  put(out, t.sender);
  put(out + 2, t.attributes);
  put(out + 4, t.flags);
  put(out + 8, t.handle);
  put(out + 16, t.tag);
  put(out + 24, t.access_size);
  put(out + 28, t.access_count);
  put(out + 32, t.access_offset);
  std::memset(out + 36, 0, 12);
}

void write_access(const Access& a, uint32_t access_size, uint8_t* out) {
  put(out, a.receiver);
  out[2] = a.permissions;
  out[3] = a.flags;
  put(out + 4, a.composite_offset);
  std::memset(out + 8, 0, access_size - 8);
  if (access_size == kAccessSize1_2) std::memcpy(out + 8, a.impdef, sizeof(a.impdef));
}

void write_composite(const Composite& c, uint8_t* out) {
  put(out, c.total_pages);
  put(out + 4, c.range_count);
  std::memset(out + 8, 0, 8);
}

void write_range(const Range& r, uint8_t* out) {
  put(out, r.address);
  put(out + 8, r.pages);
  put(out + 12, uint32_t{0});
}

uint32_t write_descriptor(Transaction t, const Access* receivers, uint32_t count, const Range* ranges,
                          uint32_t range_count, uint8_t* out, uint32_t capacity) {
  t.access_count = count;
  t.access_offset = kTransactionSize;
  const uint64_t composite = kTransactionSize + uint64_t{count} * t.access_size;
  const uint64_t length = composite + kCompositeSize + uint64_t{range_count} * kRangeSize;
  if (length > capacity) return 0;
  write_transaction(t, out);
  for (uint32_t i = 0; i < count; ++i) {
    Access a = receivers[i];
    a.composite_offset = static_cast<uint32_t>(composite);
    write_access(a, t.access_size, out + kTransactionSize + i * t.access_size);
  }
  uint64_t pages = 0;
  for (uint32_t i = 0; i < range_count; ++i) {
    write_range(ranges[i], out + composite + kCompositeSize + uint64_t{i} * kRangeSize);
    pages += ranges[i].pages;
  }
  write_composite({static_cast<uint32_t>(pages), range_count}, out + composite);
  return static_cast<uint32_t>(length);
}

uint32_t write_retrieve_request(Transaction t, const Access& receiver, uint8_t* out) {
  t.access_count = 1;
  t.access_offset = kTransactionSize;
  Access a = receiver;
  a.composite_offset = 0;
  write_transaction(t, out);
  write_access(a, t.access_size, out + kTransactionSize);
  return kTransactionSize + t.access_size;
}

namespace {

// The composite's ranges: each 4 KiB aligned, not empty, not wrapping the
// address space; adding up to its page count; no two overlapping (each
// compared with those before it: the descriptor's length, which the kernel
// bounds, bounds the work).
Error check_ranges(const uint8_t* buffer, uint32_t offset, const Composite& c) {
  uint64_t pages = 0;
  for (uint32_t i = 0; i < c.range_count; ++i) {
    Range r;
    if (read_range(buffer, offset, i, r) != kNoError) return Error::kInvalidParameters;
    if (r.pages == 0 || r.address % kMemPageSize != 0) return Error::kInvalidParameters;
    const uint64_t bytes = uint64_t{r.pages} * kMemPageSize;
    if (r.address + bytes < r.address) return Error::kInvalidParameters;  // wraps (or ends at 2^64)
    pages += r.pages;
    for (uint32_t j = 0; j < i; ++j) {
      Range q;
      (void)read_range(buffer, offset, j, q);  // checked in its own turn
      const uint64_t q_end = q.address + uint64_t{q.pages} * kMemPageSize;
      if (r.address < q_end && q.address < r.address + bytes) return Error::kInvalidParameters;
    }
  }
  // At most 2^32 ranges of under 2^32 pages each: no overflow in 64 bits.
  if (pages != c.total_pages) return Error::kInvalidParameters;
  return kNoError;
}

}  // namespace

Error check_send(const uint8_t* buffer, uint32_t length, uint32_t version, Transfer transfer, uint16_t caller,
                 SendRequest& out) {
  if (transfer == Transfer::kUnspecified) return Error::kInvalidParameters;
  SendRequest s;
  if (Error e = read_transaction(buffer, length, version, s.header); e != kNoError) return e;
  const Transaction& t = s.header;
  if (t.sender != caller) return Error::kDenied;
  if (t.handle != 0) return Error::kInvalidParameters;
  // Clearing is for memory the sender gives up; time slicing is not offered.
  const uint32_t allowed = transfer == Transfer::kShare ? 0 : kMemClear;
  if ((t.flags & ~allowed) != 0) return Error::kInvalidParameters;
  if (!decode_attributes(t.attributes, s.attributes)) return Error::kInvalidParameters;
  const uint32_t n = t.access_count;
  if (transfer == Transfer::kDonate && n != 1) return Error::kInvalidParameters;
  // The receiver of a donation, or the only borrower of a loan, chooses
  // the attributes itself; memory several partitions map at once is
  // normal, cached, inner-shareable RAM for all of them.
  const bool shared = transfer == Transfer::kShare || (transfer == Transfer::kLend && n > 1);
  if (!shared && s.attributes.type != MemoryType::kUnspecified) return Error::kInvalidParameters;
  if (shared && s.attributes.type == MemoryType::kUnspecified) return Error::kInvalidParameters;
  if (shared && !(s.attributes == kNormalMemory)) return Error::kDenied;
  for (uint32_t i = 0; i < n; ++i) {
    Access& a = s.receivers[i];
    if (Error e = read_access(buffer, length, t, i, a); e != kNoError) return e;
    if (a.receiver == caller || a.flags != 0) return Error::kInvalidParameters;
    for (uint32_t j = 0; j < i; ++j) {
      if (s.receivers[j].receiver == a.receiver) return Error::kInvalidParameters;
    }
    // Instruction access is the receiver's to ask for when it retrieves;
    // data access is the sender's to give, except for a donation (the new
    // owner has every right).
    if (instruction_access(a.permissions) != InstructionAccess::kUnspecified) return Error::kInvalidParameters;
    const bool data_given = data_access(a.permissions) != DataAccess::kUnspecified;
    if (data_given != (transfer != Transfer::kDonate)) return Error::kInvalidParameters;
    if (i > 0 && a.composite_offset != s.receivers[0].composite_offset) return Error::kInvalidParameters;
  }
  s.composite_offset = s.receivers[0].composite_offset;
  if (s.composite_offset < t.access_offset + uint64_t{n} * t.access_size) return Error::kInvalidParameters;
  if (Error e = read_composite(buffer, length, s.composite_offset, s.composite); e != kNoError) return e;
  if (uint64_t{s.composite_offset} + kCompositeSize + uint64_t{s.composite.range_count} * kRangeSize != length) {
    return Error::kInvalidParameters;
  }
  if (Error e = check_ranges(buffer, s.composite_offset, s.composite); e != kNoError) return e;
  out = s;
  return kNoError;
}

Error check_retrieve_request(const uint8_t* buffer, uint32_t length, uint32_t version, RetrieveRequest& out) {
  RetrieveRequest r;
  if (Error e = read_transaction(buffer, length, version, r.header); e != kNoError) return e;
  const Transaction& t = r.header;
  MemoryAttributes attributes;
  if (!decode_attributes(t.attributes, attributes)) return Error::kInvalidParameters;
  constexpr uint32_t kAllowed = kRetrieveClearBefore | kRetrieveClearAfter | kRetrieveTransferMask;
  if ((t.flags & ~kAllowed) != 0) return Error::kInvalidParameters;
  r.transfer = transfer_of(t.flags);
  for (uint32_t i = 0; i < t.access_count; ++i) {
    Access& a = r.receivers[i];
    if (Error e = read_access(buffer, length, t, i, a); e != kNoError) return e;
    if (a.composite_offset != 0) return Error::kInvalidParameters;
    for (uint32_t j = 0; j < i; ++j) {
      if (r.receivers[j].receiver == a.receiver) return Error::kInvalidParameters;
    }
  }
  if (t.access_offset + uint64_t{t.access_count} * t.access_size != length) return Error::kInvalidParameters;
  out = r;
  return kNoError;
}

Error read_relinquish(const uint8_t* buffer, uint32_t size, Relinquish& out) {
  if (size < kRelinquishSize + 2) return Error::kInvalidParameters;
  Relinquish r;
  r.handle = get<uint64_t>(buffer);
  r.flags = get<uint32_t>(buffer + 8);
  const uint32_t count = get<uint32_t>(buffer + 12);
  if ((r.flags & ~kRelinquishClear) != 0 || count != 1) return Error::kInvalidParameters;
  r.endpoint = get<uint16_t>(buffer + kRelinquishSize);
  out = r;
  return kNoError;
}

void write_relinquish(const Relinquish& r, uint8_t* out) {
  put(out, r.handle);
  put(out + 8, r.flags);
  put(out + 12, uint32_t{1});
  put(out + kRelinquishSize, r.endpoint);
}

}  // namespace hyp::ffa
