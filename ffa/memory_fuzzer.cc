// Fuzzes the FF-A memory descriptor readers with what a partition could
// write into its TX buffer. The first byte picks the reader and the
// caller's version; every input ends in a result or a refusal, reads stay
// inside an exact-size copy (AddressSanitizer reports any that does not),
// and what is accepted keeps the promises the checks make.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ffa/memory.h"

namespace f = hyp::ffa;

namespace {

void check_accepted_send(const std::vector<uint8_t>& d, const f::SendRequest& s, f::Transfer transfer,
                         uint16_t caller) {
  const uint32_t n = s.header.access_count;
  if (n == 0 || n > f::kMaxReceivers || s.header.sender != caller) __builtin_trap();
  if (transfer == f::Transfer::kDonate && n != 1) __builtin_trap();
  for (uint32_t i = 0; i < n; ++i) {
    if (s.receivers[i].receiver == caller) __builtin_trap();
    for (uint32_t j = 0; j < i; ++j) {
      if (s.receivers[j].receiver == s.receivers[i].receiver) __builtin_trap();
    }
  }
  // The ranges lie where the header says, end the descriptor, and neither
  // overlap nor wrap; their pages add up.
  const uint64_t end = uint64_t{s.composite_offset} + f::kCompositeSize + uint64_t{s.composite.range_count} * f::kRangeSize;
  if (end != d.size()) __builtin_trap();
  uint64_t pages = 0;
  for (uint32_t i = 0; i < s.composite.range_count; ++i) {
    f::Range r;
    if (f::read_range(d.data(), s.composite_offset, i, r) != f::kNoError) __builtin_trap();
    if (r.pages == 0 || r.address % f::kMemPageSize != 0) __builtin_trap();
    const uint64_t r_end = r.address + uint64_t{r.pages} * f::kMemPageSize;
    if (r_end <= r.address) __builtin_trap();
    pages += r.pages;
    for (uint32_t j = 0; j < i; ++j) {
      f::Range q;
      (void)f::read_range(d.data(), s.composite_offset, j, q);
      if (r.address < q.address + uint64_t{q.pages} * f::kMemPageSize && q.address < r_end) __builtin_trap();
    }
  }
  if (pages != s.composite.total_pages) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t select = data[0];
  std::vector<uint8_t> d(data + 1, data + size);
  const uint32_t version = (select & 0x10) != 0 ? f::kVersion1_2 : f::kVersion1_1;
  const auto length = static_cast<uint32_t>(d.size());
  switch (select & 7) {
    case 0:
    case 1:
    case 2: {
      const auto transfer = static_cast<f::Transfer>((select & 3) + 1);
      const uint16_t caller = d.size() >= 2 ? static_cast<uint16_t>(d[0] | (d[1] << 8)) : 0;
      f::SendRequest s;
      if (f::check_send(d.data(), length, version, transfer, caller, s) == f::kNoError) {
        check_accepted_send(d, s, transfer, caller);
      }
      break;
    }
    case 3: {
      f::RetrieveRequest r;
      if (f::check_retrieve_request(d.data(), length, version, r) == f::kNoError) {
        const uint64_t end = r.header.access_offset + uint64_t{r.header.access_count} * r.header.access_size;
        if (end != d.size() || r.header.access_count == 0) __builtin_trap();
      }
      break;
    }
    case 4: {
      f::Relinquish r;
      (void)f::read_relinquish(d.data(), length, r);
      break;
    }
    case 5:
    case 6: {
      // A plausible descriptor built from the input (receivers, permissions,
      // ranges near one another), then a few of its bytes changed: the
      // checks past the header get exercised too.
      if (d.size() < 8) break;
      const auto transfer = static_cast<f::Transfer>((d[0] % 3) + 1);
      const uint32_t n = d[1] % 5 + 1;
      const uint32_t range_count = d[2] % 9 + 1;
      f::Transaction t;
      t.sender = 0x10;
      t.attributes = (d[3] & 1) != 0 ? f::encode_attributes(f::kNormalMemory) : 0;
      t.flags = d[3] >> 6;
      t.access_size = (select & 0x10) != 0 && (d[4] & 1) != 0 ? f::kAccessSize1_2 : f::kAccessSize1_1;
      f::Access receivers[f::kMaxReceivers + 1];
      for (uint32_t i = 0; i < n; ++i) {
        receivers[i].receiver = static_cast<uint16_t>(0x10 + d[4 + i % 4] % 6);
        receivers[i].permissions = static_cast<uint8_t>(d[5 + i % 3] & 0x0f);
      }
      f::Range ranges[9];
      for (uint32_t i = 0; i < range_count; ++i) {
        const uint8_t b = d[(5 + i) % d.size()];
        const uint64_t address = 0x4000'0000 + uint64_t{b % 16u} * f::kMemPageSize + ((b & 0x80u) != 0 ? 0x800u : 0u);
        ranges[i] = {address, b % 4u};
      }
      std::vector<uint8_t> desc(4096);
      const uint32_t len = f::write_descriptor(t, receivers, n, ranges, range_count, desc.data(), 4096);
      desc.resize(len);
      // The rest of the input: (offset, value) pairs applied to it.
      for (size_t i = 8; i + 1 < d.size() && len > 0; i += 2) desc[d[i] % len] = d[i + 1];
      f::SendRequest s;
      if (f::check_send(desc.data(), len, version, transfer, 0x10, s) == f::kNoError) {
        check_accepted_send(desc, s, transfer, 0x10);
      }
      break;
    }
    default: {
      // The low-level readers on their own, as the kernel uses them on a
      // descriptor arriving in fragments.
      f::Transaction t;
      if (f::read_transaction(d.data(), length, version, t) != f::kNoError) break;
      for (uint32_t i = 0; i < t.access_count; ++i) {
        f::Access a;
        if (f::read_access(d.data(), length, t, i, a) != f::kNoError) continue;
        f::Composite c;
        if (f::read_composite(d.data(), length, a.composite_offset, c) != f::kNoError) continue;
        for (uint32_t k = 0; k < c.range_count; ++k) {
          f::Range r;
          (void)f::read_range(d.data(), a.composite_offset, k, r);
        }
      }
      break;
    }
  }
  return 0;
}
