// A system for the control commands' host tests: a guest and three
// servers, whose lifecycle the fake's calls change as the kernel would.
#pragma once

#include <cstring>
#include <utility>
#include <string>
#include <vector>

#include "servers/control/commands.h"

namespace hyp::control::testing {

class FakeBackend final : public Backend {
 public:
  FakeBackend() {
    sys.version = ipc::kControlVersion;
    sys.cpus = 2;
    sys.now_us = 1'500'000;
    add("linux", 5, false, ipc::Life::kRunning, 2);
    add("uart", 1, true, ipc::Life::kRunning, 1);
    add("blk", 2, true, ipc::Life::kRunning, 1);
    add("rtc", 3, true, ipc::Life::kNotStarted, 1);
    sys.partitions[1].console_owner = 1;
    sys.partitions[2].served = 1234;
    sys.partitions[2].failures = 1;
    sys.partitions[2].last_failure_us = 1'250'000;
    std::strcpy(sys.partitions[2].last_failure, "it stopped itself");
    for (auto& r : exits.counts) r = 0;
    exits.reasons = ipc::kExitReasonCount;
    exits.counts[0x24] = 100;
    exits.counts[0x16] = 7;
    exits.counts[ipc::kExitReasonIrq] = 3;
    exits.counts[0x3f] = 1;  // an unnamed class
  }

  ipc::ControlPartition& add(const char* name, uint16_t id, bool server, ipc::Life life, uint8_t vcpus) {
    ipc::ControlPartition& p = sys.partitions[sys.count++];
    std::strcpy(p.name, name);
    p.id = id;
    p.server = server ? 1 : 0;
    p.controllable = server ? 1 : 0;
    p.life = static_cast<uint8_t>(life);
    p.vcpu_count = vcpus;
    for (uint8_t v = 0; v < vcpus; ++v) p.vcpus[v] = {static_cast<uint8_t>(v == 0 ? 2 : 3), v, {}, 10u + v};
    return p;
  }
  ipc::ControlPartition* by_id(uint16_t id) {
    for (uint32_t i = 0; i < sys.count && i < ipc::kControlMaxPartitions; ++i) {
      if (sys.partitions[i].id == id) return &sys.partitions[i];
    }
    return nullptr;
  }

  Status read_system(ipc::ControlSystem& out) override {
    ++reads;
    if (fail_reads) return Status::kDenied;
    out = sys;
    return Status::kOk;
  }
  Status read_exits(uint16_t id, uint32_t vcpu, ipc::ControlExits& out) override {
    ipc::ControlPartition* p = by_id(id);
    if (p == nullptr || vcpu >= p->vcpu_count) return Status::kOutOfRange;
    out = exits;
    return Status::kOk;
  }
  Status restart(uint16_t id) override { return act("restart", id, ipc::Life::kRestarting); }
  Status stop(uint16_t id) override { return act("stop", id, ipc::Life::kStopping); }
  Status start(uint16_t id) override { return act("start", id, ipc::Life::kStarting); }
  Status set_trace(bool on) override {
    calls.push_back(on ? "trace on" : "trace off");
    tracing = on;
    return refuse;
  }
  Status read_trace(uint32_t cpu, uint64_t first, ipc::ControlTrace& out) override {
    if (cpu >= sys.cpus) return Status::kOutOfRange;
    out = ipc::ControlTrace{};
    out.cpu = cpu;
    out.frequency = 62'500'000;
    out.on = tracing ? 1 : 0;
    const std::vector<ipc::TraceRecord>& records = cpu < trace.size() ? trace[cpu] : no_records_;
    out.next = records.size();
    out.first = first < records.size() ? first : records.size();
    for (uint64_t i = out.first; i < records.size() && out.count < ipc::kTraceChunk; ++i) {
      out.records[out.count++] = records[i];
    }
    return Status::kOk;
  }

  ipc::ControlSystem sys;
  ipc::ControlExits exits;
  std::vector<std::string> calls;  // "restart 2", ...
  Status refuse = Status::kOk;     // what the next action answers
  bool fail_reads = false;
  bool tracing = false;
  std::vector<std::vector<ipc::TraceRecord>> trace;  // by CPU
  int reads = 0;

 private:
  const std::vector<ipc::TraceRecord> no_records_;
  Status act(const char* what, uint16_t id, ipc::Life now) {
    calls.push_back(std::string(what) + " " + std::to_string(id));
    if (refuse != Status::kOk) return refuse;
    if (ipc::ControlPartition* p = by_id(id); p != nullptr) p->life = static_cast<uint8_t>(now);
    return Status::kOk;
  }
};

// Collects what a command writes.
class StringOutput final : public Output {
 public:
  void write(const char* text, size_t length) override { text_.append(text, length); }
  std::string take() { return std::exchange(text_, {}); }

 private:
  std::string text_;
};

}  // namespace hyp::control::testing
