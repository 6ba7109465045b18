#include "tests/harness/console_script.h"

#include <gtest/gtest.h>

namespace hyp::tools {
namespace {

std::vector<Step> steps(std::initializer_list<const char*> args) {
  std::vector<Step> out;
  for (const char* a : args) {
    auto s = parse_step(a);
    EXPECT_TRUE(s.ok()) << a;
    out.push_back(*s);
  }
  return out;
}

TEST(ConsoleMatcher, ExpectationsMatchInOrderAcrossChunks) {
  ConsoleMatcher m(steps({"expect:CPU 1 online", "expect:all done"}), {});
  m.feed("hyp: CPU 1 onl");
  ASSERT_NE(m.next_step(), nullptr);
  EXPECT_EQ(m.next_step()->text, "CPU 1 online");
  m.feed("ine\nall do");
  EXPECT_EQ(m.next_step()->text, "all done");
  m.feed("ne\n");
  EXPECT_EQ(m.next_step(), nullptr);
}

TEST(ConsoleMatcher, AnEarlierOccurrenceDoesNotSatisfyALaterExpectation) {
  ConsoleMatcher m(steps({"expect:B", "expect:A"}), {});
  m.feed("A B");
  EXPECT_NE(m.next_step(), nullptr);
  m.feed(" A");
  EXPECT_EQ(m.next_step(), nullptr);
}

TEST(ConsoleMatcher, NextStepsMustFollowImmediatelyEvenAcrossChunks) {
  ConsoleMatcher m(steps({"expect:count 1\n", "next:count 2\n", "next:count 3\n"}), {});
  m.feed("x count 1\ncou");
  EXPECT_FALSE(m.mismatch().has_value());
  m.feed("nt 2\ncount 3\n");
  EXPECT_EQ(m.next_step(), nullptr);
  EXPECT_FALSE(m.mismatch().has_value());
}

TEST(ConsoleMatcher, ARepeatedOrLostLineIsAMismatch) {
  ConsoleMatcher repeated(steps({"expect:count 1\n", "next:count 2\n", "next:count 3\n"}), {});
  repeated.feed("count 1\ncount 2\ncount 2\ncount 3\n");
  ASSERT_TRUE(repeated.mismatch().has_value());
  EXPECT_NE(repeated.mismatch()->find("count 2"), std::string::npos);
  ConsoleMatcher lost(steps({"expect:count 1\n", "next:count 2\n"}), {});
  lost.feed("count 1\nc");
  EXPECT_FALSE(lost.mismatch().has_value());
  lost.feed("ount 3\n");
  EXPECT_TRUE(lost.mismatch().has_value());
}

TEST(ConsoleMatcher, SendStepsWaitForTheExpectationsBeforeThem) {
  ConsoleMatcher m(steps({"expect:login:", "send:root\\n", "expect:#"}), {});
  EXPECT_EQ(m.next_step()->kind, Step::Kind::kExpect);
  m.feed("login:");
  ASSERT_EQ(m.next_step()->kind, Step::Kind::kSend);
  EXPECT_EQ(m.next_step()->text, "root\n");
  m.feed(" # too early");  // output before the send does not count...
  m.sent();
  EXPECT_EQ(m.next_step(), nullptr);  // ...unless it comes after the previous match, as here
}

TEST(ConsoleMatcher, ForbiddenTextIsFoundEvenWhenSplitAcrossReads) {
  ConsoleMatcher m(steps({"expect:never"}), {"PANIC"});
  m.feed("...PA");
  EXPECT_FALSE(m.failure().has_value());
  m.feed("NIC: oops");
  ASSERT_TRUE(m.failure().has_value());
  EXPECT_EQ(*m.failure(), "PANIC");
}

TEST(ConsoleMatcher, TailShowsTheLastLinesWithoutCarriageReturns) {
  ConsoleMatcher m({}, {});
  m.feed("one\r\ntwo\r\nthree\r\n");
  EXPECT_EQ(m.tail(2), "  | three\n  | \n");
  EXPECT_EQ(m.tail(10), "  | one\n  | two\n  | three\n  | \n");
}

TEST(ParseStep, RejectsUnknownKindsAndBadEscapes) {
  EXPECT_FALSE(parse_step("wait:x").ok());
  EXPECT_FALSE(parse_step("expect").ok());
  EXPECT_FALSE(parse_step("expect:").ok());
  EXPECT_FALSE(parse_step("send:\\q").ok());
  EXPECT_FALSE(parse_step("send:\\x4").ok());
  EXPECT_FALSE(parse_step("send:\\x-1").ok());
  EXPECT_FALSE(parse_step("send:abc\\").ok());
  auto s = parse_step("send:\\x01x\\\\");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->text, std::string("\x01x\\"));
}

}  // namespace
}  // namespace hyp::tools
