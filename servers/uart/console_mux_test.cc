#include "servers/uart/console_mux.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <optional>
#include <string>

namespace hyp::server {
namespace {

class FakeWire final : public Wire {
 public:
  void put(char c) override { out.push_back(c); }
  bool get(uint8_t& byte) override {
    if (in.empty()) return false;
    byte = in.front();
    in.pop_front();
    return true;
  }
  std::string out;
  std::deque<uint8_t> in;
};

// A server's channel state page and info page, and the multiplexer on them,
// as the runtime drives it: requests applied through device(), then poll().
class ConsoleMuxTest : public ::testing::Test {
 protected:
  void SetUp() override { start({"con"}, false); }

  void start(std::initializer_list<const char*> clients, bool resumed, bool raw = false) {
    info_ = ipc::ServerInfo{};
    info_.magic = ipc::kInfoMagic;
    for (const char* name : clients) std::strncpy(info_.client[info_.device_count++], name, ipc::kMaxClientName);
    // A new instance of the server, on the same state page.
    mux_.emplace();
    mux_->start(info_, state(), resumed, &wire_, raw);
  }

  ConsoleState* state() { return reinterpret_cast<ConsoleState*>(page_); }
  MmioDevice& uart(uint32_t i = 0) { return *mux_->device(i); }

  // Guest stores to DR, posted: the server applies them in batches and
  // polls after each batch (the kernel runs it every 32 posted writes).
  void write_without_polling(const std::string& text, unsigned width = 4, uint32_t i = 0) {
    size_t in_batch = 0;
    for (char c : text) {
      uart(i).write(Pl011::kDr, width, static_cast<uint8_t>(c));
      if (++in_batch == 32) {
        mux_->poll();
        in_batch = 0;
      }
    }
    mux_->poll();
  }

