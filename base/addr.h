// Distinct address types: a physical address, an intermediate physical
// address (what a partition's Stage-2 translates) and a virtual address are
// never interchangeable. Conversions are explicit and named.
#pragma once

#include <compare>
#include <cstdint>

namespace hyp {

template <typename Tag>
class Address {
 public:
  constexpr Address() = default;
  constexpr explicit Address(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }
  constexpr Address offset(uint64_t bytes) const { return Address(value_ + bytes); }
  constexpr uint64_t operator-(Address other) const { return value_ - other.value_; }
  constexpr bool is_aligned(uint64_t alignment) const { return (value_ & (alignment - 1)) == 0; }
  constexpr auto operator<=>(const Address&) const = default;

 private:
  uint64_t value_ = 0;
};

struct PaTag;
struct IpaTag;
struct VaTag;

using Pa = Address<PaTag>;    // physical address
using Ipa = Address<IpaTag>;  // intermediate physical address (a partition's "physical")
using Va = Address<VaTag>;    // virtual address of the current translation regime

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kPageShift = 12;

constexpr uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }
constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

}  // namespace hyp
