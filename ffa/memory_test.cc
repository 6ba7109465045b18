#include "ffa/memory.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace hyp::ffa {
namespace {

constexpr uint16_t kSender = 0x10;
constexpr uint16_t kReceiver = 0x20;
constexpr uint16_t kOther = 0x30;
constexpr uint64_t kBase = 0x4010'0000;

Access receiver(uint16_t id, DataAccess d = DataAccess::kReadWrite) {
  Access a;
  a.receiver = id;
  a.permissions = encode_permissions(d, InstructionAccess::kUnspecified);
  return a;
}

// A descriptor as a sender builds it, changed by the test before it is written.
struct Builder {
  Transaction t;
  std::vector<Access> receivers{receiver(kReceiver)};
  std::vector<Range> ranges{{kBase, 2}, {kBase + 0x10000, 1}};

  Builder() {
    t.sender = kSender;
    t.attributes = encode_attributes(kNormalMemory);
  }
  std::vector<uint8_t> build() const {
    std::vector<uint8_t> out(4096);
    const uint32_t n = write_descriptor(t, receivers.data(), static_cast<uint32_t>(receivers.size()),
                                        ranges.data(), static_cast<uint32_t>(ranges.size()), out.data(),
                                        static_cast<uint32_t>(out.size()));
    EXPECT_NE(n, 0u);
    out.resize(n);
    return out;
  }
};

Error send(const std::vector<uint8_t>& d, Transfer transfer, uint32_t version = kVersion1_1,
           uint16_t caller = kSender) {
  SendRequest out;
  return check_send(d.data(), static_cast<uint32_t>(d.size()), version, transfer, caller, out);
}

template <typename T>
void poke(std::vector<uint8_t>& d, size_t at, T v) {
  ASSERT_LE(at + sizeof(v), d.size());
  std::memcpy(d.data() + at, &v, sizeof(v));
}

// Offsets in a one-receiver FF-A 1.1 descriptor built by write_descriptor().
constexpr size_t kAccess0 = kTransactionSize;
constexpr size_t kComposite = kTransactionSize + kAccessSize1_1;
constexpr size_t kRange0 = kComposite + kCompositeSize;

TEST(MemoryDescriptor, AWrittenShareReadsBackField) {
  Builder b;
  b.t.tag = 0x1234;
  const auto d = b.build();
  EXPECT_EQ(d.size(), kRange0 + 2 * kRangeSize);
  SendRequest s;
  ASSERT_EQ(check_send(d.data(), static_cast<uint32_t>(d.size()), kVersion1_1, Transfer::kShare, kSender, s),
            kNoError);
  EXPECT_EQ(s.header.sender, kSender);
  EXPECT_EQ(s.header.tag, 0x1234u);
  EXPECT_EQ(s.header.access_count, 1u);
  EXPECT_EQ(s.attributes, kNormalMemory);
  EXPECT_EQ(s.receivers[0].receiver, kReceiver);
  EXPECT_EQ(data_access(s.receivers[0].permissions), DataAccess::kReadWrite);
  EXPECT_EQ(s.composite_offset, kComposite);
  EXPECT_EQ(s.composite.total_pages, 3u);
  EXPECT_EQ(s.composite.range_count, 2u);
  Range r;
  ASSERT_EQ(read_range(d.data(), s.composite_offset, 1, r), kNoError);
  EXPECT_EQ(r.address, kBase + 0x10000);
  EXPECT_EQ(r.pages, 1u);
}

TEST(MemoryDescriptor, Ffa12AccessDescriptorsCarryTheirImplementationDefinedValue) {
  Builder b;
  b.t.access_size = kAccessSize1_2;
  b.receivers[0].impdef[0] = 0xab;
  b.receivers[0].impdef[15] = 0xcd;
  const auto d = b.build();
  SendRequest s;
  ASSERT_EQ(check_send(d.data(), static_cast<uint32_t>(d.size()), kVersion1_2, Transfer::kShare, kSender, s),
            kNoError);
  EXPECT_EQ(s.receivers[0].impdef[0], 0xab);
  EXPECT_EQ(s.receivers[0].impdef[15], 0xcd);
  EXPECT_EQ(send(d, Transfer::kShare, kVersion1_1), Error::kInvalidParameters) << "32-byte descriptors are 1.2's";
  EXPECT_EQ(send(Builder().build(), Transfer::kShare, kVersion1_2), kNoError) << "1.2 callers may use 1.1's";
  EXPECT_EQ(send(Builder().build(), Transfer::kShare, kVersion1_0), Error::kInvalidParameters);
}

TEST(MemoryDescriptor, EveryTransferHasItsOwnRules) {
  // Lend and donate to one receiver: the attributes are the receiver's to
  // choose; a donation gives no data access (the new owner has all).
  Builder lend;
  lend.t.attributes = 0;
  EXPECT_EQ(send(lend.build(), Transfer::kLend), kNoError);
  EXPECT_EQ(send(Builder().build(), Transfer::kLend), Error::kInvalidParameters) << "attributes for one borrower";
  Builder donate = lend;
  donate.receivers[0] = receiver(kReceiver, DataAccess::kUnspecified);
  EXPECT_EQ(send(donate.build(), Transfer::kDonate), kNoError);
  EXPECT_EQ(send(lend.build(), Transfer::kDonate), Error::kInvalidParameters) << "donation with data access";
  EXPECT_EQ(send(donate.build(), Transfer::kLend), Error::kInvalidParameters) << "loan without data access";
  donate.receivers.push_back(receiver(kOther, DataAccess::kUnspecified));
  EXPECT_EQ(send(donate.build(), Transfer::kDonate), Error::kInvalidParameters) << "a donation has one receiver";
  // Lent to several, shared: normal write-back inner-shareable memory only.
  Builder many;
  many.receivers.push_back(receiver(kOther, DataAccess::kReadOnly));
  EXPECT_EQ(send(many.build(), Transfer::kLend), kNoError);
  EXPECT_EQ(send(many.build(), Transfer::kShare), kNoError);
  many.t.attributes = 0;
  EXPECT_EQ(send(many.build(), Transfer::kLend), Error::kInvalidParameters);
  many.t.attributes = encode_attributes({MemoryType::kDevice, kDeviceNgnrne, 0});
  EXPECT_EQ(send(many.build(), Transfer::kShare), Error::kDenied);
  many.t.attributes = encode_attributes({MemoryType::kNormal, kNonCacheable, kInnerShareable});
  EXPECT_EQ(send(many.build(), Transfer::kShare), Error::kDenied);
  EXPECT_EQ(send(Builder().build(), Transfer::kUnspecified), Error::kInvalidParameters);
}

TEST(MemoryDescriptor, FlagsAreCheckedPerTransfer) {
  Builder share;
  share.t.flags = kMemClear;
  EXPECT_EQ(send(share.build(), Transfer::kShare), Error::kInvalidParameters) << "a share is not cleared";
  Builder lend;
  lend.t.attributes = 0;
  lend.t.flags = kMemClear;
  EXPECT_EQ(send(lend.build(), Transfer::kLend), kNoError);
  lend.t.flags = kMemTimeSlice;
  EXPECT_EQ(send(lend.build(), Transfer::kLend), Error::kInvalidParameters) << "time slicing is not offered";
  for (uint32_t bit = 2; bit < 32; ++bit) {
    lend.t.flags = 1u << bit;
    EXPECT_EQ(send(lend.build(), Transfer::kLend), Error::kInvalidParameters) << bit;
  }
}

TEST(MemoryDescriptor, TheHeaderIsTheCallersAndItsReservedFieldsAreZero) {
  EXPECT_EQ(send(Builder().build(), Transfer::kShare, kVersion1_1, kOther), Error::kDenied) << "another sender";
  Builder b;
  b.t.handle = 5;
  EXPECT_EQ(send(b.build(), Transfer::kShare), Error::kInvalidParameters) << "the handle is the kernel's to give";
  for (size_t at = 36; at < kTransactionSize; ++at) {
    auto d = Builder().build();
    d[at] = 1;
    EXPECT_EQ(send(d, Transfer::kShare), Error::kInvalidParameters) << at;
  }
  for (uint16_t bit = 6; bit < 16; ++bit) {
    Builder a;
    a.t.attributes = static_cast<uint16_t>(encode_attributes(kNormalMemory) | (1u << bit));
    EXPECT_EQ(send(a.build(), Transfer::kShare), Error::kInvalidParameters) << bit;
  }
}

TEST(MemoryDescriptor, AttributesDecodeOnlyValidEncodings) {
  MemoryAttributes a;
  EXPECT_TRUE(decode_attributes(encode_attributes(kNormalMemory), a));
  EXPECT_EQ(a, kNormalMemory);
  EXPECT_TRUE(decode_attributes(0, a));
  EXPECT_EQ(a.type, MemoryType::kUnspecified);
  EXPECT_FALSE(decode_attributes(0x3 << 4, a)) << "type 3 is reserved";
  EXPECT_FALSE(decode_attributes(0x1, a)) << "shareability with no type";
  EXPECT_FALSE(decode_attributes((2 << 4) | (0 << 2) | 3, a)) << "normal, cacheability 0";
  EXPECT_FALSE(decode_attributes((2 << 4) | (2 << 2) | 3, a)) << "normal, cacheability 2";
  EXPECT_FALSE(decode_attributes((2 << 4) | (3 << 2) | 1, a)) << "shareability 1";
  EXPECT_TRUE(decode_attributes((1 << 4) | (3 << 2), a)) << "device GRE";
  EXPECT_FALSE(decode_attributes(kAttributeNs | encode_attributes(kNormalMemory), a)) << "NS is the relayer's";
}

TEST(MemoryDescriptor, ReceiversAreCheckedOneByOne) {
  auto refused = [](Builder b, const char* what) {
    EXPECT_EQ(send(b.build(), Transfer::kShare), Error::kInvalidParameters) << what;
  };
  Builder b;
  b.receivers[0].receiver = kSender;
  refused(b, "the sender itself");
  b = Builder();
  b.receivers.push_back(receiver(kReceiver));
  refused(b, "twice the same receiver");
  b = Builder();
  b.receivers[0].permissions = encode_permissions(DataAccess::kReadWrite, InstructionAccess::kExecutable);
  refused(b, "instruction access from the sender");
  b.receivers[0].permissions = encode_permissions(DataAccess::kReadWrite, InstructionAccess::kNotExecutable);
  refused(b, "instruction access from the sender");
  b.receivers[0].permissions = 3;
  refused(b, "data access 3 is reserved");
  b.receivers[0].permissions = 0x12;
  refused(b, "permission bits [7:4]");
  b = Builder();
  b.receivers[0].flags = kAccessNonRetrievalBorrower;
  refused(b, "the flags are a retrieve request's");
  b = Builder();
  for (int i = 0; i < 5; ++i) b.receivers.push_back(receiver(static_cast<uint16_t>(0x40 + i)));
  refused(b, "more receivers than the kernel takes");
  // Reserved bytes of an access descriptor.
  for (size_t at = kAccess0 + 8; at < kAccess0 + kAccessSize1_1; ++at) {
    auto d = Builder().build();
    d[at] = 1;
    EXPECT_EQ(send(d, Transfer::kShare), Error::kInvalidParameters) << at;
  }
}

TEST(MemoryDescriptor, TheLayoutMustBeWhereTheHeaderSaysAndInsideTheBuffer) {
  auto refused = [](std::vector<uint8_t> d, const char* what) {
    EXPECT_EQ(send(d, Transfer::kShare), Error::kInvalidParameters) << what;
  };
  auto d = Builder().build();
  poke<uint32_t>(d, 24, 24);
  refused(d, "an access size of 24");
  d = Builder().build();
  poke<uint32_t>(d, 28, 0);
  refused(d, "no receivers");
  d = Builder().build();
  poke<uint32_t>(d, 28, 0x1000'0001);
  refused(d, "an access array past the end");
  d = Builder().build();
  poke<uint32_t>(d, 32, 40);
  refused(d, "the access array inside the header");
  d = Builder().build();
  poke<uint32_t>(d, 32, 56);
  refused(d, "an unaligned access array");
  d = Builder().build();
  poke<uint32_t>(d, 32, 0xffff'fff0);
  refused(d, "an access array far out");
  d = Builder().build();
  poke<uint32_t>(d, kAccess0 + 4, 0);
  refused(d, "no composite");
  d = Builder().build();
  poke<uint32_t>(d, kAccess0 + 4, kComposite + 4);
  refused(d, "an unaligned composite");
  d = Builder().build();
  poke<uint32_t>(d, kAccess0 + 4, kAccess0);
  refused(d, "a composite over the access array");
  d = Builder().build();
  poke<uint32_t>(d, kAccess0 + 4, 0xffff'fff8);
  refused(d, "a composite far out");
  d = Builder().build();
  poke<uint32_t>(d, kComposite + 4, 3);
  refused(d, "more ranges than the descriptor holds");
  d = Builder().build();
  poke<uint32_t>(d, kComposite + 4, 1);
  refused(d, "fewer ranges than the descriptor holds");
  d = Builder().build();
  d.push_back(0);
  refused(d, "bytes after the last range");
  d = Builder().build();
  d[kComposite + 8] = 1;
  refused(d, "the composite's reserved bytes");
  // Every truncation is refused, never read past.
  const auto whole = Builder().build();
  for (size_t n = 0; n < whole.size(); ++n) {
    std::vector<uint8_t> cut(whole.begin(), whole.begin() + static_cast<ptrdiff_t>(n));
    SendRequest s;
    EXPECT_EQ(check_send(cut.data(), static_cast<uint32_t>(n), kVersion1_1, Transfer::kShare, kSender, s),
              Error::kInvalidParameters)
        << n;
  }
}

// A composite placed over the second access descriptor, with everything
// else consistent: that descriptor's first word reads as the page count,
// its composite offset as the range count, its reserved bytes as the
// composite's.
TEST(MemoryDescriptor, TheCompositeMayNotOverlapTheAccessArray) {
  constexpr uint32_t kOffset = kTransactionSize + kAccessSize1_1;  // the second access descriptor
  constexpr uint32_t kCount = kOffset;                                // its composite offset, read as a count
  std::vector<uint8_t> d(kOffset + kCompositeSize + kCount * kRangeSize);
  Transaction t;
  t.sender = kSender;
  t.attributes = encode_attributes(kNormalMemory);
  t.access_count = 2;
  write_transaction(t, d.data());
  Access a = receiver(kReceiver);
  a.composite_offset = kOffset;
  write_access(a, kAccessSize1_1, d.data() + kTransactionSize);
  Access b = receiver(kOther);
  b.composite_offset = kOffset;
  write_access(b, kAccessSize1_1, d.data() + kOffset);
  uint32_t pages = 0;
  std::memcpy(&pages, d.data() + kOffset, 4);  // kOther | RW << 16
  for (uint32_t i = 0; i < kCount; ++i) {
    const uint32_t n = i + 1 < kCount ? pages / kCount : pages - (kCount - 1) * (pages / kCount);
    write_range({kBase + uint64_t{i} * 0x1000'0000, n}, d.data() + kOffset + kCompositeSize + i * kRangeSize);
  }
  Composite c;
  ASSERT_EQ(read_composite(d.data(), static_cast<uint32_t>(d.size()), kOffset, c), kNoError);
  ASSERT_EQ(c.total_pages, pages);
  ASSERT_EQ(c.range_count, kCount);
  EXPECT_EQ(send(d, Transfer::kShare), Error::kInvalidParameters);
}

TEST(MemoryDescriptor, RangesAreAlignedNonEmptyNonWrappingDisjointAndAddUp) {
  auto refused = [](std::vector<Range> ranges, const char* what) {
    Builder b;
    b.ranges = std::move(ranges);
    EXPECT_EQ(send(b.build(), Transfer::kShare), Error::kInvalidParameters) << what;
  };
  refused({{kBase + 0x800, 1}}, "unaligned");
  refused({{kBase, 0}}, "empty");
  refused({{0xffff'ffff'ffff'f000, 1}}, "ending at 2^64");
  refused({{0xffff'ffff'0000'0000, 0x10'0000}}, "wrapping");
  refused({{kBase, 4}, {kBase + 0x3000, 1}}, "overlapping the one before");
  refused({{kBase + 0x3000, 1}, {kBase, 4}}, "overlapping the one after");
  refused({{kBase, 1}, {kBase, 1}}, "the same range twice");
  refused({{kBase, 1}, {kBase + 0x8000, 2}, {kBase + 0x9000, 1}}, "the third inside the second");
  Builder b;
  b.ranges = {{kBase, 1}, {kBase + 0x1000, 1}, {kBase - 0x1000, 1}};
  EXPECT_EQ(send(b.build(), Transfer::kShare), kNoError) << "adjacent ranges in any order";
  auto d = b.build();
  poke<uint32_t>(d, kComposite, 4);
  EXPECT_EQ(send(d, Transfer::kShare), Error::kInvalidParameters) << "a page count that does not add up";
  d = b.build();
  poke<uint32_t>(d, kRange0 + 12, 1);
  EXPECT_EQ(send(d, Transfer::kShare), Error::kInvalidParameters) << "a range's reserved word";
}

TEST(RetrieveRequest, NamesReceiversWithoutAddresses) {
  Transaction t;
  t.sender = kSender;
  t.handle = kHandleHypervisor | 3;
  t.tag = 7;
  t.flags = transfer_flags(Transfer::kLend) | kRetrieveClearBefore;
  std::vector<uint8_t> d(kTransactionSize + kAccessSize1_1);
  Access a = receiver(kReceiver);
  a.permissions = encode_permissions(DataAccess::kReadOnly, InstructionAccess::kExecutable);
  a.composite_offset = 64;  // the writer leaves none
  ASSERT_EQ(write_retrieve_request(t, a, d.data()), d.size());
  RetrieveRequest r;
  ASSERT_EQ(check_retrieve_request(d.data(), static_cast<uint32_t>(d.size()), kVersion1_1, r), kNoError);
  EXPECT_EQ(r.transfer, Transfer::kLend);
  EXPECT_EQ(r.header.handle, kHandleHypervisor | 3);
  EXPECT_EQ(r.header.tag, 7u);
  EXPECT_EQ(r.receivers[0].receiver, kReceiver);
  EXPECT_EQ(instruction_access(r.receivers[0].permissions), InstructionAccess::kExecutable);
  // FF-A 1.2's access descriptors, from a 1.2 caller.
  Transaction t2 = t;
  t2.access_size = kAccessSize1_2;
  std::vector<uint8_t> d2(kTransactionSize + kAccessSize1_2);
  ASSERT_EQ(write_retrieve_request(t2, a, d2.data()), d2.size());
  EXPECT_EQ(check_retrieve_request(d2.data(), static_cast<uint32_t>(d2.size()), kVersion1_2, r), kNoError);

  auto refused = [&](std::vector<uint8_t> bad, const char* what) {
    RetrieveRequest out;
    EXPECT_EQ(check_retrieve_request(bad.data(), static_cast<uint32_t>(bad.size()), kVersion1_1, out),
              Error::kInvalidParameters)
        << what;
  };
  auto bad = d;
  poke<uint32_t>(bad, kTransactionSize + 4, 64);
  refused(bad, "a composite offset (the caller does not choose addresses)");
  bad = d;
  poke<uint32_t>(bad, 4, t.flags | kRetrieveTimeSlice);
  refused(bad, "time slicing");
  bad = d;
  poke<uint32_t>(bad, 4, t.flags | (1u << 9) | (1u << 5));
  refused(bad, "an alignment hint");
  bad = d;
  poke<uint32_t>(bad, 4, t.flags | kRetrieveBypassBorrowers);
  refused(bad, "bypassing the borrower check");
  bad = d;
  poke<uint32_t>(bad, 4, t.flags | (1u << 11));
  refused(bad, "a reserved flag");
  bad = d;
  bad.push_back(0);
  refused(bad, "bytes after the access array");
  bad = d;
  bad[kTransactionSize + 2] = 0xf;
  refused(bad, "reserved permission encodings");
  for (size_t n = 0; n < d.size(); ++n) refused(std::vector<uint8_t>(d.begin(), d.begin() + static_cast<ptrdiff_t>(n)), "cut");
}

TEST(Relinquish, OneEndpointAndOnlyTheClearFlag) {
  std::vector<uint8_t> d(kRelinquishSize + 2);
  write_relinquish({kHandleHypervisor | 9, kRelinquishClear, kReceiver}, d.data());
  Relinquish r;
  ASSERT_EQ(read_relinquish(d.data(), static_cast<uint32_t>(d.size()), r), kNoError);
  EXPECT_EQ(r.handle, kHandleHypervisor | 9);
  EXPECT_EQ(r.flags, kRelinquishClear);
  EXPECT_EQ(r.endpoint, kReceiver);
  auto bad = d;
  poke<uint32_t>(bad, 8, kRelinquishTimeSlice);
  EXPECT_EQ(read_relinquish(bad.data(), static_cast<uint32_t>(bad.size()), r), Error::kInvalidParameters);
  bad = d;
  poke<uint32_t>(bad, 12, 2);
  bad.resize(kRelinquishSize + 4);
  EXPECT_EQ(read_relinquish(bad.data(), static_cast<uint32_t>(bad.size()), r), Error::kInvalidParameters)
      << "one endpoint: the caller";
  EXPECT_EQ(read_relinquish(d.data(), kRelinquishSize + 1, r), Error::kInvalidParameters) << "cut";
}

TEST(Handles, TheHypervisorsBitAndTheRegisterHalves) {
  EXPECT_EQ(handle_of(0x8765'4321, 0x8000'0001), 0x8000'0001'8765'4321u);
  EXPECT_EQ(handle_of(0xffff'ffff'0000'0001, 0xffff'ffff'0000'0002), 0x2'0000'0001u) << "w registers only";
  EXPECT_NE(handle_of(0, 0x8000'0000) & kHandleHypervisor, 0u);
}

}  // namespace
}  // namespace hyp::ffa
