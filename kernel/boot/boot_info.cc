#include "kernel/boot/boot_info.h"

#include <libfdt.h>

namespace hyp {
namespace {

// Reports the first problem and turns it into the function's result.
class Errors {
 public:
  explicit Errors(DtbError& out) : out_(out) {}
  Status fail(Status s, const char* what) {
    out_.status = s;
    out_.what = what;
    return s;
  }

 private:
  DtbError& out_;
};

bool node_enabled(const void* fdt, int node) {
  int len = 0;
  const char* status = static_cast<const char*>(fdt_getprop(fdt, node, "status", &len));
  if (status == nullptr) return true;
  // "okay" and the older "ok" both mean enabled.
  return len >= 3 && (fdt_stringlist_contains(status, len, "okay") || fdt_stringlist_contains(status, len, "ok"));
}

uint64_t read_cells(const fdt32_t* cells, int count) {
  uint64_t value = 0;
  for (int i = 0; i < count; ++i) value = (value << 32) | fdt32_ld(&cells[i]);
  return value;
}

// Cell counts that apply to the children of `parent` (Devicetree spec 2.3.5:
// defaults 2 and 1). Only 1 or 2 cells are meaningful for 64-bit addresses.
bool child_cells(const void* fdt, int parent, int& address_cells, int& size_cells) {
  address_cells = fdt_address_cells(fdt, parent);
  size_cells = fdt_size_cells(fdt, parent);
  return address_cells >= 1 && address_cells <= 2 && size_cells >= 0 && size_cells <= 2;
}

// Reads entry `index` of `node`'s reg property. kNotFound if there is no such
// entry; kInvalidArgument if the property is malformed or the range wraps.
Status read_reg(const void* fdt, int node, int index, MemRange& out) {
  const int parent = fdt_parent_offset(fdt, node);
  if (parent < 0) return Status::kInvalidArgument;
  int ac = 0;
  int sc = 0;
  if (!child_cells(fdt, parent, ac, sc) || sc == 0) return Status::kInvalidArgument;
  int len = 0;
  const auto* reg = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "reg", &len));
  if (reg == nullptr) return Status::kNotFound;
  const int entry_bytes = (ac + sc) * 4;
  if (len <= 0 || len % entry_bytes != 0) return Status::kInvalidArgument;
  if (index >= len / entry_bytes) return Status::kNotFound;
  const fdt32_t* entry = reg + index * (ac + sc);
  out.base = Pa(read_cells(entry, ac));
  out.size = read_cells(entry + ac, sc);
  if (out.base.value() + out.size < out.base.value()) return Status::kInvalidArgument;
  return Status::kOk;
}

Status parse_memory(const void* fdt, BootInfo& info, Errors& err) {
  for (int node = fdt_node_offset_by_prop_value(fdt, -1, "device_type", "memory", sizeof("memory"));
       node >= 0; node = fdt_node_offset_by_prop_value(fdt, node, "device_type", "memory", sizeof("memory"))) {
    if (!node_enabled(fdt, node)) continue;
    for (int i = 0;; ++i) {
      MemRange range;
      const Status s = read_reg(fdt, node, i, range);
      if (s == Status::kNotFound) break;
      if (s != Status::kOk) return err.fail(s, "malformed memory reg");
      if (range.size == 0) continue;
      if (!range.base.is_aligned(kPageSize) || (range.size & (kPageSize - 1)) != 0) {
        return err.fail(Status::kInvalidArgument, "memory range not page aligned");
      }
      for (size_t j = 0; j < info.ram_count; ++j) {
        const MemRange& other = info.ram[j];
        if (range.base.value() < other.end() && other.base.value() < range.end()) {
          return err.fail(Status::kInvalidArgument, "overlapping memory ranges");
        }
      }
      if (info.ram_count == kMaxRamRanges) return err.fail(Status::kOutOfRange, "too many memory ranges");
      info.ram[info.ram_count++] = range;
    }
  }
  if (info.ram_count == 0) return err.fail(Status::kNotFound, "no memory node");
  return Status::kOk;
}

