#include "tests/harness/console_script.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

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

// ---- stream: steps --------------------------------------------------------

constexpr const char* kCrash = "hyp: server uart (id 1) failed:";

// What the console shows when the UART server crashes on purpose: the
// reports, queued while it was down, printed by its next instance.
const std::string kReport =
    "uart| failing on purpose (crash-every)\r\n"
    "hyp: uart: vCPU 0: read of 8 bytes at IPA 0x7f000000 (pc 0x40002250) is unbacked: external abort injected\r\n"
    "hyp: server uart (id 1) failed: it stopped itself (PSCI SYSTEM_OFF/RESET)\r\n"
    "hyp: server uart (id 1) restarted (after a failure, restart 1): 2 requests replayed\r\n"
    "uart| resumed (1 clients)\r\n";

// The counter guest's text: "count 0001\n" .. "count 0004\n".
const char* const kCount = "stream:cnt|count 0001\ncount 0002\ncount 0003\ncount 0004\n";

struct Outcome {
  bool done;
  std::optional<std::string> mismatch;
};

// Feeds `console` in chunks of `chunk` bytes to a matcher for `step` (after
// a first line), then an end marker; reports whether the stream step and
// the step after it matched.
Outcome run(const char* step, const std::string& console, const char* crash_report = "", size_t chunk = 7) {
  ConsoleMatcher m(steps({"expect:cnt| count 0000\r\n", step, "expect:THE END"}), {}, crash_report);
  const std::string all = "cnt| count 0000\r\n" + console + "THE END\r\n";
  for (size_t i = 0; i < all.size(); i += chunk) m.feed(all.substr(i, chunk));
  return {m.next_step() == nullptr, m.mismatch()};
}

// Whether the stream step matches `console`, the same however the console
// is read. (A step that neither matched nor failed waits for more output:
// the test times out.)
bool passes(const char* step, const std::string& console, const char* crash_report = "") {
  const Outcome first = run(step, console, crash_report, 1);
  EXPECT_FALSE(first.done && first.mismatch.has_value());
  for (size_t chunk : {size_t{3}, size_t{7}, size_t{4096}}) {
    EXPECT_EQ(run(step, console, crash_report, chunk).done, first.done) << "depends on chunking: " << chunk;
  }
  return first.done;
}

TEST(StreamStep, LinesInOrderMatch) {
  EXPECT_TRUE(passes(kCount, "cnt| count 0001\r\ncnt| count 0002\r\ncnt| count 0003\r\ncnt| count 0004\r\n"));
}

TEST(StreamStep, OtherSourcesMayComeBetweenLinesAndSplitThem) {
  EXPECT_TRUE(passes(kCount,
                     "hyp: before\r\ncnt| count 0001\r\nhyp: between\r\nother| a guest\r\ncnt| count 0002\r\n"
                     "cnt| count 00\r\nhyp: split\r\ncnt| 03\r\ncnt| count 0004\r\n"));
  // Split right before the newline: the newline comes as a line of its own.
  EXPECT_TRUE(passes(kCount,
                     "cnt| count 0001\r\ncnt| count 0002\r\ncnt| count 0003\r\nhyp: split\r\ncnt| \r\n"
                     "cnt| count 0004\r\n"));
}

TEST(StreamStep, ALostCharacterFails) {
  const std::string console = "cnt| count 0001\r\ncnt| count 002\r\ncnt| count 0003\r\ncnt| count 0004\r\n";
  const Outcome o = run(kCount, console, kCrash);
  ASSERT_TRUE(o.mismatch.has_value());
  EXPECT_NE(o.mismatch->find("'cnt| count 002'"), std::string::npos) << *o.mismatch;
  EXPECT_FALSE(passes(kCount, "cnt| count 0001\r\ncnt| count 0002\r\ncnt| count 0004\r\n", kCrash)) << "a line";
  // A lost newline: two lines in one.
  EXPECT_FALSE(passes(kCount, "cnt| count 0001\r\ncnt| count 0002count 0003\r\ncnt| count 0004\r\n", kCrash));
  // An added newline, even where another source prints.
  EXPECT_FALSE(passes(kCount,
                      "cnt| count 0001\r\ncnt| count 00\r\ncnt| 02\r\ncnt| count 0003\r\ncnt| count 0004\r\n"));
  EXPECT_FALSE(passes(kCount,
                      "cnt| count 0001\r\ncnt| count 0002\r\ncnt| \r\ncnt| count 0003\r\ncnt| count 0004\r\n",
                      kCrash));
}

