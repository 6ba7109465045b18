#include "servers/control/commands.h"

#include <cstdarg>

#include "base/format.h"

namespace hyp::control {

void Output::print(const char* fmt, ...) {
  char buf[256];
  va_list args;
  va_start(args, fmt);
  size_t n = vformat(buf, sizeof(buf), fmt, args);
  va_end(args);
  if (n >= sizeof(buf)) n = sizeof(buf) - 1;
  write(buf, n);
}

const char* exit_reason_name(size_t r) {
  switch (r) {
    case 0x00: return "unknown";
    case 0x01: return "wfx";
    case 0x07: return "fpsimd";
    case 0x16: return "hvc64";
    case 0x17: return "smc64";
    case 0x18: return "sysreg";
    case 0x20: return "iabt";
    case 0x24: return "dabt";
    case ipc::kExitReasonIrq: return "irq";
    case ipc::kExitReasonFiq: return "fiq";
    case ipc::kExitReasonSError: return "serror";
    default: return nullptr;
  }
}

namespace {

constexpr size_t kMaxTokens = 3;
constexpr size_t kMaxToken = ipc::kControlNameLength - 1;

struct Tokens {
  char word[kMaxTokens][kMaxToken + 1] = {};
  size_t count = 0;
};

// Splits `line` at spaces and tabs. Refuses anything but printable ASCII,
// more than three words, and words longer than a name.
const char* tokenize(const char* line, size_t length, Tokens& t) {
  if (length > kMaxLine) return "line too long";
  size_t i = 0;
  while (i < length) {
    const char c = line[i];
    if (c == ' ' || c == '\t') {
      ++i;
      continue;
    }
    if (t.count == kMaxTokens) return "too many words";
    size_t n = 0;
    while (i < length && line[i] != ' ' && line[i] != '\t') {
      const char d = line[i];
      if (d < 0x21 || d > 0x7e) return "not printable text";
      if (n == kMaxToken) return "word too long";
      t.word[t.count][n++] = d;
      ++i;
    }
    t.word[t.count][n] = '\0';
    ++t.count;
  }
  return nullptr;
}

bool same(const char* a, const char* b) {
  for (; *a != '\0' && *a == *b; ++a, ++b) {
  }
  return *a == *b;
}

const char* life_name(uint8_t life) {
  switch (static_cast<ipc::Life>(life)) {
    case ipc::Life::kRunning: return "running";
    case ipc::Life::kOff: return "off";
    case ipc::Life::kNotStarted: return "not-started";
    case ipc::Life::kStopped: return "stopped";
    case ipc::Life::kFailed: return "failed";
    case ipc::Life::kStarting: return "starting";
    case ipc::Life::kStopping: return "stopping";
    case ipc::Life::kRestarting: return "restarting";
  }
  return "unknown";
}

const char* vcpu_state_name(uint8_t state) {
  switch (static_cast<ipc::VcpuRunState>(state)) {
    case ipc::VcpuRunState::kOff: return "off";
    case ipc::VcpuRunState::kRunnable: return "runnable";
    case ipc::VcpuRunState::kRunning: return "running";
    case ipc::VcpuRunState::kBlocked: return "blocked";
    case ipc::VcpuRunState::kStopped: return "stopped";
  }
  return "unknown";
}

// A string of the kernel's (a name, a failure's reason) as it may be
// printed: at most its field's length, NUL or not, and only printable
// characters (anything else becomes '?').
struct Clean {
  char text[ipc::kControlReasonLength + 1] = {};
  Clean(const char* s, size_t size) {
    size_t i = 0;
    for (; i < size && i < sizeof(text) - 1 && s[i] != '\0'; ++i) text[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    text[i] = '\0';
  }
};

void put(Output& out, const char* s) {
  size_t n = 0;
  while (s[n] != '\0') ++n;
  out.write(s, n);
}

// Writes `s` as a JSON string.
void json_string(Output& out, const char* s) {
  put(out, "\"");
  for (; *s != '\0'; ++s) {
    if (*s == '"' || *s == '\\') put(out, "\\");
    out.write(s, 1);
  }
  put(out, "\"");
}

class Command {
 public:
  Command(Backend& backend, Output& out, Format format, const char* name)
      : backend_(backend), out_(out), json_(format == Format::kJson), name_(name) {}