Status parse_cpus(const void* fdt, BootInfo& info, Errors& err) {
  const int cpus = fdt_path_offset(fdt, "/cpus");
  if (cpus < 0) return err.fail(Status::kNotFound, "no /cpus node");
  const int ac = fdt_address_cells(fdt, cpus);
  if (ac != 1 && ac != 2) return err.fail(Status::kInvalidArgument, "bad #address-cells in /cpus");
  int node = 0;
  fdt_for_each_subnode(node, fdt, cpus) {
    int len = 0;
    const char* type = static_cast<const char*>(fdt_getprop(fdt, node, "device_type", &len));
    if (type == nullptr || !fdt_stringlist_contains(type, len, "cpu") || !node_enabled(fdt, node)) continue;
    const auto* reg = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "reg", &len));
    if (reg == nullptr || len != ac * 4) return err.fail(Status::kInvalidArgument, "malformed cpu reg");
    const uint64_t mpidr = read_cells(reg, ac);
    // Only the affinity fields Aff3 [39:32] and Aff2..Aff0 [23:0] may be set.
    if ((mpidr & ~uint64_t{0xff'00ff'ffff}) != 0) return err.fail(Status::kInvalidArgument, "cpu reg is not an MPIDR");
    for (size_t i = 0; i < info.cpu_count; ++i) {
      if (info.cpu_mpidr[i] == mpidr) return err.fail(Status::kInvalidArgument, "duplicate cpu MPIDR");
    }
    if (info.cpu_count == kMaxCpus) {
      ++info.cpus_ignored;
      continue;
    }
    info.cpu_mpidr[info.cpu_count++] = mpidr;
  }
  if (node != -FDT_ERR_NOTFOUND) return err.fail(Status::kInvalidArgument, "malformed /cpus subtree");
  if (info.cpu_count == 0) return err.fail(Status::kNotFound, "no cpu nodes");
  return Status::kOk;
}

Status parse_gic(const void* fdt, BootInfo& info, Errors& err) {
  const int gic = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3");
  if (gic < 0) return err.fail(Status::kNotFound, "no arm,gic-v3 node");
  if (read_reg(fdt, gic, 0, info.gic_dist) != Status::kOk || read_reg(fdt, gic, 1, info.gic_redist) != Status::kOk) {
    return err.fail(Status::kInvalidArgument, "gic-v3 reg lacks distributor and redistributor");
  }
  if (info.gic_dist.size == 0 || info.gic_redist.size == 0) {
    return err.fail(Status::kInvalidArgument, "empty gic-v3 region");
  }
  return Status::kOk;
}

bool is_pl011(const void* fdt, int node) { return fdt_node_check_compatible(fdt, node, "arm,pl011") == 0; }

Status parse_uart(const void* fdt, BootInfo& info, Errors& err) {
  int uart = -1;
  const int chosen = fdt_path_offset(fdt, "/chosen");
  if (chosen >= 0) {
    int len = 0;
    const char* path = static_cast<const char*>(fdt_getprop(fdt, chosen, "stdout-path", &len));
    if (path != nullptr && len > 0 && path[len - 1] == '\0') {
      // "path[:options]"; the path may be an alias.
      int name_len = 0;
      while (path[name_len] != '\0' && path[name_len] != ':') ++name_len;
      const int node = fdt_path_offset_namelen(fdt, path, name_len);
      if (node >= 0 && is_pl011(fdt, node) && node_enabled(fdt, node)) uart = node;
    }
  }
  if (uart < 0) {
    for (int node = fdt_node_offset_by_compatible(fdt, -1, "arm,pl011"); node >= 0;
         node = fdt_node_offset_by_compatible(fdt, node, "arm,pl011")) {
      if (node_enabled(fdt, node)) {
        uart = node;
        break;
      }
    }
  }
  if (uart < 0) return err.fail(Status::kNotFound, "no arm,pl011 console");
  if (read_reg(fdt, uart, 0, info.uart) != Status::kOk || info.uart.size < kPageSize ||
      !info.uart.base.is_aligned(kPageSize)) {
    return err.fail(Status::kInvalidArgument, "malformed pl011 reg");
  }
  return Status::kOk;
}

