// A strict JSON syntax check (RFC 8259) for the host tests of the control
// commands' answers: whole input one value, nothing after it but
// whitespace. No values are built.
#pragma once

#include <cstddef>
#include <string_view>

namespace hyp::control::testing {

class JsonCheck {
 public:
  // Whether `text` is exactly one JSON value (and whitespace).
  static bool valid(std::string_view text) {
    JsonCheck c(text);
    c.space();
    if (!c.value(0)) return false;
    c.space();
    return c.pos_ == text.size();
  }

 private:
  explicit JsonCheck(std::string_view t) : t_(t) {}

  bool eat(char c) {
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void space() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r')) ++pos_;
  }
  bool word(std::string_view w) {
    if (t_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  bool digits() {
    const size_t from = pos_;
    while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') ++pos_;
    return pos_ > from;
  }
  bool number() {
    (void)eat('-');
    if (eat('0')) {
    } else if (!digits()) {
      return false;
    }
    if (eat('.') && !digits()) return false;
    if (eat('e') || eat('E')) {
      if (!eat('+')) (void)eat('-');
      if (!digits()) return false;
    }
    return true;
  }
  bool string() {
    if (!eat('"')) return false;
    while (pos_ < t_.size()) {
      const auto c = static_cast<unsigned char>(t_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (pos_ >= t_.size()) return false;
      const char e = t_[pos_++];
      if (e == 'u') {
        for (int i = 0; i < 4; ++i, ++pos_) {
          if (pos_ >= t_.size() || std::string_view("0123456789abcdefABCDEF").find(t_[pos_]) == std::string_view::npos) {
            return false;
          }
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  }
  bool value(int depth) {
    if (depth > 64 || pos_ >= t_.size()) return false;
    const char c = t_[pos_];
    if (c == '{') return members(depth, '}', true);
    if (c == '[') return members(depth, ']', false);
    if (c == '"') return string();
    if (c == 't') return word("true");
    if (c == 'f') return word("false");
    if (c == 'n') return word("null");
    return number();
  }
  bool members(int depth, char close, bool object) {
    ++pos_;
    space();
    if (eat(close)) return true;
    for (;;) {
      space();
      if (object) {
        if (!string()) return false;
        space();
        if (!eat(':')) return false;
        space();
      }
      if (!value(depth + 1)) return false;
      space();
      if (eat(close)) return true;
      if (!eat(',')) return false;
    }
  }

  std::string_view t_;
  size_t pos_ = 0;
};

}  // namespace hyp::control::testing
