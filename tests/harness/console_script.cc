#include "tests/harness/console_script.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

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
  auto text = unescape(arg.substr(colon + 1));
  if (!text.ok()) return text.status();
  if (kind == "expect") {
    if (text->empty()) return absl::InvalidArgumentError("empty expectation");
    return Step{Step::Kind::kExpect, *text};
  }
  if (kind == "next") {
    if (text->empty()) return absl::InvalidArgumentError("empty expectation");
    return Step{Step::Kind::kNext, *text};
  }
  if (kind == "send") return Step{Step::Kind::kSend, *text};
  return absl::InvalidArgumentError(absl::StrCat("unknown step kind '", kind, "'"));
}

ConsoleMatcher::ConsoleMatcher(std::vector<Step> steps, std::vector<std::string> fail_on)
    : steps_(std::move(steps)), fail_on_(std::move(fail_on)) {}

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
  if (next_ < steps_.size() && steps_[next_].kind == Step::Kind::kSend) ++next_;
  advance();
}

void ConsoleMatcher::advance() {
  while (next_ < steps_.size() && !mismatch_ && steps_[next_].kind != Step::Kind::kSend) {
    const std::string& text = steps_[next_].text;
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
