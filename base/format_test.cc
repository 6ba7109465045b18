#include "base/format.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace hyp {
namespace {

template <typename... Args>
std::string fmt(const char* f, Args... args) {
  char buf[128];
  format(buf, sizeof(buf), f, args...);
  return buf;
}

TEST(Format, PrintsDecimalSignedAndUnsigned) {
  EXPECT_EQ(fmt("%d %u %i", -42, 42u, 0), "-42 42 0");
  EXPECT_EQ(fmt("%ld", INT64_MIN), "-9223372036854775808");
  EXPECT_EQ(fmt("%lu", UINT64_MAX), "18446744073709551615");
}

TEST(Format, PrintsHexWithWidthAndPadding) {
  EXPECT_EQ(fmt("%x", 0xbeefu), "beef");
  EXPECT_EQ(fmt("%X", 0xbeefu), "BEEF");
  EXPECT_EQ(fmt("%016lx", uint64_t{0x40000000}), "0000000040000000");
  EXPECT_EQ(fmt("[%6x]", 0x1fu), "[    1f]");
  EXPECT_EQ(fmt("[%-6x]", 0x1fu), "[1f    ]");
  EXPECT_EQ(fmt("%05d", -7), "-0007");
}

TEST(Format, PrintsStringsCharsAndPercent) {
  EXPECT_EQ(fmt("%s=%c%%", "cpu", 'x'), "cpu=x%");
  EXPECT_EQ(fmt("[%5s]", "ab"), "[   ab]");
  EXPECT_EQ(fmt("%s", static_cast<const char*>(nullptr)), "(null)");
}

TEST(Format, PrintsSizeT) { EXPECT_EQ(fmt("%zu", size_t{123456789}), "123456789"); }

TEST(Format, TruncatesButReportsFullLength) {
  char buf[8];
  EXPECT_EQ(format(buf, sizeof(buf), "%s", "0123456789"), 10u);
  EXPECT_STREQ(buf, "0123456");
}

TEST(Format, ZeroSizeWritesNothing) {
  char buf[1] = {'z'};
  EXPECT_EQ(format(buf, 0, "abc"), 3u);
  EXPECT_EQ(buf[0], 'z');
}

TEST(Format, UnknownConversionIsPrintedLiterally) {
  char buf[32];
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wformat"
#pragma clang diagnostic ignored "-Wformat-invalid-specifier"
  format(buf, sizeof(buf), "%q and %");
#pragma clang diagnostic pop
  EXPECT_STREQ(buf, "%q and %");
}

}  // namespace
}  // namespace hyp
