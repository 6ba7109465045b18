// What an integration test expects of a console, step by step, and the
// matcher that checks a growing transcript against it.
//
// Steps, given on the command line:
//   expect:TEXT   TEXT must appear after the previous match
//   next:TEXT     TEXT must follow the previous match immediately (no
//                 bytes between: nothing lost, nothing repeated)
//   send:TEXT     write TEXT to the console (\n, \r, \t, \\ and \xNN escapes)
// Text that must never appear (fail_on) ends the test at once.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hyp::tools {

struct Step {
  enum class Kind { kExpect, kNext, kSend };
  Kind kind;
  std::string text;
};

absl::StatusOr<Step> parse_step(const std::string& arg);
absl::StatusOr<std::string> unescape(const std::string& text);

class ConsoleMatcher {
 public:
  ConsoleMatcher(std::vector<Step> steps, std::vector<std::string> fail_on);

  // Adds console output. Afterwards, check failure() and next_step().
  void feed(const std::string& bytes);

  // The step waiting to be satisfied (expect) or carried out (send); null
  // once every step is done.
  const Step* next_step() const { return next_ < steps_.size() ? &steps_[next_] : nullptr; }
  // Marks the current send step as done and matches further expectations.
  void sent();

  // The forbidden text seen, if any.
  const std::optional<std::string>& failure() const { return failure_; }
  // A next: step that the console contradicted, described.
  const std::optional<std::string>& mismatch() const { return mismatch_; }

  const std::string& transcript() const { return transcript_; }
  // The last `n` lines of the transcript.
  std::string tail(size_t n) const;

 private:
  void advance();

  std::vector<Step> steps_;
  std::vector<std::string> fail_on_;
  size_t next_ = 0;
  size_t cursor_ = 0;  // expectations match at or after this offset
  std::string transcript_;
  std::optional<std::string> failure_;
  std::optional<std::string> mismatch_;
};

}  // namespace hyp::tools
