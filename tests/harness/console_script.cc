#include "tests/harness/console_script.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace hyp::tools {

absl::StatusOr<std::string> unescape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (++i == text.size()) return absl::InvalidArgumentError("trailing backslash");
    switch (text[i]) {
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case '\\': out.push_back('\\'); break;
      case 'x': {
        int value = 0;
        // i is at the 'x'; two hex digits must follow.
        if (text.size() - i < 3 || !absl::ascii_isxdigit(static_cast<unsigned char>(text[i + 1])) ||
            !absl::ascii_isxdigit(static_cast<unsigned char>(text[i + 2])) ||
            !absl::SimpleHexAtoi(text.substr(i + 1, 2), &value)) {
          return absl::InvalidArgumentError("bad \\x escape");
        }
        out.push_back(static_cast<char>(value));
        i += 2;
        break;
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat("unknown escape \\", std::string(1, text[i])));
    }
  }
  return out;
}

absl::StatusOr<Step> parse_step(const std::string& arg) {
  const size_t colon = arg.find(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("step without kind: '", arg, "'"));
  const std::string kind = arg.substr(0, colon);
  if (kind == "host") {
    // A shell command as written: no escapes of the console's.
    if (colon + 1 == arg.size()) return absl::InvalidArgumentError("empty host command");
    return Step{Step::Kind::kHost, arg.substr(colon + 1), "", 0};
  }
  auto text = unescape(arg.substr(colon + 1));
  if (!text.ok()) return text.status();
  if (kind == "expect") {
    if (text->empty()) return absl::InvalidArgumentError("empty expectation");
    return Step{Step::Kind::kExpect, *text, "", 0};
  }
  if (kind == "next") {
    if (text->empty()) return absl::InvalidArgumentError("empty expectation");
    return Step{Step::Kind::kNext, *text, "", 0};
  }
  if (kind == "stream") {
    const size_t bar = text->find('|');
    if (bar == std::string::npos || bar == 0) return absl::InvalidArgumentError("stream step without NAME|");
    if (bar + 1 == text->size()) return absl::InvalidArgumentError("empty expectation");
    return Step{Step::Kind::kStream, text->substr(bar + 1), text->substr(0, bar), 0};
  }
  if (kind == "find") {
    const size_t bar = text->find('|');
    if (bar == std::string::npos || bar == 0) return absl::InvalidArgumentError("find step without NAME|");
    if (bar + 1 == text->size()) return absl::InvalidArgumentError("empty expectation");
    if (text->find_first_of("\r\n", bar + 1) != std::string::npos) {
      return absl::InvalidArgumentError("a find step's text has no line end");
    }
    return Step{Step::Kind::kFind, text->substr(bar + 1), text->substr(0, bar), 0};
  }
  if (kind == "seen") {
    const size_t sep = text->find(':');
    uint64_t count = 0;
    if (sep == std::string::npos || !absl::SimpleAtoi(text->substr(0, sep), &count)) {
      return absl::InvalidArgumentError("seen step without a count (seen:N:TEXT)");
    }
    if (sep + 1 == text->size()) return absl::InvalidArgumentError("empty expectation");
    return Step{Step::Kind::kSeen, text->substr(sep + 1), "", count};
  }
  if (kind == "send") return Step{Step::Kind::kSend, *text, "", 0};
  return absl::InvalidArgumentError(absl::StrCat("unknown step kind '", kind, "'"));
}

namespace {

// Text for messages: control characters escaped, long text shortened.
std::string quote(absl::string_view text, size_t max = 60) {
  std::string out = absl::CHexEscape(text.substr(0, max));
  if (text.size() > max) absl::StrAppend(&out, "...");
  return absl::StrCat("'", out, "'");
}

}  // namespace

std::string describe(const Step& step) {
  switch (step.kind) {
    case Step::Kind::kExpect: return quote(step.text);
    case Step::Kind::kNext: return absl::StrCat("next ", quote(step.text));
    case Step::Kind::kStream:
      return absl::StrCat("stream of ", step.source, " ", quote(step.text), " (", step.text.size(), " characters)");
    case Step::Kind::kFind: return absl::StrCat(quote(step.text), " from ", step.source);
    case Step::Kind::kSeen: return absl::StrCat(step.count, " times ", quote(step.text));
    case Step::Kind::kSend: return quote(step.text);
    case Step::Kind::kHost: return absl::StrCat("host command ", quote(step.text));
  }
  return "";
}

ConsoleMatcher::ConsoleMatcher(std::vector<Step> steps, std::vector<std::string> fail_on, std::string crash_report)
    : steps_(std::move(steps)), fail_on_(std::move(fail_on)), crash_report_(std::move(crash_report)) {}

