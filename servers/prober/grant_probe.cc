// A device server (the server runtime: stage-1 MMU on) given a guest's
// memory by the manifest (docs/ffa.md, "Boot grants"): it reads the grant
// through its window as its info page describes it, finds the guest's
// image there, and checks that the byte past the grant is refused.
// //tests:server_grant_test reads its report.
#include <cstdint>

#include "guests/lib/check.h"
#include "ipc/channel.h"
#include "runtime/runtime.h"
#include "servers/lib/runtime.h"

namespace {

using guest::check;

// Reads the 32-bit word at `va`; false if the access was refused.
bool read(uint64_t va, uint32_t& value) {
  rt::arm_catch();
  value = *reinterpret_cast<volatile uint32_t*>(va);
  return !rt::caught().taken;
}

class GrantProbe final : public hyp::server::Server {
 public:
  void start(const hyp::ipc::ServerInfo& info, void*, size_t, bool) override {
    check(info.grant_count == 1, "one_grant", "%u", info.grant_count);
    if (info.grant_count != 1) {
      guest::finish("grant_probe");
      return;
    }
    const hyp::ipc::Grant& g = info.grants[0];
    const uint64_t base = g.window + g.ipa;
    uint32_t first = 0;
    uint32_t last = 0;
    uint32_t past = 0;
    check(read(base, first) && read(base + g.size - 4, last), "both_ends_readable", "window 0x%lx size 0x%lx", base,
          g.size);
    check(!read(base + g.size, past), "past_the_grant_refused", "-");
    // The guest's image: the arm64 Image magic at offset 0x38 of a page
    // in the grant's first 4 MiB.
    uint64_t image = 0;
    for (uint64_t at = 0; image == 0 && at < g.size && at < (4u << 20); at += 0x1000) {
      uint32_t magic = 0;
      if (read(base + at + 0x38, magic) && magic == 0x644d'5241) image = g.ipa + at;
    }
    check(image != 0, "guest_image_found", "-");
    rt::print("grant_probe: %s 0x%lx+0x%lx at 0x%lx, image at 0x%lx\n", g.client, g.ipa, g.size, base, image);
    guest::finish("grant_probe");
  }

  hyp::server::MmioDevice* device(uint32_t) override { return nullptr; }
};

GrantProbe g_probe;

}  // namespace

void partition_main(uint64_t) { hyp::server::run(g_probe); }