  Outcome fail(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    char buf[160];
    va_list args;
    va_start(args, fmt);
    vformat(buf, sizeof(buf), fmt, args);
    va_end(args);
    if (json_) {
      put(out_, "{\"ok\":false,\"command\":");
      json_string(out_, name_);
      put(out_, ",\"error\":");
      json_string(out_, buf);
      put(out_, "}\n");
    } else {
      out_.print("error: %s\n", buf);
    }
    return Outcome{};
  }

  // Opens a successful JSON answer: {"ok":true,"command":NAME
  void begin_json() {
    put(out_, "{\"ok\":true,\"command\":");
    json_string(out_, name_);
  }
  Outcome done() {
    if (json_) put(out_, "}\n");
    Outcome o;
    o.ok = true;
    return o;
  }

  bool load(ipc::ControlSystem& sys) {
    const Status st = backend_.read_system(sys);
    if (st != Status::kOk) {
      fail("the system could not be read: %s", status_name(st));
      return false;
    }
    if (sys.count > ipc::kControlMaxPartitions) sys.count = ipc::kControlMaxPartitions;
    return true;
  }

  Outcome list() {
    ipc::ControlSystem sys;
    if (!load(sys)) return Outcome{};
    if (json_) {
      begin_json();
      out_.print(",\"cpus\":%u,\"now_us\":%lu,\"partitions\":[", sys.cpus, sys.now_us);
    } else {
      out_.print("%-16s %3s %-6s %-11s %8s %8s %10s  %s\n", "NAME", "ID", "KIND", "STATE", "RESTARTS", "FAILURES",
                 "SERVED", "VCPUS (state@cpu)");
    }
    for (uint32_t i = 0; i < sys.count; ++i) list_one(sys.partitions[i], i == 0);
    if (json_) put(out_, "]");
    return done();
  }

  void list_one(const ipc::ControlPartition& p, bool first) {
    const Clean name(p.name, sizeof(p.name));
    const Clean reason(p.last_failure, sizeof(p.last_failure));
    const uint32_t vcpus = p.vcpu_count < ipc::kControlMaxVcpus ? p.vcpu_count : ipc::kControlMaxVcpus;
    if (json_) {
      put(out_, first ? "{\"name\":" : ",{\"name\":");
      json_string(out_, name.text);
      out_.print(",\"id\":%u,\"kind\":\"%s\",\"state\":\"%s\"", p.id, p.server != 0 ? "server" : "guest",
                 life_name(p.life));
      if (p.server != 0) {
        out_.print(",\"controllable\":%s,\"console\":%s,\"restarts\":%u,\"failures\":%u,\"served\":%lu",
                   p.controllable != 0 ? "true" : "false", p.console_owner != 0 ? "true" : "false", p.restarts,
                   p.failures, p.served);
        if (p.last_failure_us != 0) {
          out_.print(",\"last_failure\":{\"at_us\":%lu,\"reason\":", p.last_failure_us);
          json_string(out_, reason.text);
          put(out_, "}");
        } else {
          put(out_, ",\"last_failure\":null");
        }
      }
      put(out_, ",\"vcpus\":[");
      for (uint32_t v = 0; v < vcpus; ++v) {
        out_.print("%s{\"vcpu\":%u,\"state\":\"%s\",\"cpu\":%u,\"exits\":%lu}", v == 0 ? "" : ",", v,
                   vcpu_state_name(p.vcpus[v].state), p.vcpus[v].cpu, p.vcpus[v].exits);
      }
      put(out_, "]}");
      return;
    }
    char line[200];
    size_t n = 0;
    if (p.server != 0) {
      n = format(line, sizeof(line), "%-16s %3u %-6s %-11s %8u %8u %10lu ", name.text, p.id, "server",
                 life_name(p.life), p.restarts, p.failures, p.served);
    } else {
      n = format(line, sizeof(line), "%-16s %3u %-6s %-11s %8s %8s %10s ", name.text, p.id, "guest", life_name(p.life),
                 "-", "-", "-");
    }
    for (uint32_t v = 0; v < vcpus && n < sizeof(line); ++v) {
      n += format(line + n, sizeof(line) - n, " %u:%s@%u", v, vcpu_state_name(p.vcpus[v].state), p.vcpus[v].cpu);
    }
    out_.print("%s\n", line);
    if (p.server != 0 && p.last_failure_us != 0) {
      out_.print("%-16s     last failure at %lu.%06lu s: %s\n", "", p.last_failure_us / 1'000'000,
                 p.last_failure_us % 1'000'000, reason.text);
    }
  }

