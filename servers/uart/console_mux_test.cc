#include "servers/uart/console_mux.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <optional>
#include <string>

#include "servers/control/testing/fake_backend.h"

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
    mux_->start(info_, state(), resumed, &wire_, &backend_, raw);
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
  control::testing::FakeBackend backend_;
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
  for (char c : std::string("abcd")) wire_.in.push_back(static_cast<uint8_t>(c));
  mux_->poll();
  EXPECT_EQ(wire_.in.size(), 2u) << "FIFO off: a one-byte holding register, and one byte the server holds";
  EXPECT_FALSE(mux_->wants_input());
  EXPECT_EQ(uart().read(Pl011::kDr, 4), uint64_t{'a'});
  mux_->poll();
  EXPECT_EQ(wire_.in.size(), 1u);
  EXPECT_EQ(uart().read(Pl011::kDr, 4), uint64_t{'b'});
  uart().write(Pl011::kLcrH, 4, Pl011::kLcrFen);
  mux_->poll();
  EXPECT_TRUE(wire_.in.empty());
  EXPECT_TRUE(mux_->wants_input());
  EXPECT_EQ(uart().read(Pl011::kDr, 4), uint64_t{'c'});
  EXPECT_EQ(uart().read(Pl011::kDr, 4), uint64_t{'d'});
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

// ---- The monitor (docs/control.md) -----------------------------------------

class MonitorTest : public ConsoleMuxTest {
 protected:
  void type(const std::string& keys) {
    for (char c : keys) wire_.in.push_back(static_cast<uint8_t>(c));
    mux_->poll();
  }
};

TEST_F(MonitorTest, TheEscapeKeyOpensAPromptAndCommandsAnswerThere) {
  write_without_polling("half a line");
  type("x\x1d");
  EXPECT_EQ(uart().read(Pl011::kDr, 4), uint64_t{'x'}) << "bytes before the escape key are the guest's";
  EXPECT_TRUE(mux_->monitor_open());
  EXPECT_EQ(wire_.out,
            "con| half a line\r\nhyp: monitor (help lists the commands; Ctrl-] or exit returns input to con)\r\nhyp> ");
  wire_.out.clear();
  type("restart blk\r\n");
  EXPECT_EQ(wire_.out, "restart blk\r\nserver blk: restarting\r\nhyp> ");
  EXPECT_EQ(backend_.calls, std::vector<std::string>{"restart 2"});
  wire_.out.clear();
  type("lisx\x7ft\r");
  EXPECT_EQ(wire_.out.substr(0, 12), "lisx\b \bt\r\nNA") << "backspace erases";
  EXPECT_NE(wire_.out.find("rtc                3 server not-started"), std::string::npos) << wire_.out;
  // Nothing typed at the monitor reached the guest.
  EXPECT_EQ(uart().read(Pl011::kFr, 4) & Pl011::kFrRxfe, Pl011::kFrRxfe);
  wire_.out.clear();
  type("exit\r");
  EXPECT_FALSE(mux_->monitor_open());
  EXPECT_EQ(wire_.out, "exit\r\nhyp: input to con\r\n");
  type("y");
  EXPECT_EQ(uart().read(Pl011::kDr, 4), uint64_t{'y'});
}

TEST_F(MonitorTest, GuestOutputGoesOnAndThePromptComesBackUnderIt) {
  type("\x1d" "sta");
  wire_.out.clear();
  write_without_polling("busy\n");
  mux_->log_line("hyp: a kernel line", 18);
  EXPECT_EQ(wire_.out, "\r\ncon| busy\r\nhyp: a kernel line\r\nhyp> sta");
  wire_.out.clear();
  write_without_polling("more");
  type("ts\r");
  EXPECT_EQ(wire_.out.substr(0, 25), "\r\ncon| more\r\nhyp> stats\r\n") << wire_.out;
}

TEST_F(MonitorTest, ConsoleSwitchesInputBetweenGuestsAndEscapeLeaves) {
  start({"a", "b"}, false);
  type("\x1d" "console b\r");
  EXPECT_NE(wire_.out.find("input goes to b when the monitor closes"), std::string::npos);
  type("console nobody\r");
  EXPECT_NE(wire_.out.find("error: no guest nobody on this console"), std::string::npos);
  wire_.out.clear();
  type("\x1d" "q");
  EXPECT_EQ(wire_.out, "\r     \rhyp: input to b\r\n") << "the empty prompt is wiped";
  EXPECT_EQ(mux_->focus(), 1u);
  EXPECT_EQ(uart(1).read(Pl011::kDr, 4), uint64_t{'q'});
  EXPECT_EQ(uart(0).read(Pl011::kFr, 4) & Pl011::kFrRxfe, Pl011::kFrRxfe);
  // A new instance keeps the focus and the monitor's state (its state page).
  type("\x1d" "sta");
  start({"a", "b"}, true);
  wire_.out.clear();
  type("ts linux\r");
  EXPECT_EQ(wire_.out.substr(0, 25), "hyp> stats linux\r\nlinux v") << wire_.out;
  EXPECT_EQ(mux_->focus(), 1u);
}

TEST_F(MonitorTest, BadInputIsAnErrorAndALongLineIsCutNotOverrun) {
  type("\x1d");
  wire_.out.clear();
  type("frob\x01nicate\r");
  EXPECT_EQ(wire_.out, "frobnicate\r\nerror: unknown command frobnicate (try help)\r\nhyp> ")
      << "control characters are not taken";
  type(std::string(300, 'r') + "\r");
  EXPECT_NE(wire_.out.find("error: word too long"), std::string::npos);
  type("\x03");
  type("stop uart uart\r");
  EXPECT_NE(wire_.out.find("error: usage: stop NAME"), std::string::npos);
  EXPECT_TRUE(backend_.calls.empty());
  // A state page with nonsense in it (another instance's bug) is repaired
  // by the next instance.
  state()->monitor.length = 60000;
  state()->monitor.focus = 99;
  start({"con"}, true);
  EXPECT_EQ(mux_->focus(), 0u);
  type("help\r");
  EXPECT_NE(wire_.out.find("add NAME"), std::string::npos);
}

}  // namespace
}  // namespace hyp::server