std::string ConsoleMatcher::waiting_for() const {
  const Step* step = next_step();
  if (step == nullptr) return "";
  std::string out = describe(*step);
  if (step->kind == Step::Kind::kStream && stream_) {
    if (stream_->finished) {
      absl::StrAppend(&out, ", matched with ", stream_->finished->first, " doubled character",
                      stream_->finished->first == 1 ? "" : "s", " no crash report explains yet");
    } else {
      absl::StrAppend(&out, ", matched up to ", stream_->furthest, ", then ",
                      quote(absl::string_view(step->text).substr(stream_->furthest)));
    }
  }
  return out;
}

void ConsoleMatcher::feed(const std::string& bytes) {
  // Forbidden text may straddle two reads: search the new bytes together
  // with enough of the old to cover the longest pattern.
  size_t longest = 0;
  for (const auto& f : fail_on_) longest = std::max(longest, f.size());
  const size_t scan_from = transcript_.size() > longest ? transcript_.size() - longest : 0;
  transcript_ += bytes;
  if (!failure_) {
    for (const auto& f : fail_on_) {
      if (transcript_.find(f, scan_from) != std::string::npos) {
        failure_ = f;
        break;
      }
    }
  }
  advance();
}

void ConsoleMatcher::sent() {
  if (next_ < steps_.size() && (steps_[next_].kind == Step::Kind::kSend || steps_[next_].kind == Step::Kind::kHost)) {
    ++next_;
  }
  advance();
}

void ConsoleMatcher::advance() {
  while (next_ < steps_.size() && !mismatch_ && steps_[next_].kind != Step::Kind::kSend &&
         steps_[next_].kind != Step::Kind::kHost) {
    const std::string& text = steps_[next_].text;
    if (steps_[next_].kind == Step::Kind::kStream) {
      if (!advance_stream()) return;
      stream_.reset();
      ++next_;
      continue;
    }
    if (steps_[next_].kind == Step::Kind::kFind) {
      if (!advance_find()) return;
      find_.reset();
      ++next_;
      continue;
    }
    if (steps_[next_].kind == Step::Kind::kSeen) {
      uint64_t seen = 0;
      for (size_t at = transcript_.find(text); at != std::string::npos && at + text.size() <= cursor_;
           at = transcript_.find(text, at + 1)) {
        ++seen;
      }
      if (seen < steps_[next_].count) {
        mismatch_ = absl::StrCat("expected ", describe(steps_[next_]), " so far but the console has it ", seen,
                                 " times");
        return;
      }
      ++next_;
      continue;
    }
    if (steps_[next_].kind == Step::Kind::kNext) {
      const size_t available = std::min(transcript_.size() - cursor_, text.size());
      if (transcript_.compare(cursor_, available, text, 0, available) != 0) {
        mismatch_ = absl::StrCat("expected next '", text, "' but the console has '",
                                 transcript_.substr(cursor_, text.size()), "'");
        return;
      }
      if (available < text.size()) return;
      cursor_ += text.size();
      ++next_;
      continue;
    }
    const size_t at = transcript_.find(text, cursor_);
    if (at == std::string::npos) return;
    cursor_ = at + text.size();
    ++next_;
  }
}

bool ConsoleMatcher::advance_find() {
  const Step& step = steps_[next_];
  if (!find_) find_ = Find{cursor_, "", false};
  Find& f = *find_;
  const std::string prefix = absl::StrCat(step.source, "| ");
  for (;;) {
    const size_t eol = transcript_.find('\n', f.line);
    if (eol == std::string::npos) return false;
    absl::string_view line(transcript_.data() + f.line, eol - f.line);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    f.line = eol + 1;
    if (!absl::StartsWith(line, prefix)) {
      f.others = true;
      continue;
    }
    // Right after another of NAME's lines, a new line; after other
    // sources', the rest of a split one.
    if (!f.others) f.text.clear();
    f.others = false;
    absl::StrAppend(&f.text, line.substr(prefix.size()));
    if (absl::StrContains(f.text, step.text)) {
      cursor_ = f.line;
      return true;
    }
  }
}