  // The partition named `name`, if there is one.
  const ipc::ControlPartition* find(const ipc::ControlSystem& sys, const char* name) {
    for (uint32_t i = 0; i < sys.count; ++i) {
      const Clean n(sys.partitions[i].name, sizeof(sys.partitions[i].name));
      if (same(n.text, name)) return &sys.partitions[i];
    }
    return nullptr;
  }

  Outcome stats(const char* only) {
    ipc::ControlSystem sys;
    if (!load(sys)) return Outcome{};
    if (only != nullptr && find(sys, only) == nullptr) return fail("no partition %s", only);
    if (json_) {
      begin_json();
      put(out_, ",\"partitions\":[");
    }
    bool first = true;
    for (uint32_t i = 0; i < sys.count; ++i) {
      const ipc::ControlPartition& p = sys.partitions[i];
      const Clean name(p.name, sizeof(p.name));
      if (only != nullptr && !same(name.text, only)) continue;
      if (!stats_one(p, name.text, first)) return Outcome{};
      first = false;
    }
    if (json_) put(out_, "]");
    return done();
  }

  bool stats_one(const ipc::ControlPartition& p, const char* name, bool first) {
    if (json_) {
      put(out_, first ? "{\"name\":" : ",{\"name\":");
      json_string(out_, name);
      out_.print(",\"id\":%u,\"kind\":\"%s\"", p.id, p.server != 0 ? "server" : "guest");
      if (p.server != 0)
        out_.print(",\"served\":%lu,\"restarts\":%u,\"failures\":%u", p.served, p.restarts, p.failures);
      put(out_, ",\"vcpus\":[");
    } else if (p.server != 0) {
      out_.print("%s: %lu requests served, %u restarts, %u failures\n", name, p.served, p.restarts, p.failures);
    }
    const uint32_t vcpus = p.vcpu_count < ipc::kControlMaxVcpus ? p.vcpu_count : ipc::kControlMaxVcpus;
    for (uint32_t v = 0; v < vcpus; ++v) {
      ipc::ControlExits exits;
      const Status st = backend_.read_exits(p.id, v, exits);
      if (st != Status::kOk) {
        // A JSON answer already begun cannot turn into an error: it is closed
        // with what there is, and says so.
        if (json_) {
          out_.print("%s{\"vcpu\":%u,\"error\":\"%s\"}", v == 0 ? "" : ",", v, status_name(st));
        } else {
          out_.print("%s vcpu %u: could not be read: %s\n", name, v, status_name(st));
        }
        continue;
      }
      uint64_t total = 0;
      for (size_t r = 0; r < ipc::kExitReasonCount; ++r) total += exits.counts[r];
      if (json_) {
        out_.print("%s{\"vcpu\":%u,\"exits\":%lu,\"by_reason\":{", v == 0 ? "" : ",", v, total);
      } else {
        out_.print("%s vcpu %u: %lu exits:", name, v, total);
      }
      bool any = false;
      for (size_t r = 0; r < ipc::kExitReasonCount; ++r) {
        if (exits.counts[r] == 0) continue;
        const char* reason = exit_reason_name(r);
        char unnamed[8];
        if (reason == nullptr) {
          format(unnamed, sizeof(unnamed), "ec%02lx", r);
          reason = unnamed;
        }
        out_.print(json_ ? "%s\"%s\":%lu" : "%s%s %lu", json_ ? (any ? "," : "") : " ", reason, exits.counts[r]);
        any = true;
      }
      put(out_, json_ ? "}}" : "\n");
    }
    if (json_) put(out_, "]}");
    return true;
  }

  enum class Op : uint8_t { kRestart, kStop, kStart, kAdd };

