#include "kernel/boot/devices.h"

namespace hyp {
namespace {

bool overlaps(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size) { return a < b + b_size && b < a + a_size; }

bool inside(const MemRange& d, uint64_t base, uint64_t size) {
  return d.base.value() >= base && d.size <= size && d.base.value() - base <= size - d.size;
}

}  // namespace

Status check_device_access(const BootInfo& info, const PackagedPartition& image, const char*& why) {
  for (size_t r = 0; r < image.device_region_count; ++r) {
    const uint64_t base = image.device_regions[r].base.value();
    const uint64_t size = image.device_regions[r].size;
    for (size_t i = 0; i < info.ram_count; ++i) {
      if (overlaps(base, size, info.ram[i].base.value(), info.ram[i].size)) {
        why = "device memory over RAM";
        return Status::kDenied;
      }
    }
    for (const MemRange& gic : {info.gic_dist, info.gic_redist}) {
      if (overlaps(base, size, gic.base.value(), gic.size)) {
        why = "device memory over the GIC";
        return Status::kDenied;
      }
    }
    for (size_t i = 0; i < info.device_count; ++i) {
      const MemRange& d = info.devices[i].reg;
      if (overlaps(base, size, d.base.value(), d.size) && !inside(d, base, size)) {
        why = "device memory splits a device";
        return Status::kDenied;
      }
    }
    for (uint64_t page = base; page - base < size; page += kPageSize) {
      bool used = false;
      for (size_t i = 0; i < info.device_count && !used; ++i) {
        used = overlaps(page, kPageSize, info.devices[i].reg.base.value(), info.devices[i].reg.size);
      }
      if (!used) {
        why = "device memory with a page that holds no device";
        return Status::kDenied;
      }
    }
  }
  for (size_t q = 0; q < image.device_irq_count; ++q) {
    bool found = false;
    for (size_t i = 0; i < info.device_count && !found; ++i) {
      const HostDevice& d = info.devices[i];
      if (d.irq == 0 || d.irq != image.device_irqs[q]) continue;
      for (size_t r = 0; r < image.device_region_count && !found; ++r) {
        found = inside(d.reg, image.device_regions[r].base.value(), image.device_regions[r].size);
      }
    }
    if (!found) {
      why = "a device interrupt of no device the server is given";
      return Status::kDenied;
    }
  }
  return Status::kOk;
}

}  // namespace hyp
