// A device server for the EL1-state test: its one device reports the values
// this server finds in the registers of registers.h and then puts its own
// values there, so that the guest on the other side of each switch can tell
// whether anything crossed. At start it also checks, from the server's
// side, what the kernel traps or emulates.
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"
#include "servers/el1_state/registers.h"
#include "servers/el1_state/trapped.h"
#include "servers/lib/runtime.h"

namespace {

using el1_state::kCount;

uint64_t guarded_read(uint32_t r) {
  rt::arm_catch();
  const uint64_t v = el1_state::read(r);
  return rt::caught().taken ? el1_state::kAbsent : v;
}

class Registers final : public hyp::server::MmioDevice {
 public:
  // Which registers this server cannot reach (UNDEFINED here): found once,
  // before any request, so that serving requests takes no exception (one
  // would change the server's own ESR, ELR, SPSR and FAR under the test).
  void probe() {
    for (uint32_t r = 0; r < kCount; ++r) {
      absent_[r] = guarded_read(r) == el1_state::kAbsent;
      if (absent_[r]) own_[r] = el1_state::kAbsent;
    }
  }

  uint64_t window() const override { return 0x1000; }

  uint64_t read(uint64_t offset, unsigned width) override {
    if (width != 8) return 0;
    if (offset == el1_state::kCountReg) return kCount;
    if (offset >= el1_state::kOwnBase && offset < el1_state::kOwnBase + 8 * kCount) {
      return own_[(offset - el1_state::kOwnBase) / 8];
    }
    if (offset >= el1_state::kSeenBase && offset < el1_state::kSeenBase + 8 * kCount) {
      const auto r = static_cast<uint32_t>((offset - el1_state::kSeenBase) / 8);
      if (absent_[r]) return el1_state::kAbsent;
      const uint64_t seen = el1_state::read(r);
      if (el1_state::kInfo[r].server_writes) el1_state::write(r, el1_state::kInfo[r].server_value);
      own_[r] = el1_state::read(r);
      return seen;
    }
    return 0;
  }
  void write(uint64_t, unsigned, uint64_t) override {}
  void reset() override {}

 private:
  uint64_t own_[kCount] = {};
  bool absent_[kCount] = {};
};

class El1StateServer final : public hyp::server::Server {
 public:
  void start(const hyp::ipc::ServerInfo&, void*, size_t, bool) override {
    el1_state::check_trapped(/*server=*/true);
    registers_.probe();
    guest::finish("el1 state server");
  }
  hyp::server::MmioDevice* device(uint32_t index) override { return index == 0 ? &registers_ : nullptr; }

 private:
  Registers registers_;
};

El1StateServer g_server;

}  // namespace

void partition_main(uint64_t /*dtb*/) { hyp::server::run(g_server); }
