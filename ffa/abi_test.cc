#include "ffa/abi.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace hyp::ffa {
namespace {

TEST(FfaAbiTest, RangeCoversBothConventionsAndNothingElse) {
  EXPECT_TRUE(is_ffa(kError));
  EXPECT_TRUE(is_ffa(kVersion));
  EXPECT_TRUE(is_ffa(kPartitionInfoGetRegs));
  EXPECT_TRUE(is_ffa(0x8400'00EF));
  EXPECT_TRUE(is_ffa(0xC400'00EF));
  EXPECT_FALSE(is_ffa(0x8400'00F0));
  EXPECT_FALSE(is_ffa(0x8400'005F));
  EXPECT_FALSE(is_ffa(0x8400'0000));  // PSCI_VERSION
  EXPECT_FALSE(is_ffa(0x8400'0050));  // TRNG_VERSION
  EXPECT_FALSE(is_ffa(0x8401'0063));  // not the same function: bits [23:8] count
  EXPECT_FALSE(is_ffa(0x0400'0063));  // a yielding call
  EXPECT_FALSE(is_ffa(0x8600'0063));  // another owner
}

TEST(FfaAbiTest, VersionsAreCompatibleWithinAMajorUpToTheCalleesMinor) {
  EXPECT_TRUE(version_compatible(kVersion1_0, kVersion1_2));
  EXPECT_TRUE(version_compatible(kVersion1_2, kVersion1_2));
  EXPECT_FALSE(version_compatible(make_version(1, 3), kVersion1_2));
  EXPECT_FALSE(version_compatible(make_version(2, 0), kVersion1_2));
  EXPECT_FALSE(version_compatible(make_version(0, 9), kVersion1_2));
  EXPECT_FALSE(version_compatible(0x8001'0001, kVersion1_2)) << "bit 31 set";
}

TEST(FfaAbiTest, ErrorsAreNegative32BitWords) {
  EXPECT_EQ(error_word(Error::kNotSupported), 0xffff'ffffu);
  EXPECT_EQ(error_word(Error::kDenied), 0xffff'fffau);
  EXPECT_EQ(error_word(Error::kNoData), 0xffff'fff7u);
}

TEST(FfaAbiTest, UuidWordsAreLittleEndianGroupsOfItsBytes) {
  Uuid u;
  ASSERT_TRUE(parse_uuid("486178e0-e7f8-11e3-bc5e-0002a5d5c51b", u));
  EXPECT_EQ(u.words[0], 0xe078'6148u);
  EXPECT_EQ(u.words[1], 0xe311'f8e7u);
  EXPECT_EQ(u.words[2], 0x0200'5ebcu);
  EXPECT_EQ(u.words[3], 0x1bc5'd5a5u);
  EXPECT_EQ(u.low64(), 0xe311'f8e7'e078'6148u);
  Uuid upper;
  ASSERT_TRUE(parse_uuid("486178E0-E7F8-11E3-BC5E-0002A5D5C51B", upper));
  EXPECT_EQ(upper, u);
  EXPECT_FALSE(u.is_nil());
  ASSERT_TRUE(parse_uuid("00000000-0000-0000-0000-000000000000", u));
  EXPECT_TRUE(u.is_nil());
}

TEST(FfaAbiTest, UuidTextOfAnyOtherShapeIsRefused) {
  Uuid u;
  u.words[0] = 7;
  for (const char* bad : {"", "486178e0", "486178e0-e7f8-11e3-bc5e-0002a5d5c51", "486178e0-e7f8-11e3-bc5e-0002a5d5c51bb",
                          "486178e0e7f8-11e3-bc5e-0002a5d5c51b-", "486178e0-e7f8-11e3-bc5e+0002a5d5c51b",
                          "486178g0-e7f8-11e3-bc5e-0002a5d5c51b", "486178e0-e7f8-11e3-bc5e-0002a5d5c5 b",
                          "{86178e0-e7f8-11e3-bc5e-0002a5d5c51b"}) {
    EXPECT_FALSE(parse_uuid(bad, u)) << bad;
  }
  EXPECT_EQ(u.words[0], 7u) << "a refusal leaves the output alone";
}

TEST(FfaAbiTest, PartitionInfoHasTheVersionsLayouts) {
  PartitionInfo p{.id = 0x0102, .contexts = 4, .properties = 0x10f, .uuid = {}};
  ASSERT_TRUE(parse_uuid("486178e0-e7f8-11e3-bc5e-0002a5d5c51b", p.uuid));
  uint8_t buf[32];
  std::memset(buf, 0xee, sizeof(buf));
  write_partition_info(p, kVersion1_1, buf);
  const uint8_t expected[24] = {0x02, 0x01, 0x04, 0x00, 0x0f, 0x01, 0x00, 0x00, 0x48, 0x61, 0x78, 0xe0,
                                0xe7, 0xf8, 0x11, 0xe3, 0xbc, 0x5e, 0x00, 0x02, 0xa5, 0xd5, 0xc5, 0x1b};
  EXPECT_EQ(std::memcmp(buf, expected, 24), 0) << "the UUID's bytes in string order";
  EXPECT_EQ(buf[24], 0xee) << "24 bytes exactly";
  const PartitionInfo back = read_partition_info(buf, kPartitionInfoSize);
  EXPECT_EQ(back.id, p.id);
  EXPECT_EQ(back.contexts, 4);
  EXPECT_EQ(back.properties, 0x10fu);
  EXPECT_EQ(back.uuid, p.uuid);

  std::memset(buf, 0xee, sizeof(buf));
  write_partition_info(p, kVersion1_0, buf);
  EXPECT_EQ(partition_info_size(kVersion1_0), 8u);
  EXPECT_EQ(buf[4], 0x07) << "only the bits FF-A 1.0 defines";
  EXPECT_EQ(buf[5], 0x00);
  EXPECT_EQ(buf[8], 0xee) << "8 bytes exactly";
  EXPECT_EQ(partition_info_reg(p), 0x0000'010f'0004'0102u);
}

std::vector<uint8_t> header_bytes(uint32_t flags, uint32_t reserved, uint32_t offset, uint32_t ids, uint32_t size,
                                  size_t buffer = 4096) {
  std::vector<uint8_t> b(buffer, 0);
  const uint32_t words[5] = {flags, reserved, offset, ids, size};
  std::memcpy(b.data(), words, std::min<size_t>(buffer, sizeof(words)));
  return b;
}

TEST(FfaAbiTest, MessageHeaderOfFfa11) {
  auto b = header_bytes(0, 0, 20, pack_ids(5, 9), 100);
  MessageHeader h;
  ASSERT_TRUE(parse_message_header(b.data(), b.size(), h));
  EXPECT_EQ(h.offset, 20u);
  EXPECT_EQ(h.sender, 5);
  EXPECT_EQ(h.receiver, 9);
  EXPECT_EQ(h.size, 100u);
  EXPECT_TRUE(h.uuid.is_nil());
  // The payload may end at the buffer's end, not beyond.
  b = header_bytes(0, 0, 20, pack_ids(5, 9), 4096 - 20);
  EXPECT_TRUE(parse_message_header(b.data(), b.size(), h));
  b = header_bytes(0, 0, 20, pack_ids(5, 9), 4096 - 19);
  EXPECT_FALSE(parse_message_header(b.data(), b.size(), h));
}

TEST(FfaAbiTest, MessageHeaderOfFfa12CarriesAUuid) {
  auto b = header_bytes(0, 0, 40, pack_ids(5, 9), 8);
  const uint32_t uuid[4] = {1, 2, 3, 4};
  std::memcpy(b.data() + 24, uuid, sizeof(uuid));
  MessageHeader h;
  ASSERT_TRUE(parse_message_header(b.data(), b.size(), h));
  EXPECT_EQ(h.uuid.words[3], 4u);
  b[20] = 1;  // the second reserved word
  EXPECT_FALSE(parse_message_header(b.data(), b.size(), h));
  b[20] = 0;
  b[8] = 64;  // a payload further on is fine
  EXPECT_TRUE(parse_message_header(b.data(), b.size(), h));
  EXPECT_EQ(h.offset, 64u);
}

TEST(FfaAbiTest, MessageHeadersThatLieAreRefused) {
  MessageHeader h;
  h.size = 77;
  const struct {
    const char* what;
    std::vector<uint8_t> bytes;
  } cases[] = {
      {"flags", header_bytes(1, 0, 20, 0, 0)},
      {"reserved", header_bytes(0, 0x100, 20, 0, 0)},
      {"offset inside the header", header_bytes(0, 0, 16, 0, 0)},
      {"offset between the two headers", header_bytes(0, 0, 24, 0, 0)},
      {"offset past the buffer", header_bytes(0, 0, 4097, 0, 0)},
      {"size past the buffer", header_bytes(0, 0, 20, 0, 4077)},
      {"size that wraps", header_bytes(0, 0, 20, 0, 0xffff'fff0)},
      {"offset that wraps", header_bytes(0, 0, 0xffff'fff0, 0, 0x20)},
      {"a buffer shorter than a header", header_bytes(0, 0, 20, 0, 0, 19)},
      {"a 1.2 header in a buffer shorter than 40", header_bytes(0, 0, 40, 0, 0, 39)},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(parse_message_header(c.bytes.data(), c.bytes.size(), h)) << c.what;
  }
  EXPECT_EQ(h.size, 77u) << "a refusal leaves the output alone";
}

TEST(FfaAbiTest, MessageHeaderWrittenReadsBack) {
  MessageHeader h{.flags = 0, .reserved = 0, .offset = 40, .sender = 3, .receiver = 4, .size = 12, .uuid = {}};
  h.uuid.words[0] = 0xabcd;
  std::vector<uint8_t> b(64, 0xff);
  write_message_header(h, b.data());
  MessageHeader back;
  ASSERT_TRUE(parse_message_header(b.data(), b.size(), back));
  EXPECT_EQ(back.sender, 3);
  EXPECT_EQ(back.receiver, 4);
  EXPECT_EQ(back.size, 12u);
  EXPECT_EQ(back.uuid, h.uuid);
}

TEST(FfaAbiTest, NotificationBitmapsJoinTwo32BitRegisters) {
  EXPECT_EQ(bitmap_of(0xffff'ffff'0000'0001, 0x8000'0000), 0x8000'0000'0000'0001u);
  EXPECT_EQ(bitmap_of(0, 0xffff'ffff'0000'0002), 0x0000'0002'0000'0000u);
}

}  // namespace
}  // namespace hyp::ffa
