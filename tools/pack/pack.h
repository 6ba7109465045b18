// The host side of booting partitions: reading the manifest, generating each
// guest's device tree, deciding where every image goes in the guest's memory
// (the Linux arm64 boot protocol), and writing the boot package the kernel
// loads (bootpkg/format.h).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace hyp::tools {

// A device a guest sees, emulated by a device server.
struct DeviceSpec {
  std::string name;     // the manifest node's name
  std::string server;   // the serving partition's name
  std::string model;    // "pl011"
  uint64_t base = 0;    // guest IPA of the register window
  uint32_t device = 0;  // the server's device number (assigned by the packer)
};

// Memory a guest's manifest grants servers: the kernel shares it with them
// at boot (docs/ffa.md, "Boot grants").
struct GrantSpec {
  std::string name;                  // the manifest node's name
  std::vector<std::string> servers;  // the receiving partitions' names
  uint64_t base = 0;                 // guest IPA; base and size 0: all of the guest's RAM
  uint64_t size = 0;
};

struct VmSpec {
  std::string name;
  bool server = false;              // kind = "server"
  // The control right (docs/control.md): may restart, stop and start the
  // servers named in control_targets (empty: every server).
  bool control = false;
  std::vector<std::string> control_targets;
  bool stopped = false;  // servers: not started at boot
  // Servers: the machine's devices they own (docs/servers.md, "Devices"):
  // register windows (base, size) mapped at IPA = PA, and those devices'
  // physical SPIs.
  std::vector<std::pair<uint64_t, uint64_t>> device_memory;
  std::vector<uint32_t> device_irqs;
  uint64_t dma_pool = 0;            // servers: bytes of DMA pool (docs/servers.md, "DMA")
  std::vector<DeviceSpec> devices;  // guests
  std::vector<GrantSpec> grants;    // guests
  int vcpus = 1;
  uint64_t memory = 256ull << 20;
  std::string kernel;  // path to an arm64 Image or a flat binary (place_kernel)
  std::string initrd;  // path, optional
  std::string bootargs;
  // FF-A (docs/ffa.md): its ID (0: its position in the manifest + 1), its
  // UUID ("" for the nil UUID), what it does in FF-A messaging (unset: the
  // defaults of its kind), and the partitions it may send direct requests
  // to (empty: every one that receives them).
  uint32_t ffa_id = 0;
  std::string ffa_uuid;
  bool ffa_messaging_set = false;
  std::vector<std::string> ffa_messaging;  // direct-receive, direct-send, indirect, notifications
  std::vector<std::string> ffa_direct_targets;
};

struct Manifest {
  std::vector<VmSpec> vms;
};

// Reads a compiled manifest. Relative image paths are resolved against
// `base_dir`. Schema (docs/manifest.md):
//   / { compatible = "hyp,manifest-1";
//       vms {
//         NAME { vcpus = <N>; memory-mib = <M>; kernel = "PATH";
//                initrd = "PATH"; bootargs = "..."; control; (or control = "SERVER", ...;)
//                devices { DEV { server = "SERVER"; model = "pl011"; base = <hi lo>; }; };
//                memory-grants { G { servers = "SERVER", ...; base = <hi lo>; size = <hi lo>; }; }; };
//                (a grant without base and size: all of the guest's RAM)
//         SERVER { kind = "server"; kernel = "PATH"; memory-mib = <M>;
//                  device-memory = <hi lo size-hi size-lo>...; device-irq = <INTID>...;
//                  dma-pool-kib = <K>; bootargs = "..."; stopped; };
//         Either kind: ffa-id = <ID>; ffa-uuid = "UUID";
//                      ffa-messaging = "direct-send", ...;  ("none": nothing)
//                      ffa-direct-targets = "NAME", ...;
//       }; };
// Device numbers are assigned per server in manifest order.
absl::StatusOr<Manifest> parse_manifest(const std::string& dtb, const std::string& base_dir);

// Where things go in one guest's memory.
struct GuestLayout {
  uint64_t ram_ipa;
  uint64_t ram_size;
  uint64_t kernel_ipa;  // also the entry point
  uint64_t dtb_ipa;
  uint64_t initrd_ipa;  // 0 if none
};

// What a kernel file is, told apart as QEMU's -kernel does on AArch64
// (hw/arm/boot.c): an ELF file, a U-Boot image, or else a raw image, which
// is gzip-compressed, or an arm64 Image (the "ARM\x64" magic at offset 56),
// or a flat binary without that header.
enum class KernelFormat { kImage, kRawBinary, kElf, kUImage, kGzip, kEmpty };
KernelFormat kernel_format(const std::string& kernel);

// Where QEMU loads an AArch64 raw image that gives no text_offset, from the
// start of RAM (KERNEL64_LOAD_ADDR in hw/arm/boot.c), and the arm64 boot
// protocol's text_offset for Images that predate the field.
inline constexpr uint64_t kRawLoadOffset = 0x80000;

// Places an arm64 Image (`image`, its header read for text_offset and
// image_size), a device tree of up to 2 MiB and an initrd of `initrd_size`.
// Refuses a file without the header.
absl::StatusOr<GuestLayout> place_guest(const std::string& image, uint64_t ram_ipa, uint64_t ram_size,
                                        uint64_t initrd_size);

// Places any kernel QEMU's -kernel boots as Linux on AArch64: an arm64 Image
// by its header (place_guest), or a flat binary without the header at RAM
// base + 0x80000, entered at its first byte with x0 = its device tree, as
// QEMU does. ELF files, U-Boot images and compressed images are refused,
// saying what to give instead.
absl::StatusOr<GuestLayout> place_kernel(const std::string& kernel, uint64_t ram_ipa, uint64_t ram_size,
                                         uint64_t initrd_size);

// The register window of a device model, or 0 for an unknown model.
uint64_t device_window(const std::string& model, int vcpus);
// The INTID of `dev` of `vm` (an SPI for a PL011), 0 if it has none.
uint32_t device_irq(const VmSpec& vm, const DeviceSpec& dev);

// A GICv3's distributor and each redistributor, as the guest sees them,
// laid out as on QEMU's virt (the redistributors 0xa0000 after the
// distributor, past where virt has its ITS).
inline constexpr uint64_t kGicDistSize = 0x1'0000;
inline constexpr uint64_t kGicRedistOffset = 0xa'0000;
inline constexpr uint64_t kGicRedistSize = 0x2'0000;

// The guest's device tree: memory, CPUs with PSCI (HVC), the timer, chosen,
// and its server-emulated devices. The first PL011 is /chosen/stdout-path and
// is described as QEMU's virt describes its own (SPI 1, a 24 MHz clock).
absl::StatusOr<std::string> make_guest_dtb(const VmSpec& vm, const GuestLayout& layout, uint64_t initrd_size);

// One partition's memory as it starts: its kernel, device tree and initrd,
// and where each goes.
struct LoadedVm {
  GuestLayout layout;
  std::string kernel, initrd, dtb;
};

// Reads `vm`'s kernel and initrd, places them (place_kernel) and makes its
// device tree (make_guest_dtb): what build_package puts in the package, and
// what `launch --bare` hands QEMU to boot the same guest without the
// hypervisor.
absl::StatusOr<LoadedVm> load_vm(const VmSpec& vm);

// Reads every image and builds the package (kernels placed by place_kernel).
absl::StatusOr<std::string> build_package(const Manifest& manifest);

}  // namespace hyp::tools
