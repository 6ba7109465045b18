// A device server that probes, from inside the server runtime (stage-1 MMU
// on), memory it was not given: other partitions' and the kernel's physical
// memory seen through its own IPA space, devices it does not own, and what
// lies past its channel. Each access must be refused with an external abort
// (caught here, reported as checks through the kernel's console).
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"
#include "servers/lib/runtime.h"

namespace {

using guest::check;

// Reads `ipa` with the exception catch armed; true if it was refused.
bool refused(uint64_t ipa) {
  rt::arm_catch();
  const uint32_t value = *reinterpret_cast<volatile uint32_t*>(ipa);
  (void)value;
  const rt::Caught c = rt::caught();
  return c.taken && (c.esr >> 26) == 0x25 && c.far == ipa;
}

bool write_refused(uint64_t ipa) {
  rt::arm_catch();
  *reinterpret_cast<volatile uint32_t*>(ipa) = 0xdead'beef;
  const rt::Caught c = rt::caught();
  return c.taken && (c.esr >> 26) == 0x25 && ((c.esr >> 6) & 1) == 1;
}

class Prober final : public hyp::server::Server {
 public:
  void start(const hyp::ipc::ServerInfo& info, void*, size_t, bool) override {
    constexpr uint64_t kRam = 0x4000'0000, kRamSize = 4ull << 20;
    check(info.device_memory_size == 0, "prober_has_no_device", "0x%lx", info.device_memory_size);
    check(refused(kRam + kRamSize), "ipa_above_own_ram_refused", "-");
    check(refused(kRam - 0x1000), "ipa_below_own_ram_refused", "-");
    // The PL011 belongs to the UART server (or to nobody): not to this one.
    check(refused(0x0900'0000), "physical_uart_refused", "-");
    check(write_refused(0x0900'0000), "physical_uart_write_refused", "-");
    check(refused(0x0800'0000), "gic_distributor_refused", "-");
    // Everything above RAM, in steps, up to the end of the QEMU machine's
    // 1 GiB: other partitions' memory lives there physically.
    bool all = true;
    for (uint64_t ipa = kRam + kRamSize; ipa < 0x8000'0000; ipa += 0x20'0000) all = all && refused(ipa);
    check(all, "other_partitions_physical_range_refused", "-");
    // IPA 0x40200000 is this server's own RAM, not the kernel image the
    // physical address holds: no arm64 Image magic there.
    check(*reinterpret_cast<volatile uint32_t*>(kRam + 0x20'0000 + 56) != 0x644d5241, "kernel_image_not_visible",
          "-");
    check(refused(hyp::ipc::kChannelIpa + hyp::ipc::kChannelPages * hyp::ipc::kChannelPageSize),
          "past_channel_refused", "-");
    guest::finish("prober");
  }
  hyp::server::MmioDevice* device(uint32_t) override { return nullptr; }
};

Prober g_prober;

}  // namespace

void partition_main(uint64_t /*dtb*/) { hyp::server::run(g_prober); }