TEST(StreamStep, ReorderedOrRepeatedTextFails) {
  EXPECT_FALSE(passes(kCount, "cnt| count 0001\r\ncnt| count 0003\r\ncnt| count 0002\r\ncnt| count 0004\r\n",
                      kCrash));
  EXPECT_FALSE(passes(kCount, "cnt| count 0001\r\ncnt| count 0020\r\ncnt| count 0003\r\ncnt| count 0004\r\n",
                      kCrash));
  EXPECT_FALSE(passes(kCount,
                      "cnt| count 0001\r\ncnt| count 0002\r\ncnt| count 0002\r\ncnt| count 0003\r\n"
                      "cnt| count 0004\r\n" + kReport,
                      kCrash))
      << "a repeated line is more than one replayed write";
}

TEST(StreamStep, ADoubledCharacterIsAllowedOnlyBeforeACrashReport) {
  const std::string doubled = "cnt| count 0001\r\ncnt| count 00022\r\n";
  const std::string rest = "cnt| count 0003\r\ncnt| count 0004\r\n";
  EXPECT_TRUE(passes(kCount, doubled + kReport + rest, kCrash));
  EXPECT_FALSE(passes(kCount, doubled + kReport + rest)) << "no crash reports expected";
  EXPECT_FALSE(passes(kCount, doubled + "hyp: not a crash\r\n" + rest, kCrash));
  EXPECT_FALSE(passes(kCount, doubled + rest, kCrash)) << "no other line at all";
  // After the report: that stretch ends without one.
  EXPECT_FALSE(passes(kCount, "cnt| count 0001\r\n" + kReport + "cnt| count 00022\r\nhyp: x\r\n" + rest, kCrash));
  // Anywhere in the stretch before the report, which may span lines, and
  // in a line the report splits.
  EXPECT_TRUE(passes(kCount, "cnt| ccount 0001\r\ncnt| count 0002\r\n" + kReport + rest, kCrash));
  EXPECT_TRUE(passes(kCount, "cnt| count 0001\r\ncnt| count 0002\r\ncnt| countt\r\n" + kReport +
                                 "cnt|  0003\r\ncnt| count 0004\r\n",
                     kCrash));
}

TEST(StreamStep, ADoubledNewlineIsAnEmptyLineBeforeTheReport) {
  EXPECT_TRUE(passes(kCount,
                     "cnt| count 0001\r\ncnt| count 0002\r\ncnt| \r\n" + kReport + "cnt| count 0003\r\ncnt| count 0004\r\n",
                     kCrash));
  // As the crash test saw it: a doubled '0', and the newline after the report.
  EXPECT_TRUE(passes(kCount,
                     "cnt| count 0001\r\ncnt| count 00022\r\n" + kReport + "cnt| \r\ncnt| count 0003\r\n"
                     "cnt| count 0004\r\n",
                     "hyp: server uart (id 1) failed:"));
}

TEST(StreamStep, ACharacterRepeatedTwiceMoreFailsWithOneReport) {
  const std::string rest = "cnt| count 0003\r\ncnt| count 0004\r\n";
  EXPECT_FALSE(passes(kCount, "cnt| count 0001\r\ncnt| count 000222\r\n" + kReport + rest, kCrash));
  EXPECT_FALSE(passes(kCount, "cnt| ccount 0001\r\ncnt| count 00022\r\n" + kReport + rest, kCrash))
      << "two doubled characters in one stretch";
  // Two reports (two crashes before the server printed again) explain two.
  EXPECT_TRUE(passes(kCount, "cnt| ccount 0001\r\ncnt| count 00022\r\n" + kReport + kReport + rest, kCrash));
}

TEST(StreamStep, EndsAtTheLastLineWithoutWaitingForMore) {
  ConsoleMatcher m(steps({"expect:cnt| count 0000\r\n", kCount, "next:hyp: after\r\n"}), {});
  m.feed("cnt| count 0000\r\ncnt| count 0001\r\ncnt| count 0002\r\ncnt| count 0003\r\ncnt| count 0004\r\n");
  ASSERT_NE(m.next_step(), nullptr);
  EXPECT_EQ(m.next_step()->kind, Step::Kind::kNext) << "the stream is done; the next step starts after its line";
  m.feed("hyp: after\r\n");
  EXPECT_EQ(m.next_step(), nullptr);
  EXPECT_FALSE(m.mismatch().has_value());
}

TEST(StreamStep, ADoubledCharacterInTheLastStretchWaitsForItsReport) {
  ConsoleMatcher m(steps({"expect:cnt| count 0000\r\n", kCount, "expect:hyp: after"}), {}, kCrash);
  m.feed("cnt| count 0000\r\ncnt| count 0001\r\ncnt| count 0002\r\ncnt| count 0003\r\ncnt| count 00044\r\n");
  ASSERT_NE(m.next_step(), nullptr);
  EXPECT_EQ(m.next_step()->kind, Step::Kind::kStream);
  EXPECT_NE(m.waiting_for().find("1 doubled character no crash report explains yet"), std::string::npos)
      << m.waiting_for();
  m.feed(kReport + "hyp: after\r\n");
  EXPECT_EQ(m.next_step(), nullptr);
}

