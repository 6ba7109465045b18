// What //:qemu_guest runs: one guest from QEMU-style flags (--kernel,
// --initrd, --append, --smp, --mem), given by default the devices QEMU's
// virt machine gives an EL1 kernel wherever a device server exists for one,
// and the private directory its boot package is written to.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/pack/pack.h"

namespace hyp::tools {

// The PL011 as QEMU's virt places it. The UART server owns this physical
// page and serves the guest a PL011 at the same address, so a kernel built
// for QEMU's virt prints where it always does.
inline constexpr uint64_t kVirtPl011Base = 0x0900'0000;
inline constexpr uint64_t kVirtPl011Size = 0x1000;
// The UART server's RAM (tests/defs.bzl's UART_SERVER uses the same).
inline constexpr uint64_t kUartServerMemory = 4ull << 20;
// QEMU virt's UART interrupt (SPI 1) and its GICv3 distributor, where the
// guest finds them too.
inline constexpr uint32_t kVirtPl011Irq = 33;
inline constexpr uint64_t kVirtGicBase = 0x0800'0000;
inline constexpr uint64_t kGicServerMemory = 4ull << 20;
// The virtio servers (docs/servers.md, "Devices"): the block server owns
// the first page of QEMU virt's virtio-mmio transports (QEMU's virtio-blk
// on transport 0), the entropy server the second (virtio-rng on transport
// 8); each serves the guest its device at the same address.
inline constexpr uint64_t kVirtioBlkPage = 0x0a00'0000;
inline constexpr uint64_t kVirtioRngPage = 0x0a00'1000;
inline constexpr uint64_t kVirtioServerMemory = 4ull << 20;
inline constexpr uint64_t kBlkDmaPool = 256ull << 10;
inline constexpr uint64_t kRngDmaPool = 64ull << 10;
// QEMU's device for the entropy server.
inline constexpr char kVirtioRngQemuDevice[] = "virtio-rng-device,bus=virtio-mmio-bus.8";
// The RTC server owns QEMU virt's PL031 and serves the guest one at the
// same address, with its SPI (2).
inline constexpr uint64_t kVirtPl031Base = 0x0901'0000;
inline constexpr uint32_t kVirtPl031Irq = 34;
inline constexpr uint64_t kRtcServerMemory = 4ull << 20;
// The control server (docs/control.md) owns the fourth page (a
// virtio-console on transport 24, whose Unix socket hypctl talks to).
inline constexpr uint64_t kControlPage = 0x0a00'3000;
inline constexpr uint64_t kControlServerMemory = 4ull << 20;
inline constexpr uint64_t kControlDmaPool = 64ull << 10;
// QEMU's devices for it, after "-chardev socket,id=hypctl,path=SOCKET,...".
inline constexpr char kControlQemuBus[] = "virtio-serial-device,bus=virtio-mmio-bus.24";
inline constexpr char kControlQemuConsole[] = "virtconsole,chardev=hypctl";

struct GuestOptions {
  std::string kernel;  // an arm64 Image or a flat binary
  std::string initrd;
  std::string bootargs;
  int vcpus = 1;
  uint64_t memory = 0;
  // The UART server's image: the guest gets its console from it. Empty:
  // the guest runs alone, without devices.
  std::string uart_server;
  // The GIC server's image: the guest gets a GICv3 (and its console its
  // interrupt) from it. Empty: no interrupt controller.
  std::string gic_server;
  // The block server's image, if the guest has a disk; the entropy
  // server's, if it gets a random source. Each is granted all of the
  // guest's RAM.
  std::string blk_server;
  std::string rng_server;
  bool read_only_disk = false;
  // The RTC server's image: the guest gets a PL031 from it. Empty: none.
  std::string rtc_server;
  // The control server's image: the host's control channel (every server
  // under its control right). Empty: none.
  std::string control_server;
  // Servers the manifest leaves stopped at boot, for `add` (docs/control.md).
  std::vector<std::string> stopped_servers;
};

// The manifest: the UART server (if any) first, the GIC server (if any)
// next, the block and entropy servers (if any), then the guest, named
// "guest", with a PL011 "serial" routed to the UART server, a GICv3 "gic"
// to the GIC server, and virtio-mmio "disk" and "rng", all where QEMU's
// virt has them.
Manifest guest_manifest(const GuestOptions& options);

// A directory of this process's own under $TMPDIR (or /tmp), made by
// mkdtemp (mode 0700), and removed with everything in it when the object
// goes, unless kept.
class PrivateDir {
 public:
  static absl::StatusOr<PrivateDir> create(const std::string& prefix);
  PrivateDir(PrivateDir&& other) noexcept;
  PrivateDir& operator=(PrivateDir&& other) noexcept;
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;
  ~PrivateDir();

  const std::string& path() const { return path_; }
  // Leaves the directory in place when the object goes.
  void keep() { keep_ = true; }
  // Removes the directory and what is in it now.
  void remove();

 private:
  explicit PrivateDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
  bool keep_ = false;
};

}  // namespace hyp::tools