// The GIC's phandle, which a device's interrupt-parent (its own, or the
// nearest ancestor's) must name for its interrupts to be SPIs of ours.
uint32_t interrupt_parent(const void* fdt, int node) {
  for (int n = node; n >= 0; n = fdt_parent_offset(fdt, n)) {
    int len = 0;
    const auto* p = static_cast<const fdt32_t*>(fdt_getprop(fdt, n, "interrupt-parent", &len));
    if (p != nullptr) return len == 4 ? fdt32_ld(p) : 0;
  }
  return 0;
}

// A device's first interrupt as an SPI of the GIC (three cells: type 0
// for SPI, number, flags), or 0.
uint32_t spi_of(const void* fdt, int node, uint32_t gic_phandle) {
  if (gic_phandle == 0 || interrupt_parent(fdt, node) != gic_phandle) return 0;
  int len = 0;
  const auto* cells = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "interrupts", &len));
  if (cells == nullptr || len < 12 || fdt32_ld(&cells[0]) != 0) return 0;
  const uint32_t number = fdt32_ld(&cells[1]);
  return number < 1020 - 32 ? number + 32 : 0;
}

Status parse_devices(const void* fdt, BootInfo& info, Errors& err) {
  const int gic = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3");
  const uint32_t gic_phandle = gic >= 0 ? fdt_get_phandle(fdt, gic) : 0;
  int node = 0;
  fdt_for_each_subnode(node, fdt, 0) {
    if (node == gic || !node_enabled(fdt, node) || fdt_getprop(fdt, node, "compatible", nullptr) == nullptr) continue;
    int len = 0;
    const char* type = static_cast<const char*>(fdt_getprop(fdt, node, "device_type", &len));
    if (type != nullptr && fdt_stringlist_contains(type, len, "memory")) continue;
    HostDevice d;
    if (read_reg(fdt, node, 0, d.reg) != Status::kOk || d.reg.size == 0) continue;
    bool in_ram = false;
    for (size_t i = 0; i < info.ram_count; ++i) {
      in_ram = in_ram || (d.reg.base.value() < info.ram[i].end() && info.ram[i].base.value() < d.reg.end());
    }
    if (in_ram) continue;
    d.irq = spi_of(fdt, node, gic_phandle);
    if (info.device_count == kMaxHostDevices) {
      ++info.devices_ignored;
      continue;
    }
    info.devices[info.device_count++] = d;
  }
  if (node != -FDT_ERR_NOTFOUND) return err.fail(Status::kInvalidArgument, "malformed root node");
  return Status::kOk;
}

Status parse_psci(const void* fdt, BootInfo& info, Errors& err) {
  int psci = -FDT_ERR_NOTFOUND;
  for (const char* compatible : {"arm,psci-1.0", "arm,psci-0.2"}) {
    psci = fdt_node_offset_by_compatible(fdt, -1, compatible);
    if (psci >= 0) break;
  }
  if (psci < 0) return Status::kOk;  // no PSCI: the kernel runs on the boot CPU only
  int len = 0;
  const char* method = static_cast<const char*>(fdt_getprop(fdt, psci, "method", &len));
  if (method == nullptr || len <= 0 || method[len - 1] != '\0') {
    return err.fail(Status::kInvalidArgument, "psci node without method");
  }
  if (fdt_stringlist_contains(method, len, "smc")) {
    info.psci = PsciConduit::kSmc;
  } else if (fdt_stringlist_contains(method, len, "hvc")) {
    info.psci = PsciConduit::kHvc;
  } else {
    return err.fail(Status::kInvalidArgument, "unknown psci method");
  }
  return Status::kOk;
}

