// Fuzzes the kernel's readers of what it is booted with: the boot package
// and the host device tree. Any crash or sanitizer report is a bug; every
// input must end in a result or an error.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernel/boot/boot_info.h"
#include "kernel/boot/package.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Device trees are 8-byte aligned in memory; give the parsers the same.
  std::vector<uint64_t> aligned((size + 7) / 8 + 1);
  std::memcpy(aligned.data(), data, size);
  hyp::DtbError error;
  auto package = hyp::parse_package(aligned.data(), size, error);
  if (package.ok()) {
    // Every load the parser accepted must lie inside the input and inside
    // its partition's memory.
    for (size_t i = 0; i < package->count; ++i) {
      const hyp::PackagedPartition& p = package->partitions[i];
      for (size_t j = 0; j < p.load_count; ++j) {
        const auto* begin = reinterpret_cast<const uint8_t*>(aligned.data());
        if (p.loads[j].data < begin || p.loads[j].data + p.loads[j].size > begin + size) __builtin_trap();
        if (p.loads[j].ipa.value() < p.ram_ipa.value() ||
            p.loads[j].ipa.value() + p.loads[j].size > p.ram_ipa.value() + p.ram_size) {
          __builtin_trap();
        }
      }
    }
  }
  (void)hyp::parse_boot_dtb(aligned.data(), size, error);
  return 0;
}
