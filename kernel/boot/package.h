// Reading the boot package (bootpkg/format.h) at boot: every partition's
// shape and the blobs to copy into its memory, all validated.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/addr.h"
#include "base/status.h"
#include "kernel/boot/boot_info.h"
#include "bootpkg/format.h"

namespace hyp {


struct PackageLoad {
  Ipa ipa;
  const uint8_t* data = nullptr;  // inside the package
  uint64_t size = 0;
};

// A guest IPA range whose accesses are forwarded to a device server.
struct PackageRoute {
  Ipa ipa;
  uint64_t size = 0;
  uint32_t server = 0;  // index into Package::partitions
  uint32_t device = 0;
  uint32_t irq = 0;      // the device's SPI, 0 if none
  bool irqchip = false;  // the guest's interrupt controller
};

// Guest memory the kernel shares with servers at boot.
struct PackageGrant {
  Ipa ipa;
  uint64_t size = 0;
  std::array<uint32_t, package::kMaxGrantServers> servers{};  // indices into Package::partitions
  size_t server_count = 0;
};

enum class PackagedKind : uint8_t { kGuest, kServer };

struct PackagedPartition {
  std::array<char, package::kMaxNameLength + 1> name{};
  PackagedKind kind = PackagedKind::kGuest;
  uint32_t vcpus = 0;
  Ipa ram_ipa;
  uint64_t ram_size = 0;
  Ipa entry;
  Ipa dtb;
  std::array<PackageLoad, package::kMaxLoads> loads{};
  size_t load_count = 0;
  std::array<PackageRoute, package::kMaxRoutes> routes{};  // guests only
  size_t route_count = 0;
  std::array<PackageGrant, package::kMaxGrants> grants{};  // guests only
  size_t grant_count = 0;
  // The control right (docs/control.md), and the servers it covers (bit i:
  // partitions[i]; `control;` alone covers every server).
  bool control = false;
  uint32_t control_targets = 0;
  bool stopped = false;  // servers: not started at boot
  // Servers only: physical device registers (IPA = PA) and SPIs.
  struct DeviceRegion {
    Pa base;
    uint64_t size = 0;
  };
  std::array<DeviceRegion, package::kMaxDeviceRegions> device_regions{};
  size_t device_region_count = 0;
  std::array<uint32_t, package::kMaxDeviceIrqs> device_irqs{};
  size_t device_irq_count = 0;

  // Whether one of its device regions holds physical address `pa`.
  bool has_device_at(Pa pa) const {
    for (size_t i = 0; i < device_region_count; ++i) {
      const DeviceRegion& r = device_regions[i];
      if (pa.value() >= r.base.value() && pa.value() - r.base.value() < r.size) return true;
    }
    return false;
  }
  std::array<char, package::kMaxBootargs + 1> bootargs{};   // servers only
  uint64_t dma_pool_size = 0;                                // servers only: bytes, 0 for none
  // FF-A (docs/ffa.md): the partition's ID, UUID (four words; all zero for
  // none), messaging properties (package::kFfaMessagingMask), and the IDs it
  // alone may send direct requests to (none: any that receives them).
  uint16_t ffa_id = 0;
  std::array<uint32_t, 4> ffa_uuid{};
  uint32_t ffa_messaging = 0;
  std::array<uint16_t, package::kMaxPartitions> ffa_targets{};
  size_t ffa_target_count = 0;
};

struct Package {
  std::array<PackagedPartition, package::kMaxPartitions> partitions{};
  size_t count = 0;
};

// Parses the package at `blob` (`size` bytes). Errors name the first problem
// in `error` (DtbError from boot_info.h). Besides each partition's own
// checks, every route must name a server, no server device may serve two
// routes, no device region or SPI belongs to two servers, grants name servers (each at most once per guest and no server
// more than ipc::kMaxServerGrants times in all) and a guest's grants do
// not overlap, FF-A IDs are unique (a partition without one has its position + 1)
// and direct targets name other partitions that receive direct requests.
Result<Package> parse_package(const void* blob, size_t size, DtbError& error);
// The same into `out`, which the kernel keeps in static storage: a Package
// of kMaxPartitions partitions is too large for a boot stack.
Status parse_package_into(const void* blob, size_t size, Package& out, DtbError& error);

}  // namespace hyp
