#include "servers/control/commands.h"
#include "servers/control/line_reader.h"

#include <gtest/gtest.h>

#include <string>

#include "servers/control/testing/fake_backend.h"
#include "servers/control/testing/json_check.h"

namespace hyp::control {
namespace {

using testing::FakeBackend;
using testing::JsonCheck;
using testing::StringOutput;

class CommandsTest : public ::testing::Test {
 protected:
  Outcome run(const std::string& line, Format format = Format::kText, bool console = true) {
    return run_command(line.data(), line.size(), backend_, out_, format, console);
  }
  // Runs `line` for a program: the answer is one JSON object on one line.
  std::string json(const std::string& line, bool expect_ok = true) {
    const Outcome o = run(line, Format::kJson, false);
    EXPECT_EQ(o.ok, expect_ok) << line;
    std::string text = out_.take();
    EXPECT_TRUE(JsonCheck::valid(text)) << text;
    EXPECT_EQ(text.find('\n'), text.size() - 1) << "one line: " << text;
    return text;
  }

  FakeBackend backend_;
  StringOutput out_;
};

TEST_F(CommandsTest, ListShowsEveryPartitionForAPersonAndForAProgram) {
  ASSERT_TRUE(run("list").ok);
  const std::string text = out_.take();
  EXPECT_NE(text.find("NAME"), std::string::npos);
  EXPECT_NE(text.find("linux              5 guest  running"), std::string::npos) << text;
  EXPECT_NE(text.find("0:running@0 1:blocked@1"), std::string::npos) << text;
  EXPECT_NE(text.find("blk                2 server running            0        1       1234"), std::string::npos)
      << text;
  EXPECT_NE(text.find("rtc                3 server not-started"), std::string::npos) << text;
  EXPECT_NE(text.find("last failure at 1.250000 s: it stopped itself"), std::string::npos) << text;
  const std::string j = json("list");
  EXPECT_NE(j.find(R"({"ok":true,"command":"list","cpus":2,"now_us":1500000,"partitions":[{"name":"linux","id":5,)"
                   R"("kind":"guest","state":"running","vcpus":[{"vcpu":0,"state":"running","cpu":0,"exits":10},)"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find(R"("name":"blk","id":2,"kind":"server","state":"running","controllable":true,"console":false,)"
                   R"("restarts":0,"failures":1,"served":1234,"last_failure":{"at_us":1250000,)"
                   R"("reason":"it stopped itself"})"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find(R"("name":"uart","id":1,"kind":"server","state":"running","controllable":true,"console":true)"),
            std::string::npos);
  EXPECT_TRUE(backend_.calls.empty());
}

TEST_F(CommandsTest, StatsCountExitsByReasonPerVcpu) {
  ASSERT_TRUE(run("stats").ok);
  const std::string text = out_.take();
  EXPECT_NE(text.find("linux vcpu 1: 111 exits: hvc64 7 dabt 100 ec3f 1 irq 3"), std::string::npos) << text;
  EXPECT_NE(text.find("blk: 1234 requests served, 0 restarts, 1 failures"), std::string::npos) << text;
  const std::string j = json("stats blk");
  EXPECT_EQ(j, R"({"ok":true,"command":"stats","partitions":[{"name":"blk","id":2,"kind":"server","served":1234,)"
               R"("restarts":0,"failures":1,"vcpus":[{"vcpu":0,"exits":111,"by_reason":{"hvc64":7,"dabt":100,)"
               R"("ec3f":1,"irq":3}}]}]})"
               "\n");
  EXPECT_FALSE(run("stats nobody").ok);
}

TEST_F(CommandsTest, ActionsCallTheBackendOnlyWhenTheServerIsInAStateForThem) {
  EXPECT_TRUE(run("restart blk").ok);
  EXPECT_EQ(out_.take(), "server blk: restarting\n");
  EXPECT_FALSE(run("stop blk").ok) << "it is restarting";
  EXPECT_EQ(out_.take(), "error: server blk is restarting, not running\n");
  backend_.by_id(2)->life = static_cast<uint8_t>(ipc::Life::kRunning);
  EXPECT_TRUE(run("stop blk").ok);
  backend_.by_id(2)->life = static_cast<uint8_t>(ipc::Life::kStopped);
  EXPECT_FALSE(run("restart blk").ok);
  EXPECT_FALSE(run("add blk").ok) << "add is for servers never started";
  EXPECT_TRUE(run("start blk").ok);
  EXPECT_FALSE(run("start rtc").ok) << "never started: add it";
  EXPECT_NE(out_.take().find("add it"), std::string::npos);
  EXPECT_EQ(json("add rtc"), R"({"ok":true,"command":"add","server":"rtc","state":"starting"})"
                             "\n");
  EXPECT_EQ(backend_.calls, (std::vector<std::string>{"restart 2", "stop 2", "start 2", "start 3"}));
}

TEST_F(CommandsTest, RefusalsAreErrorsAndNothingIsDone) {
  EXPECT_FALSE(run("restart linux").ok) << "a guest";
  EXPECT_FALSE(run("restart nobody").ok);
  backend_.by_id(1)->controllable = 0;
  EXPECT_FALSE(run("restart uart").ok);
  EXPECT_EQ(out_.take(), "error: no server linux\nerror: no server nobody\nerror: no right over server uart\n");
  EXPECT_TRUE(backend_.calls.empty());
  backend_.refuse = Status::kBusy;
  EXPECT_EQ(json("restart blk", false), R"({"ok":false,"command":"restart","error":"server blk: refused: busy"})"
                                        "\n");
  backend_.fail_reads = true;
  EXPECT_FALSE(run("list").ok);
  EXPECT_EQ(out_.take(), "error: the system could not be read: denied\n");
  EXPECT_EQ(json("list", false), R"({"ok":false,"command":"list","error":"the system could not be read: denied"})"
                                 "\n");
}

TEST_F(CommandsTest, MalformedLinesAreRefusedBeforeAnythingIsRead) {
  const std::string bad[] = {"restart",          "restart blk uart", "list x",       "help me",    "frobnicate",
                             "restart bl\x01k",  "stats a b",        "restart \xff", std::string(121, 'x'),
                             "restart " + std::string(32, 'b'), "a b c d", "exit", "console linux"};
  for (const std::string& line : bad) {
    const int reads = backend_.reads;
    EXPECT_FALSE(run(line, Format::kJson, false).ok) << line;
    const std::string text = out_.take();
    EXPECT_TRUE(JsonCheck::valid(text)) << text;
    EXPECT_EQ(text.find(R"({"ok":false,)"), 0u) << text;
    EXPECT_EQ(backend_.reads, reads) << "nothing read for: " << line;
  }
  EXPECT_TRUE(backend_.calls.empty());
  // NUL bytes are not a line's end.
  const char nul[] = {'l', 'i', 's', 't', '\0', 'x'};
  EXPECT_FALSE(run_command(nul, sizeof(nul), backend_, out_, Format::kText, true).ok);
}

TEST_F(CommandsTest, TheConsoleOnlyCommandsLeaveAndSwitch) {
  EXPECT_EQ(run("exit").kind, Outcome::Kind::kLeave);
  EXPECT_EQ(run("  quit  ").kind, Outcome::Kind::kLeave);
  const Outcome o = run("console linux");
  EXPECT_EQ(o.kind, Outcome::Kind::kConsole);
  EXPECT_STREQ(o.target, "linux");
  EXPECT_TRUE(run("").ok) << "an empty line does nothing";
  EXPECT_EQ(out_.take(), "");
  EXPECT_TRUE(run("help").ok);
  EXPECT_NE(out_.take().find("add NAME"), std::string::npos);
  json("help");
}

TEST_F(CommandsTest, KernelStringsArePrintedSafelyWhateverTheyHold) {
  ipc::ControlPartition& p = backend_.sys.partitions[2];
  std::memset(p.last_failure, 'q', sizeof(p.last_failure));  // no NUL at all
  p.last_failure[3] = '"';
  p.last_failure[4] = '\\';
  p.last_failure[5] = '\n';
  std::memset(p.name, 'n', sizeof(p.name));
  const std::string j = json("list");
  EXPECT_NE(j.find(R"("reason":"qqq\"\\?qqq)"), std::string::npos) << j;
  EXPECT_NE(j.find("\"name\":\"" + std::string(32, 'n') + "\""), std::string::npos) << j;
  backend_.sys.count = 99;  // more than there can be
  json("list");
}

TEST_F(CommandsTest, TraceDumpIsChromeTraceEventJsonWithEveryRecord) {
  EXPECT_TRUE(run("trace start").ok);
  EXPECT_EQ(out_.take(), "tracing on: every CPU's ring emptied\n");
  EXPECT_TRUE(backend_.tracing);
  backend_.trace.resize(2);
  // CPU 0: 300 records (three chunks); CPU 1: one of each kind.
  for (uint32_t i = 0; i < 300; ++i) backend_.trace[0].push_back({62'500ull * i, 1, 0, 5, 0, 0x24});
  backend_.trace[1] = {{1, 1, 1, 5, 1, 0x3e}, {2, 2, 1, 5, 1, 27}, {3, 3, 1, 2, 0, 5},
                       {4, 4, 1, 2, 0, 9},    {5, 5, 1, 2, 0, 1},  {6, 99, 1, 2, 0, 0}};
  const std::string j = json("trace dump");
  EXPECT_EQ(j.find(R"({"ok":true,"command":"trace","displayTimeUnit":"ns","traceEvents":[)"), 0u) << j;
  EXPECT_NE(j.find(R"({"ph":"M","name":"process_name","pid":5,"args":{"name":"linux"}})"), std::string::npos);
  EXPECT_NE(j.find(R"({"ph":"M","name":"thread_name","pid":5,"tid":1,"args":{"name":"vCPU 1"}})"), std::string::npos);
  size_t exits = 0;
  for (size_t at = 0; (at = j.find("\"name\":\"exit dabt\"", at)) != std::string::npos; ++at) ++exits;
  EXPECT_EQ(exits, 300u) << "every record of every chunk";
  // 62,500 ticks at 62.5 MHz: 1 ms apart.
  EXPECT_NE(
      j.find(R"({"name":"exit dabt","ph":"i","s":"t","ts":299000.000,"pid":5,"tid":0,"args":{"cpu":0,"arg":36}})"),
      std::string::npos);
  for (const char* name : {"exit ec3e", "inject", "run", "request", "answers", "\"?\""}) {
    EXPECT_NE(j.find(name), std::string::npos) << name;
  }
  EXPECT_TRUE(run("trace stop").ok);
  EXPECT_FALSE(backend_.tracing);
  out_.take();
  EXPECT_TRUE(run("trace dump").ok) << "the monitor gets a summary";
  EXPECT_EQ(out_.take(), "cpu 0: 300 records (tracing off); hypctl trace dump exports them\n"
                         "cpu 1: 6 records (tracing off); hypctl trace dump exports them\n");
  EXPECT_FALSE(run("trace").ok);
  EXPECT_FALSE(run("trace sideways").ok);
  EXPECT_EQ(out_.take(), "error: usage: trace start|stop|dump\nerror: usage: trace start|stop|dump\n");
  backend_.refuse = Status::kDenied;
  EXPECT_EQ(json("trace start", false),
            R"({"ok":false,"command":"trace","error":"tracing could not be turned on: denied"})" "\n");
}

TEST_F(CommandsTest, TheChannelsLineReaderAnswersEachLineOnceAndDropsAKilledOne) {
  LineReader reader;
  auto feed = [&](const std::string& bytes) {
    reader.feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), backend_, out_);
    return out_.take();
  };
  EXPECT_EQ(feed("resta"), "") << "nothing until the line ends";
  // Another client: Ctrl-U drops the unfinished line, CR LF ends its own.
  EXPECT_EQ(feed("\x15restart blk\r\n"), R"({"ok":true,"command":"restart","server":"blk","state":"restarting"})" "\n");
  EXPECT_EQ(feed("help\nli"), R"({"ok":true,"command":"help","commands":["list","stats","restart","stop","start","add","trace","help"]})" "\n");
  EXPECT_EQ(feed("st x\n").substr(0, 42), R"({"ok":false,"command":"list","error":"list)");
  const std::string overlong = feed(std::string(500, 'r') + "\n");
  EXPECT_EQ(overlong, R"({"ok":false,"command":"","error":"line too long"})" "\n");
  EXPECT_EQ(feed("\n"), R"({"ok":false,"command":"","error":"empty line"})" "\n");
  EXPECT_EQ(backend_.calls, std::vector<std::string>{"restart 2"}) << "nothing but the one whole command ran";
}

}  // namespace
}  // namespace hyp::control