// A stream is matched line by line. The console format (docs/servers.md)
// decides what a line end of NAME's can be:
//  - a line with no text after the prefix is the guest's newline (a line is
//    only split after the server printed some of it);
//  - a line followed at once by another of NAME's is the guest's newline;
//  - a line followed by other sources' lines is the guest's newline, or
//    its line split by them: both stay candidates until the text decides.
// Doubled characters are counted per stretch of NAME's text between other
// sources' lines and must not exceed the crash reports in the lines that
// end the stretch: a replayed write is printed by the server's next
// instance before it prints the queued report of the crash.
bool ConsoleMatcher::advance_stream() {
  const Step& step = steps_[next_];
  if (!stream_) {
    stream_ = Stream{};
    stream_->line = cursor_;
    stream_->candidates[0] = 0;
  }
  Stream& st = *stream_;
  const std::string prefix = absl::StrCat(step.source, "| ");
  for (;;) {
    const size_t eol = transcript_.find('\n', st.line);
    if (eol == std::string::npos) return false;
    const size_t start = st.line;
    absl::string_view line(transcript_.data() + start, eol - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    st.line = eol + 1;

    if (!absl::StartsWith(line, prefix)) {
      st.others = true;
      if (!crash_report_.empty() && absl::StrContains(line, crash_report_)) ++st.reports;
      if (st.finished && st.finished->first <= st.reports) {
        cursor_ = st.finished->second;
        return true;
      }
      continue;
    }

    // One of NAME's lines: first, how the one before it ended.
    if (st.end_open) {
      if (st.others) {
        std::map<size_t, uint32_t> both = st.candidates;  // split: nothing of the text
        for (const auto& [pos, repeats] : st.candidates) {
          if (pos < step.text.size() && step.text[pos] == '\n') keep(both, pos + 1, repeats);
        }
        st.candidates = std::move(both);
      } else {
        stream_char('\n');
      }
      st.end_open = false;
    }
    st.finished.reset();  // its doubled characters were not explained in time
    if (st.others) {
      // The stretch before the other sources' lines is complete.
      std::map<size_t, uint32_t> kept;
      for (const auto& [pos, repeats] : st.candidates) {
        if (repeats <= st.reports) kept[pos] = 0;
      }
      if (kept.empty() && !st.candidates.empty()) {
        stream_mismatch(absl::StrCat("doubled characters in ", step.source, "'s text before it that ",
                                     st.reports == 0 ? "no crash report explains"
                                                     : absl::StrCat("only ", st.reports, " crash reports explain")),
                        line);
        return false;
      }
      st.candidates = std::move(kept);
      st.others = false;
      st.reports = 0;
    }
    if (st.candidates.empty()) {
      stream_mismatch("", line);
      return false;
    }

    const absl::string_view text = line.substr(prefix.size());
    for (size_t i = 0; i < text.size(); ++i) {
      stream_char(text[i]);
      if (st.candidates.empty()) {
        stream_mismatch("", line);
        return false;
      }
      if (stream_done(start + prefix.size() + i + 1)) return true;
    }
    if (text.empty()) {
      stream_char('\n');
      if (st.candidates.empty()) {
        stream_mismatch("", line);
        return false;
      }
      if (stream_done(eol + 1)) return true;
      continue;
    }
    st.end_open = true;
    st.end_at = eol + 1;
    // Taking the open end as the guest's newline is right whatever follows.
    const auto last = st.candidates.find(step.text.size() - 1);
    if (step.text.back() == '\n' && last != st.candidates.end()) {
      if (last->second == 0) {
        cursor_ = st.end_at;
        return true;
      }
      if (!st.finished || last->second < st.finished->first) st.finished.emplace(last->second, st.end_at);
    }
  }
}

void ConsoleMatcher::keep(std::map<size_t, uint32_t>& candidates, size_t pos, uint32_t repeats) {
  const auto [it, inserted] = candidates.emplace(pos, repeats);
  if (!inserted && repeats < it->second) it->second = repeats;
}

void ConsoleMatcher::stream_char(char c) {
  Stream& st = *stream_;
  const std::string& text = steps_[next_].text;
  std::map<size_t, uint32_t> next;
  for (const auto& [pos, repeats] : st.candidates) {
    if (pos < text.size() && text[pos] == c) keep(next, pos + 1, repeats);
    // A doubled character: only where crashes are reported at all.
    if (!crash_report_.empty() && pos > 0 && text[pos - 1] == c) keep(next, pos, repeats + 1);
  }
  st.candidates = std::move(next);
  if (!st.candidates.empty()) st.furthest = std::max(st.furthest, st.candidates.rbegin()->first);
}

bool ConsoleMatcher::stream_done(size_t cursor) {
  Stream& st = *stream_;
  const auto end = st.candidates.find(steps_[next_].text.size());
  if (end == st.candidates.end()) return false;
  if (end->second == 0) {
    cursor_ = cursor;
    return true;
  }
  // Done once crash reports explain its doubled characters.
  if (!st.finished || end->second < st.finished->first) st.finished.emplace(end->second, cursor);
  st.candidates.erase(end);
  return false;
}

void ConsoleMatcher::stream_mismatch(const std::string& why, absl::string_view line) {
  const Step& step = steps_[next_];
  const absl::string_view rest = absl::string_view(step.text).substr(stream_->furthest);
  mismatch_ = absl::StrCat("stream of ", step.source, ": expected ", quote(rest, 40), " (from character ",
                           stream_->furthest, " of ", step.text.size(), ") but the console has the line ",
                           quote(line, 100));
  if (!why.empty()) absl::StrAppend(&*mismatch_, ", with ", why);
}

std::string ConsoleMatcher::tail(size_t n) const {
  std::vector<std::string> lines = absl::StrSplit(transcript_, '\n');
  const size_t start = lines.size() > n ? lines.size() - n : 0;
  std::string out;
  for (size_t i = start; i < lines.size(); ++i) {
    std::string line = lines[i];
    line.erase(std::remove(line.begin(), line.end(), '\r'), line.end());
    absl::StrAppend(&out, "  | ", line, "\n");
  }
  return out;
}

}  // namespace hyp::tools
