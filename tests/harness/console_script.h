// What an integration test expects of a console, step by step, and the
// matcher that checks a growing transcript against it.
//
// Steps, given on the command line:
//   expect:TEXT   TEXT must appear after the previous match
//   next:TEXT     TEXT must follow the previous match immediately (no
//                 bytes between: nothing lost, nothing repeated)
//   stream:NAME|TEXT
//                 TEXT must be what guest NAME prints next through its
//                 UART, as the UART server shows it (docs/servers.md): in
//                 lines "NAME| ..." ending in CR LF, where lines of other
//                 sources may come between and may split one of NAME's
//                 lines in two. Whole lines are read from the previous
//                 match on (so put the step after one that ends a line);
//                 every line with NAME's prefix belongs to the stream.
//                 Nothing may be lost, added or reordered, with one
//                 exception: a crash of the server repeats at most the one
//                 write it was applying, printed before the report of the
//                 crash. So NAME's text between two runs of other sources'
//                 lines may hold as many doubled characters (one character
//                 twice where the text has it once) as the run after it
//                 has crash reports (lines with the matcher's
//                 `crash_report` text); with no `crash_report`, none.
//   find:NAME|TEXT
//                 TEXT (no line end in it) appears in what guest NAME prints
//                 from the previous match on, as the UART server shows it:
//                 one of NAME's lines may be split by other sources' lines
//                 (see stream:), and a line of NAME's followed by other
//                 sources' lines is read as continued by NAME's next line.
//                 For a guest's line awaited while other sources print.
//   seen:N:TEXT   TEXT has appeared at least N times up to the previous match
//   send:TEXT     write TEXT to the console (\n, \r, \t, \\ and \xNN escapes;
//                 @HOST_EPOCH@ becomes the host's time in seconds as it is sent)
//   host:COMMAND  run COMMAND with /bin/sh on the host (the console is read
//                 meanwhile); it must exit with status 0
// Text that must never appear (fail_on) ends the test at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hyp::tools {

struct Step {
  enum class Kind { kExpect, kNext, kStream, kFind, kSeen, kSend, kHost };
  Kind kind;
  std::string text;
  std::string source;  // stream: and find: the guest's name
  uint64_t count = 0;  // seen: how many times
};

absl::StatusOr<Step> parse_step(const std::string& arg);
absl::StatusOr<std::string> unescape(const std::string& text);

// A step as failure messages name it (long texts shortened).
std::string describe(const Step& step);

class ConsoleMatcher {
 public:
  // `crash_report`, if not empty, is text in a console line that reports a
  // crash of a server (stream steps).
  ConsoleMatcher(std::vector<Step> steps, std::vector<std::string> fail_on, std::string crash_report = "");

  // Adds console output. Afterwards, check failure() and next_step().
  void feed(const std::string& bytes);

  // The step waiting to be satisfied (expect) or carried out (send); null
  // once every step is done.
  const Step* next_step() const { return next_ < steps_.size() ? &steps_[next_] : nullptr; }
  // Marks the current send (or host) step as done and matches further
  // expectations.
  void sent();
  // The current step as failure messages name it, with a stream's progress.
  std::string waiting_for() const;

  // The forbidden text seen, if any.
  const std::optional<std::string>& failure() const { return failure_; }
  // A next:, stream: or seen: step that the console contradicted, described.
  const std::optional<std::string>& mismatch() const { return mismatch_; }

  const std::string& transcript() const { return transcript_; }
  // The last `n` lines of the transcript.
  std::string tail(size_t n) const;

 private:
  // A stream: step's progress. Candidates are the positions in the step's
  // text that the console read so far can stand for (a line end followed
  // by other sources' lines may be the guest's newline, or its line split
  // by them), each with the doubled characters it needed since the last
  // lines of other sources; for a position only the fewest count.
  struct Stream {
    size_t line = 0;  // transcript offset of the next line to read
    std::map<size_t, uint32_t> candidates;
    bool end_open = false;  // NAME's last line had text; what its end was is not known yet
    size_t end_at = 0;      // transcript offset after that line
    bool others = false;    // other sources' lines since NAME's last line
    uint32_t reports = 0;   // crash reports among them
    size_t furthest = 0;    // the furthest position reached, for messages
    // The whole text matched, with doubled characters that crash reports
    // after it must explain: (doubled characters, where the match ends).
    std::optional<std::pair<uint32_t, size_t>> finished;
  };

  // A find: step's progress: NAME's current line, joined across splits.
  struct Find {
    size_t line = 0;      // transcript offset of the next line to read
    std::string text;     // NAME's line so far
    bool others = false;  // other sources' lines since NAME's last line
  };

  void advance();
  // Reads the complete lines the transcript has for the current find:
  // step; true when the step is done.
  bool advance_find();
  // Reads the complete lines the transcript has for the current stream:
  // step; true when the step is done.
  bool advance_stream();
  // One character of NAME's text, or the guest's newline.
  void stream_char(char c);
  // Completes the step if a candidate is at the end of the text without
  // doubled characters (`cursor` is where the match ends); one with some
  // waits for crash reports.
  bool stream_done(size_t cursor);
  void stream_mismatch(const std::string& why, absl::string_view line);
  static void keep(std::map<size_t, uint32_t>& candidates, size_t pos, uint32_t repeats);

  std::vector<Step> steps_;
  std::vector<std::string> fail_on_;
  std::string crash_report_;
  size_t next_ = 0;
  size_t cursor_ = 0;  // expectations match at or after this offset
  std::string transcript_;
  std::optional<std::string> failure_;
  std::optional<std::string> mismatch_;
  std::optional<Stream> stream_;  // while the current step is a stream: step
  std::optional<Find> find_;      // while the current step is a find: step
};

}  // namespace hyp::tools
