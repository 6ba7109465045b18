// The host side of booting partitions: reading the manifest, generating each
// guest's device tree, deciding where every image goes in the guest's memory
// (the Linux arm64 boot protocol), and writing the boot package the kernel
// loads (bootpkg/format.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hyp::tools {

// A device a guest sees, emulated by a device server.
struct DeviceSpec {
  std::string name;    // the manifest node's name
  std::string server;  // the serving partition's name
  std::string model;   // "pl011"
  uint64_t base = 0;   // guest IPA of the register window
  uint32_t device = 0; // the server's device number (assigned by the packer)
};

struct VmSpec {
  std::string name;
  bool server = false;  // kind = "server"
  bool control = false; // may restart servers
  uint64_t device_memory_base = 0;  // servers: physical registers they own
  uint64_t device_memory_size = 0;
  std::vector<DeviceSpec> devices;  // guests
  int vcpus = 1;
  uint64_t memory = 256ull << 20;
  std::string kernel;  // path to a flat arm64 Image
  std::string initrd;  // path, optional
  std::string bootargs;
};

struct Manifest {
  std::vector<VmSpec> vms;
};

// Reads a compiled manifest. Relative image paths are resolved against
// `base_dir`. Schema (docs/manifest.md):
//   / { compatible = "hyp,manifest-1";
//       vms {
//         NAME { vcpus = <N>; memory-mib = <M>; kernel = "PATH";
//                initrd = "PATH"; bootargs = "..."; control;
//                devices { DEV { server = "SERVER"; model = "pl011"; base = <hi lo>; }; }; };
//         SERVER { kind = "server"; kernel = "PATH"; memory-mib = <M>;
//                  device-memory = <hi lo size-hi size-lo>; bootargs = "..."; };
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

// Places an Image of `image` bytes (its arm64 header read for text_offset and
// image_size), a device tree of up to 2 MiB and an initrd of `initrd_size`.
absl::StatusOr<GuestLayout> place_guest(const std::string& image, uint64_t ram_ipa, uint64_t ram_size,
                                        uint64_t initrd_size);

// The register window of a device model, or 0 for an unknown model.
uint64_t device_window(const std::string& model);

// The guest's device tree: memory, CPUs with PSCI (HVC), the timer, chosen,
// and its server-emulated devices (a PL011 is also its stdout-path).
absl::StatusOr<std::string> make_guest_dtb(const VmSpec& vm, const GuestLayout& layout, uint64_t initrd_size);

// Reads every image and builds the package.
absl::StatusOr<std::string> build_package(const Manifest& manifest);

}  // namespace hyp::tools
