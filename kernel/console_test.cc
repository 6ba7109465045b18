#include "kernel/console.h"

#include <gtest/gtest.h>

#include <string>

#include "kernel/arch/fake/fake.h"

namespace hyp {
namespace {

// A PL011 transmitter whose FIFO reports full for a few polls per character.
class FakeUart {
 public:
  static constexpr uint64_t kBase = 0x900'0000;
  explicit FakeUart(int busy_polls) : busy_polls_(busy_polls) {
    arch::fake::set_mmio(
        [this](Pa reg) -> uint32_t {
          EXPECT_EQ(reg, Pa(kBase + 0x18)) << "only FR is read";
          ++polls_;
          return polls_ <= busy_polls_ ? (1u << 5) : 0;
        },
        [this](Pa reg, uint32_t value) {
          EXPECT_EQ(reg, Pa(kBase));
          EXPECT_GT(polls_, busy_polls_) << "wrote while the FIFO was full";
          out_ += static_cast<char>(value);
          polls_ = 0;
        });
  }
  const std::string& out() const { return out_; }

 private:
  int busy_polls_;
  int polls_ = 0;
  std::string out_;
};

TEST(Console, WritesFormattedLinesWithCarriageReturns) {
  arch::fake::reset();
  FakeUart uart(3);
  console::init(Pa(FakeUart::kBase));
  console::print("cpu %d online\nnext\n", 2);
  EXPECT_EQ(uart.out(), "cpu 2 online\r\nnext\r\n");
  arch::fake::reset();
}

TEST(Console, FatalPathWritesEvenWhenTheLockIsNeverFree) {
  arch::fake::reset();
  FakeUart uart(0);
  console::init(Pa(FakeUart::kBase));
  console::print_fatal("PANIC %s\n", "now");
  EXPECT_EQ(uart.out(), "PANIC now\r\n");
  arch::fake::reset();
}

}  // namespace
}  // namespace hyp
