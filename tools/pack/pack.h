// The host side of booting partitions: reading the manifest, generating each
// guest's device tree, deciding where every image goes in the guest's memory
// (the Linux arm64 boot protocol), and writing the boot package the kernel
// loads (kernel/boot/package_format.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hyp::tools {

struct VmSpec {
  std::string name;
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
//       vm-NAME { vcpus = <N>; memory-mib = <M>; kernel = "PATH";
//                 initrd = "PATH"; bootargs = "..."; }; };
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

// The guest's device tree: memory, CPUs with PSCI (HVC), the timer, chosen.
absl::StatusOr<std::string> make_guest_dtb(const VmSpec& vm, const GuestLayout& layout, uint64_t initrd_size);

// Reads every image and builds the package.
absl::StatusOr<std::string> build_package(const Manifest& manifest);

}  // namespace hyp::tools