TEST(StreamStep, FailureNamesWhereTheStreamWasAndWhatCame) {
  ConsoleMatcher m(steps({"expect:cnt| count 0000\r\n", kCount}), {});
  m.feed("cnt| count 0000\r\ncnt| count 0001\r\ncnt| count 0002\r\ncnt| count 00");
  EXPECT_EQ(m.waiting_for(),
            "stream of cnt 'count 0001\\ncount 0002\\ncount 0003\\ncount 0004\\n' (44 characters), matched up to 21, "
            "then '\\ncount 0003\\ncount 0004\\n'")
      << "whole lines are read";
  m.feed("04\r\n");
  ASSERT_TRUE(m.mismatch().has_value());
  EXPECT_EQ(*m.mismatch(),
            "stream of cnt: expected '3\\ncount 0004\\n' (from character 31 of 44) but the console has the line "
            "'cnt| count 0004'");
}

TEST(FindStep, FindsAGuestsLineSplitByOtherSources) {
  ConsoleMatcher m(steps({"find:linux|rcS: ready", "expect:after"}), {});
  m.feed("linux| rcS: counter: 12 ms\r\nlinux| rc\r\nhyp: a restart\r\nuart| resumed\r\nlinux| S\r\n");
  EXPECT_EQ(m.next_step()->kind, Step::Kind::kFind);
  m.feed("hyp: another\r\nlinux| : ready\r\n");
  ASSERT_NE(m.next_step(), nullptr);
  EXPECT_EQ(m.next_step()->text, "after") << "found; the match ends with the line that completed it";
  m.feed("after\r\n");
  EXPECT_EQ(m.next_step(), nullptr);
}

TEST(FindStep, OtherSourcesAndSeparateLinesDoNotMakeAMatch) {
  ConsoleMatcher m(steps({"find:linux|rcS: ready"}), {});
  // The text in another source's line, or across two of the guest's lines
  // with nothing between them (a real line end), is not a match; nor is a
  // line not yet complete.
  m.feed("vm| rcS: ready\r\nhyp: rcS: ready\r\nlinux| rcS:\r\nlinux|  ready\r\nlinux| rcS: rea");
  ASSERT_NE(m.next_step(), nullptr);
  EXPECT_EQ(m.next_step()->kind, Step::Kind::kFind);
  m.feed("dy\r\n");
  EXPECT_EQ(m.next_step(), nullptr);
}

TEST(FindStep, StartsAtThePreviousMatch) {
  ConsoleMatcher m(steps({"expect:mark", "find:vm|hello"}), {});
  m.feed("vm| hello\r\nmark\r\n");
  ASSERT_NE(m.next_step(), nullptr) << "the earlier line does not count";
  m.feed("vm| hel\r\nhyp: x\r\nvm| lo\r\n");
  EXPECT_EQ(m.next_step(), nullptr);
}

TEST(SeenStep, CountsOccurrencesUpToThePreviousMatch) {
  ConsoleMatcher m(steps({"expect:end", "seen:2:crash", "expect:more"}), {});
  m.feed("crash crash end crash");
  EXPECT_EQ(m.next_step()->text, "more");
  ConsoleMatcher too_few(steps({"expect:end", "seen:3:crash"}), {});
  too_few.feed("crash crash end crash");
  ASSERT_TRUE(too_few.mismatch().has_value());
  EXPECT_EQ(*too_few.mismatch(), "expected 3 times 'crash' so far but the console has it 2 times");
}

TEST(ParseStep, StreamAndSeenSteps) {
  auto s = parse_step("stream:cnt|a\\nb|c");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, Step::Kind::kStream);
  EXPECT_EQ(s->source, "cnt");
  EXPECT_EQ(s->text, "a\nb|c");
  EXPECT_FALSE(parse_step("stream:cnt").ok());
  EXPECT_FALSE(parse_step("stream:|x").ok());
  EXPECT_FALSE(parse_step("stream:cnt|").ok());
  s = parse_step("seen:12:a:b");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, Step::Kind::kSeen);
  EXPECT_EQ(s->count, 12u);
  EXPECT_EQ(s->text, "a:b");
  EXPECT_FALSE(parse_step("seen:x:a").ok());
  EXPECT_FALSE(parse_step("seen:3").ok());
  EXPECT_FALSE(parse_step("seen:3:").ok());
  s = parse_step("find:linux|rcS: ready");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, Step::Kind::kFind);
  EXPECT_EQ(s->source, "linux");
  EXPECT_EQ(s->text, "rcS: ready");
  EXPECT_FALSE(parse_step("find:linux").ok());
  EXPECT_FALSE(parse_step("find:linux|").ok());
  EXPECT_FALSE(parse_step("find:linux|a\\nb").ok()) << "one line's text only";
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