// linux,initrd-start/end are one or two cells, whatever #address-cells says
// (Linux's early_init_dt_check_for_initrd reads either).
bool read_chosen_address(const void* fdt, int chosen, const char* name, uint64_t& out, bool& present) {
  int len = 0;
  const auto* p = static_cast<const fdt32_t*>(fdt_getprop(fdt, chosen, name, &len));
  present = p != nullptr;
  if (p == nullptr) return true;
  if (len != 4 && len != 8) return false;
  out = read_cells(p, len / 4);
  return true;
}

Status parse_chosen(const void* fdt, BootInfo& info, Errors& err) {
  const int chosen = fdt_path_offset(fdt, "/chosen");
  if (chosen < 0) return Status::kOk;
  uint64_t start = 0;
  uint64_t end = 0;
  bool has_start = false;
  bool has_end = false;
  if (!read_chosen_address(fdt, chosen, "linux,initrd-start", start, has_start) ||
      !read_chosen_address(fdt, chosen, "linux,initrd-end", end, has_end) || has_start != has_end ||
      end < start) {
    return err.fail(Status::kInvalidArgument, "malformed linux,initrd-start/end");
  }
  if (has_start) info.package = {Pa(start), end - start};
  int len = 0;
  const char* args = static_cast<const char*>(fdt_getprop(fdt, chosen, "bootargs", &len));
  if (args == nullptr) return Status::kOk;
  if (len <= 0 || args[len - 1] != '\0') return err.fail(Status::kInvalidArgument, "bootargs not a string");
  if (static_cast<size_t>(len) > info.bootargs.size()) return err.fail(Status::kOutOfRange, "bootargs too long");
  for (int i = 0; i < len; ++i) info.bootargs[static_cast<size_t>(i)] = args[i];
  return Status::kOk;
}

}  // namespace

size_t dtb_total_size(const void* fdt) {
  const auto* header = static_cast<const fdt32_t*>(fdt);
  if (fdt32_ld(&header[0]) != FDT_MAGIC) return 0;
  return fdt32_ld(&header[1]);
}

Result<BootInfo> parse_boot_dtb(const void* fdt, size_t available, DtbError& error) {
  Errors err(error);
  if (fdt == nullptr || available < sizeof(fdt_header)) return err.fail(Status::kInvalidArgument, "no device tree");
  if (fdt_magic(fdt) != FDT_MAGIC) return err.fail(Status::kInvalidArgument, "bad device tree magic");
  const size_t total = fdt_totalsize(fdt);
  if (total > available || total > kMaxDtbSize) return err.fail(Status::kOutOfRange, "device tree too large");
  // fdt_check_full() validates the header and walks the whole structure
  // block, so later lookups cannot run off the blob.
  if (fdt_check_full(fdt, total) != 0) return err.fail(Status::kInvalidArgument, "malformed device tree");

  BootInfo info;
  for (auto step : {parse_memory, parse_cpus, parse_gic, parse_uart, parse_devices, parse_psci, parse_chosen}) {
    if (Status s = step(fdt, info, err); s != Status::kOk) return s;
  }
  return info;
}

bool bootargs_has(const char* bootargs, const char* word) {
  size_t word_len = 0;
  while (word[word_len] != '\0') ++word_len;
  if (word_len == 0) return false;
  const char* p = bootargs;
  while (*p != '\0') {
    while (*p == ' ') ++p;
    size_t len = 0;
    while (p[len] != '\0' && p[len] != ' ') ++len;
    if (len == word_len) {
      size_t i = 0;
      while (i < len && p[i] == word[i]) ++i;
      if (i == len) return true;
    }
    p += len;
  }
  return false;
}

}  // namespace hyp