  Outcome act(Op op, const char* target) {
    ipc::ControlSystem sys;
    if (!load(sys)) return Outcome{};
    const ipc::ControlPartition* p = find(sys, target);
    if (p == nullptr || p->server == 0) return fail("no server %s", target);
    if (p->controllable == 0) return fail("no right over server %s", target);
    const auto life = static_cast<ipc::Life>(p->life);
    Status st = Status::kOk;
    const char* now = "";
    switch (op) {
      case Op::kRestart:
      case Op::kStop:
        if (life != ipc::Life::kRunning && life != ipc::Life::kStarting) {
          return fail("server %s is %s, not running", target, life_name(p->life));
        }
        st = op == Op::kRestart ? backend_.restart(p->id) : backend_.stop(p->id);
        now = op == Op::kRestart ? "restarting" : "stopping";
        break;
      case Op::kStart:
        if (life == ipc::Life::kNotStarted) return fail("server %s was never started: add it", target);
        if (life != ipc::Life::kStopped && life != ipc::Life::kFailed) {
          return fail("server %s is %s, not stopped", target, life_name(p->life));
        }
        st = backend_.start(p->id);
        now = "starting";
        break;
      case Op::kAdd:
        if (life != ipc::Life::kNotStarted) {
          return fail("server %s is %s: only a server not started at boot is added", target, life_name(p->life));
        }
        st = backend_.start(p->id);
        now = "starting";
        break;
    }
    if (st != Status::kOk) return fail("server %s: refused: %s", target, status_name(st));
    if (json_) {
      begin_json();
      put(out_, ",\"server\":");
      json_string(out_, target);
      out_.print(",\"state\":\"%s\"", now);
    } else {
      out_.print("server %s: %s\n", target, now);
    }
    return done();
  }

