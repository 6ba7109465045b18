// The project's single error vocabulary: a Status code and an expected-like
// Result<T>. Shared by the kernel, servers and host tools; freestanding.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace hyp {

enum class [[nodiscard]] Status : int32_t {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kNoMemory,
  kOutOfRange,
  kAlreadyExists,
  kDenied,
  kBusy,
  kNotSupported,
  kAborted,
};

constexpr const char* status_name(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kInvalidArgument: return "invalid argument";
    case Status::kNotFound: return "not found";
    case Status::kNoMemory: return "no memory";
    case Status::kOutOfRange: return "out of range";
    case Status::kAlreadyExists: return "already exists";
    case Status::kDenied: return "denied";
    case Status::kBusy: return "busy";
    case Status::kNotSupported: return "not supported";
    case Status::kAborted: return "aborted";
  }
  return "unknown status";
}

// A value or a non-ok Status. Deliberately small: no exceptions, and reading
// the value of an error is a programming error the caller checks against.
template <typename T>
class [[nodiscard]] Result {
 public:
  constexpr Result(T value) : status_(Status::kOk), value_(std::move(value)) {}  // NOLINT
  constexpr Result(Status status) : status_(status), value_() {}                 // NOLINT

  constexpr bool ok() const { return status_ == Status::kOk; }
  constexpr Status status() const { return status_; }
  constexpr const T& value() const& { return value_; }
  constexpr T& value() & { return value_; }
  constexpr T&& value() && { return std::move(value_); }
  constexpr const T* operator->() const { return &value_; }
  constexpr T* operator->() { return &value_; }
  constexpr const T& operator*() const& { return value_; }

 private:
  static_assert(std::is_default_constructible_v<T>, "Result<T> needs a default-constructible T");
  Status status_;
  T value_;
};

}  // namespace hyp