  alignas(ConsoleState) unsigned char page_[sizeof(ConsoleState)]{};
  ipc::ServerInfo info_{};
  FakeWire wire_;
  std::optional<ConsoleMux> mux_;
};

std::string pattern(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('!' + (i * 7) % 90));
  return s;
}

TEST_F(ConsoleMuxTest, UnpolledWritesWithTheFifoOffLoseNothing) {
  const std::string text = pattern(300);
  write_without_polling(text);
  EXPECT_EQ(wire_.out, "con| " + text);
}

TEST_F(ConsoleMuxTest, UnpolledWritesWithTheFifoOnLoseNothing) {
  uart().write(Pl011::kLcrH, 4, Pl011::kLcrFen | (3u << 5));
  const std::string text = pattern(300);
  // 16-bit stores, as Linux's amba-pl011 driver makes them.
  write_without_polling(text, 2);
  EXPECT_EQ(wire_.out, "con| " + text);
}

TEST_F(ConsoleMuxTest, TransmitFlagsStayTruthfulWhileBytesGoOutAsTheyAreWritten) {
  for (uint32_t lcr : {0u, Pl011::kLcrFen}) {
    uart().write(Pl011::kLcrH, 4, lcr);
    for (int i = 0; i < 40; ++i) {
      uart().write(Pl011::kDr, 4, 'x');
      // Nothing waits to be sent: the FIFO is empty, not full, not busy,
      // and the transmit interrupt (at or below the level) is raised.
      EXPECT_EQ(uart().read(Pl011::kFr, 4) & (Pl011::kFrTxff | Pl011::kFrTxfe | Pl011::kFrBusy), Pl011::kFrTxfe);
      EXPECT_NE(uart().read(Pl011::kRis, 4) & Pl011::kIntTx, 0u);
    }
  }
  EXPECT_EQ(wire_.out, "con| " + std::string(80, 'x'));
}

TEST_F(ConsoleMuxTest, GuestLinesArePrefixedAndEndWithCrLf) {
  write_without_polling("one\r\ntwo\n\nthree");
  EXPECT_EQ(wire_.out, "con| one\r\ncon| two\r\ncon| \r\ncon| three");
}

// A sole guest's console under //:qemu_guest: its bytes exactly as
// written, as QEMU's own UART gives them; a kernel line still ends an open
// guest line before it.
TEST_F(ConsoleMuxTest, RawModeWritesTheGuestsBytesAsTheyAre) {
  start({"con"}, false, true);
  write_without_polling("PASS: one\r\ntwo\n\nthree");
  EXPECT_EQ(wire_.out, "PASS: one\r\ntwo\n\nthree");
  // A kernel line waits for the guest's line to end.
  mux_->log_line("hyp: x", 6);
  EXPECT_EQ(wire_.out, "PASS: one\r\ntwo\n\nthree");
  write_without_polling(" four\n");
  EXPECT_EQ(wire_.out, "PASS: one\r\ntwo\n\nthree four\nhyp: x\r\n");
  // With no guest line open, at once.
  mux_->log_line("hyp: y", 6);
  EXPECT_EQ(wire_.out, "PASS: one\r\ntwo\n\nthree four\nhyp: x\r\nhyp: y\r\n");
}

// A guest that keeps its line open does not hold the kernel's lines back
// for ever: past kHeldLines its line is ended for them, in order.
TEST_F(ConsoleMuxTest, RawModeHoldsOnlySoManyKernelLines) {
  start({"con"}, false, true);
  write_without_polling("# ");
  std::string want = "# \r\n";
  for (uint32_t i = 0; i <= kHeldLines; ++i) {
    const std::string line = "hyp: " + std::to_string(i);
    mux_->log_line(line.data(), line.size());
    want += line + "\r\n";
  }
  EXPECT_EQ(wire_.out, want);
  write_without_polling("ls\n");
  EXPECT_EQ(wire_.out, want + "ls\n");
}

TEST_F(ConsoleMuxTest, AnotherSourceEndsAnOpenLineWhichContinuesUnderItsPrefix) {
  write_without_polling("count 00");
  mux_->log_line("hyp: something", 14);
  write_without_polling("12\n");
  mux_->log_line("hyp: more", 9);
  EXPECT_EQ(wire_.out, "con| count 00\r\nhyp: something\r\ncon| 12\r\nhyp: more\r\n");
}

TEST_F(ConsoleMuxTest, ClientsShareTheConsoleLineByLine) {
  start({"a", "b"}, false);
  write_without_polling("x", 4, 0);
  write_without_polling("y\n", 4, 1);
  write_without_polling("z\n", 4, 0);
  EXPECT_EQ(wire_.out, "a| x\r\nb| y\r\na| z\r\n");
  EXPECT_EQ(mux_->device(2), nullptr);
}

TEST_F(ConsoleMuxTest, InputIsTakenOnlyWhileTheFirstUartHasRoom) {
  for (char c : std::string("abc")) wire_.in.push_back(static_cast<uint8_t>(c));
  mux_->poll();
  EXPECT_EQ(wire_.in.size(), 2u) << "FIFO off: a one-byte holding register";
  EXPECT_EQ(uart().read(Pl011::kDr, 4), uint64_t{'a'});
  uart().write(Pl011::kLcrH, 4, Pl011::kLcrFen);
  mux_->poll();
  EXPECT_TRUE(wire_.in.empty());
  EXPECT_EQ(uart().read(Pl011::kDr, 4), uint64_t{'b'});
  EXPECT_EQ(uart().read(Pl011::kDr, 4), uint64_t{'c'});
}

TEST_F(ConsoleMuxTest, ARestartedInstanceGoesOnFromTheStatePage) {
  uart().write(Pl011::kLcrH, 4, Pl011::kLcrFen);
  write_without_polling("count 0");
  // A new instance (same image, same state page): the open line and the
  // FIFO setting survive. A crash after applying the last write and before
  // recording it done replays it: one doubled character, nothing else.
  start({"con"}, true);
  EXPECT_EQ(uart().read(Pl011::kLcrH, 4), Pl011::kLcrFen);
  write_without_polling("012\n");
  EXPECT_EQ(wire_.out, "con| count 0012\r\n");
}

TEST_F(ConsoleMuxTest, BytesAFailedInstanceLeftInTheFifoGoOutWhenTheNextStarts) {
  write_without_polling("ab");
  // The instance failed after the FIFO took 'c' and before it was sent.
  state()->uarts[0].attach(nullptr);
  uart().write(Pl011::kDr, 4, 'c');
  start({"con"}, true);
  write_without_polling("d");
  EXPECT_EQ(wire_.out, "con| abcd");
}

TEST_F(ConsoleMuxTest, AGuestResetKeepsItsUartConnected) {
  write_without_polling("before ");
  uart().reset();
  write_without_polling("after\n");
  EXPECT_EQ(wire_.out, "con| before after\r\n");
}

}  // namespace
}  // namespace hyp::server