  // trace start | stop | dump. A dump is the Chrome trace-event format
  // (JSON object form: the events in "traceEvents"), which Perfetto's UI and
  // chrome://tracing open: partitions are processes, vCPUs threads.
  Outcome trace(const char* what) {
    if (same(what, "start") || same(what, "stop")) {
      const bool on = same(what, "start");
      const Status st = backend_.set_trace(on);
      if (st != Status::kOk) return fail("tracing could not be turned %s: %s", on ? "on" : "off", status_name(st));
      if (json_) {
        begin_json();
        out_.print(",\"tracing\":%s", on ? "true" : "false");
      } else {
        out_.print("tracing %s\n", on ? "on: every CPU's ring emptied" : "off");
      }
      return done();
    }
    if (!same(what, "dump")) return fail("usage: trace start|stop|dump");
    ipc::ControlSystem sys;
    if (!load(sys)) return Outcome{};
    if (!json_) return trace_summary(sys);
    begin_json();
    put(out_, ",\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
    bool first = true;
    for (uint32_t i = 0; i < sys.count; ++i) {
      const ipc::ControlPartition& p = sys.partitions[i];
      const Clean name(p.name, sizeof(p.name));
      out_.print("%s{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%u,\"args\":{\"name\":", first ? "" : ",", p.id);
      json_string(out_, name.text);
      put(out_, "}}");
      first = false;
      const uint32_t vcpus = p.vcpu_count < ipc::kControlMaxVcpus ? p.vcpu_count : ipc::kControlMaxVcpus;
      for (uint32_t v = 0; v < vcpus; ++v) {
        out_.print(",{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%u,\"tid\":%u,\"args\":{\"name\":\"vCPU %u\"}}",
                   p.id, v, v);
      }
    }
    for (uint32_t cpu = 0; cpu < sys.cpus && cpu < 256; ++cpu) {
      uint64_t from = 0;
      for (;;) {
        ipc::ControlTrace t;
        if (backend_.read_trace(cpu, from, t) != Status::kOk) break;
        const uint32_t count = t.count < ipc::kTraceChunk ? t.count : static_cast<uint32_t>(ipc::kTraceChunk);
        for (uint32_t k = 0; k < count; ++k) trace_event(t.records[k], t.frequency, first);
        if (count == 0 || t.first + count <= from) break;
        from = t.first + count;
      }
    }
    put(out_, "]");
    return done();
  }

  Outcome trace_summary(const ipc::ControlSystem& sys) {
    for (uint32_t cpu = 0; cpu < sys.cpus && cpu < 256; ++cpu) {
      ipc::ControlTrace t;
      if (backend_.read_trace(cpu, 0, t) != Status::kOk) break;
      out_.print("cpu %u: %lu records (tracing %s); hypctl trace dump exports them\n", cpu, t.next - t.first,
                 t.on != 0 ? "on" : "off");
    }
    return done();
  }

  void trace_event(const ipc::TraceRecord& r, uint64_t frequency, bool& first) {
    if (frequency == 0) return;
    // Microseconds with three decimals, from counter ticks without overflow.
    const uint64_t ns = r.ticks / frequency * 1'000'000'000 + r.ticks % frequency * 1'000'000'000 / frequency;
    const char* what = "?";
    char name[24];
    switch (static_cast<ipc::TraceEvent>(r.event)) {
      case ipc::TraceEvent::kExit: {
        const char* reason = r.arg < ipc::kExitReasonCount ? exit_reason_name(r.arg) : nullptr;
        if (reason != nullptr) {
          format(name, sizeof(name), "exit %s", reason);
        } else {
          format(name, sizeof(name), "exit ec%02x", r.arg & 0xff);
        }
        what = name;
        break;
      }
      case ipc::TraceEvent::kInject: what = "inject"; break;
      case ipc::TraceEvent::kSwitch: what = "run"; break;
      case ipc::TraceEvent::kRequest: what = "request"; break;
      case ipc::TraceEvent::kAnswer: what = "answers"; break;
    }
    out_.print("%s{\"name\":\"%s\",\"ph\":\"i\",\"s\":\"t\",\"ts\":%lu.%03lu,\"pid\":%u,\"tid\":%u,"
               "\"args\":{\"cpu\":%u,\"arg\":%u}}",
               first ? "" : ",", what, ns / 1000, ns % 1000, r.partition, r.vcpu, r.cpu, r.arg);
    first = false;
  }

  Outcome help() {
    if (json_) {
      begin_json();
      put(out_, ",\"commands\":[\"list\",\"stats\",\"restart\",\"stop\",\"start\",\"add\",\"trace\",\"help\"]");
      return done();
    }
    out_.print(
        "  list            partitions and servers: state, vCPUs (state@cpu), restarts,\n"
        "                  failures, requests served\n");
    out_.print(
        "  stats [NAME]    exits by reason per vCPU; requests, restarts, failures\n"
        "  restart NAME    rebuild server NAME from its image; it resumes its state\n");
    out_.print(
        "  stop NAME       quiesce server NAME and stop it (its devices read as zero)\n"
        "  start NAME      start a stopped or failed server\n");
    out_.print(
        "  add NAME        start a server the manifest left stopped at boot\n"
        "  console NAME    send console input to guest NAME\n");
    out_.print(
        "  trace start|stop|dump\n"
        "                  record exits, injections, switches, requests (dump: hypctl)\n");
    out_.print("  exit            back to the guest (Ctrl-] does the same)\n  help            this\n");
    return done();
  }

 private:
  Backend& backend_;
  Output& out_;
  bool json_;
  const char* name_;
};

}  // namespace

Outcome run_command(const char* line, size_t length, Backend& backend, Output& out, Format format, bool console) {
  Tokens t;
  const char* bad = tokenize(line, length, t);
  Command c(backend, out, format, bad == nullptr && t.count > 0 ? t.word[0] : "");
  if (bad != nullptr) return c.fail("%s", bad);
  if (t.count == 0 && format == Format::kJson) return c.fail("empty line");
  if (t.count == 0) {
    Outcome o;
    o.ok = true;
    return o;  // an empty line: nothing
  }
  const char* cmd = t.word[0];
  const char* arg = t.count > 1 ? t.word[1] : nullptr;
  auto args = [&](size_t n) { return t.count == n + 1; };
  if (same(cmd, "help") || same(cmd, "?")) return args(0) ? c.help() : c.fail("help takes nothing");
  if (same(cmd, "list") || same(cmd, "ls")) return args(0) ? c.list() : c.fail("list takes nothing");
  if (same(cmd, "stats")) return t.count <= 2 ? c.stats(arg) : c.fail("usage: stats [NAME]");
  if (same(cmd, "trace")) return args(1) ? c.trace(arg) : c.fail("usage: trace start|stop|dump");
  struct {
    const char* name;
    Command::Op op;
  } const acts[] = {{"restart", Command::Op::kRestart},
                    {"stop", Command::Op::kStop},
                    {"start", Command::Op::kStart},
                    {"add", Command::Op::kAdd}};
  for (const auto& a : acts) {
    if (same(cmd, a.name)) return args(1) ? c.act(a.op, arg) : c.fail("usage: %s NAME", a.name);
  }
  if (console && (same(cmd, "exit") || same(cmd, "quit"))) {
    if (!args(0)) return c.fail("exit takes nothing");
    Outcome o;
    o.kind = Outcome::Kind::kLeave;
    o.ok = true;
    return o;
  }
  if (console && same(cmd, "console")) {
    if (!args(1)) return c.fail("usage: console NAME");
    Outcome o;
    o.kind = Outcome::Kind::kConsole;
    o.ok = true;
    for (size_t i = 0; i < sizeof(o.target) - 1 && arg[i] != '\0'; ++i) o.target[i] = arg[i];
    return o;
  }
  return c.fail("unknown command %s (try help)", cmd);
}

}  // namespace hyp::control
