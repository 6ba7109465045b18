// A device server given physical virtio-mmio transports of the machine
// (docs/servers.md, "Devices"): it reads each transport's identification
// registers through the mapping the kernel made, reports the devices QEMU
// attached, and checks that the transports on pages it was not given, and
// the UART, are refused. //tests:server_devices_test reads its report.
#include <cstdint>

#include "guests/lib/check.h"
#include "ipc/channel.h"
#include "runtime/runtime.h"
#include "servers/lib/runtime.h"
#include "servers/prober/refusal.h"

namespace {

using guest::check;

constexpr uint64_t kVirtioBase = 0x0a00'0000;  // QEMU virt's 32 transports, 0x200 apart
constexpr uint64_t kTransportSize = 0x200;
constexpr uint64_t kTransports = 32;
constexpr uint32_t kVirtioMagic = 0x7472'6976;  // "virt"

uint32_t read32(uint64_t pa) { return *reinterpret_cast<volatile uint32_t*>(pa); }

using probe::refused;

bool given(const hyp::ipc::ServerInfo& info, uint64_t pa) {
  for (uint32_t i = 0; i < info.device_memory_count && i < hyp::ipc::kMaxDeviceRegions; ++i) {
    if (pa >= info.device_memory_base[i] && pa - info.device_memory_base[i] < info.device_memory_size[i]) return true;
  }
  return false;
}

class VirtioProbe final : public hyp::server::Server {
 public:
  void start(const hyp::ipc::ServerInfo& info, void*, size_t, bool) override {
    check(info.device_memory_count != 0, "given_device_memory", "%u regions", info.device_memory_count);
    uint32_t answered = 0;
    uint32_t wrong = 0;
    uint32_t refusals = 0;
    uint32_t leaks = 0;
    for (uint64_t n = 0; n < kTransports; ++n) {
      const uint64_t at = kVirtioBase + n * kTransportSize;
      if (!given(info, at)) {
        if (refused(at)) {
          ++refusals;
        } else {
          ++leaks;
        }
        continue;
      }
      const uint32_t magic = read32(at);
      const uint32_t version = read32(at + 4);
      const uint32_t device = read32(at + 8);
      if (magic == kVirtioMagic) {
        ++answered;
      } else {
        ++wrong;
      }
      if (device != 0) rt::print("virtio_probe: transport %lu at 0x%lx: version %u, device %u\n", n, at, version, device);
    }
    check(answered != 0 && wrong == 0, "given_transports_answer", "%u answered, %u without the magic", answered, wrong);
    check(leaks == 0 && refusals != 0, "other_transports_refused", "%u refused, %u readable", refusals, leaks);
    check(refused(0x0900'0000), "uart_refused", "-");
    uint32_t irqs_ok = 0;
    for (uint32_t i = 0; i < info.device_irq_count && i < hyp::ipc::kMaxDeviceIrqs; ++i) {
      const uint32_t n = info.device_irqs[i] - 48;  // transport n has SPI 16 + n
      irqs_ok += n < kTransports && given(info, kVirtioBase + n * kTransportSize) ? 1 : 0;
    }
    check(info.device_irq_count != 0 && irqs_ok == info.device_irq_count, "interrupts_of_given_transports",
          "%u of %u", irqs_ok, info.device_irq_count);
    guest::finish("virtio_probe");
  }

  hyp::server::MmioDevice* device(uint32_t) override { return nullptr; }
};

VirtioProbe g_probe;

}  // namespace

void partition_main(uint64_t) { hyp::server::run(g_probe); }
