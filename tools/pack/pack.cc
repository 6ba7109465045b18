#include "tools/pack/pack.h"

#include <libfdt.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bootpkg/format.h"
#include "ffa/abi.h"

namespace hyp::tools {
namespace {

constexpr uint64_t k2M = 2ull << 20;
constexpr uint64_t kMaxDtb = 2ull << 20;  // arm64 boot protocol limit
constexpr size_t kImageMagicOffset = 56;  // "ARM\x64" in the arm64 Image header
constexpr int kMaxVcpus = static_cast<int>(package::kMaxVcpus);
constexpr uint64_t kVirtioMmioSize = 0x200;  // a transport's registers and configuration space
// QEMU virt's virtio-mmio transports (32 of them, kVirtioMmioSize apart),
// where a guest's virtio-mmio devices go.
constexpr uint64_t kVirtioMmioBase = 0x0a00'0000;
constexpr uint64_t kVirtioMmioEnd = kVirtioMmioBase + 32 * kVirtioMmioSize;

constexpr size_t kMaxVms = package::kMaxPartitions;
constexpr size_t kMaxName = package::kMaxNameLength;

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }

uint64_t le64(const std::string& s, size_t off) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[off + static_cast<size_t>(i)]);
  return v;
}

absl::StatusOr<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

absl::Status fdt_error(const char* what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", fdt_strerror(err)));
}

// Sequential-write helpers that turn libfdt's error codes into a Status.
class Writer {
 public:
  explicit Writer(size_t capacity) : buf_(capacity, '\0') {
    check(fdt_create(buf_.data(), static_cast<int>(buf_.size())), "fdt_create");
    check(fdt_finish_reservemap(buf_.data()), "reservemap");
  }
  void begin(const char* name) { check(fdt_begin_node(buf_.data(), name), "begin_node"); }
  void end() { check(fdt_end_node(buf_.data()), "end_node"); }
  void u32(const char* name, uint32_t v) { check(fdt_property_u32(buf_.data(), name, v), name); }
  void u64(const char* name, uint64_t v) { check(fdt_property_u64(buf_.data(), name, v), name); }
  void cells(const char* name, const std::vector<uint32_t>& cells) {
    std::vector<fdt32_t> be;
    for (uint32_t c : cells) be.push_back(cpu_to_fdt32(c));
    check(fdt_property(buf_.data(), name, be.data(), static_cast<int>(be.size() * 4)), name);
  }
  void string(const char* name, const std::string& v) {
    check(fdt_property_string(buf_.data(), name, v.c_str()), name);
  }
  void strings(const char* name, const std::vector<std::string>& list) {
    std::string joined;
    for (const auto& s : list) joined.append(s).push_back('\0');
    bytes(name, joined);
  }
  void bytes(const char* name, const std::string& data) {
    check(fdt_property(buf_.data(), name, data.data(), static_cast<int>(data.size())), name);
  }
  void empty(const char* name) { check(fdt_property(buf_.data(), name, nullptr, 0), name); }

  absl::StatusOr<std::string> finish() {
    check(fdt_finish(buf_.data()), "fdt_finish");
    if (!status_.ok()) return status_;
    buf_.resize(fdt_totalsize(buf_.data()));
    return buf_;
  }

 private:
  void check(int err, const char* what) {
    if (err != 0 && status_.ok()) status_ = fdt_error(what, err);
  }
  std::string buf_;
  absl::Status status_;
};

std::vector<uint32_t> split64(uint64_t a, uint64_t b) {
  return {static_cast<uint32_t>(a >> 32), static_cast<uint32_t>(a), static_cast<uint32_t>(b >> 32),
          static_cast<uint32_t>(b)};
}

std::string prop_string(const void* fdt, int node, const char* name) {
  int len = 0;
  const char* v = static_cast<const char*>(fdt_getprop(fdt, node, name, &len));
  if (v == nullptr || len <= 0 || v[len - 1] != '\0') return "";
  return std::string(v, static_cast<size_t>(len - 1));
}

// A property of NUL-terminated strings ("a", "b"); empty if absent or malformed.
std::vector<std::string> prop_strings(const void* fdt, int node, const char* name) {
  int len = 0;
  const char* v = static_cast<const char*>(fdt_getprop(fdt, node, name, &len));
  std::vector<std::string> out;
  if (v == nullptr || len <= 0 || v[len - 1] != '\0') return out;
  for (const char* p = v; p < v + len; p += std::strlen(p) + 1) out.emplace_back(p);
  return out;
}

// The FF-A messaging words a manifest may use, and their property bits.
struct MessagingWord {
  const char* word;
  uint32_t bit;
};
constexpr MessagingWord kMessagingWords[] = {
    {"direct-receive", ffa::properties::kDirectReceive},
    {"direct-send", ffa::properties::kDirectSend},
    {"indirect", ffa::properties::kIndirect},
    {"notifications", ffa::properties::kNotifications},
};

// What a partition does in FF-A when its manifest does not say: guests send
// direct requests, exchange indirect messages and receive notifications (as
// a VM under a normal-world hypervisor does); servers receive direct
// requests instead of sending them (a server never waits for an answer).
uint32_t default_messaging(bool server) {
  const uint32_t both = ffa::properties::kIndirect | ffa::properties::kNotifications;
  return both | (server ? ffa::properties::kDirectReceive : ffa::properties::kDirectSend);
}

}  // namespace

absl::StatusOr<Manifest> parse_manifest(const std::string& dtb, const std::string& base_dir) {
  const void* fdt = dtb.data();
  if (dtb.size() < sizeof(fdt_header) || fdt_check_full(fdt, dtb.size()) != 0) {
    return absl::InvalidArgumentError("manifest is not a valid device tree");
  }
  if (fdt_node_check_compatible(fdt, 0, "hyp,manifest-1") != 0) {
    return absl::InvalidArgumentError("manifest root is not compatible with \"hyp,manifest-1\"");
  }
  const int vms = fdt_path_offset(fdt, "/vms");
  if (vms < 0) return absl::InvalidArgumentError("manifest has no /vms node");
  Manifest m;
  int node = 0;
  fdt_for_each_subnode(node, fdt, vms) {
    VmSpec vm;
    vm.name = fdt_get_name(fdt, node, nullptr);
    const auto where = absl::StrCat("manifest vm '", vm.name, "': ");
    int len = 0;
    const auto* vcpus = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "vcpus", &len));
    if (vcpus != nullptr) {
      if (len != 4) return absl::InvalidArgumentError(absl::StrCat(where, "vcpus must be one cell"));
      vm.vcpus = static_cast<int>(fdt32_ld(vcpus));
    }
    const auto* mib = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "memory-mib", &len));
    if (mib != nullptr) {
      if (len != 4) return absl::InvalidArgumentError(absl::StrCat(where, "memory-mib must be one cell"));
      vm.memory = uint64_t{fdt32_ld(mib)} << 20;
    }
    const std::string kind = prop_string(fdt, node, "kind");
    if (kind == "server") {
      vm.server = true;
    } else if (!kind.empty() && kind != "guest") {
      return absl::InvalidArgumentError(absl::StrCat(where, "kind must be \"guest\" or \"server\""));
    }
    vm.control = fdt_getprop(fdt, node, "control", nullptr) != nullptr;
    vm.control_targets = prop_strings(fdt, node, "control");
    vm.stopped = fdt_getprop(fdt, node, "stopped", nullptr) != nullptr;
    if (vm.stopped && !vm.server) return absl::InvalidArgumentError(absl::StrCat(where, "only servers start stopped"));
    if (const auto* id = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "ffa-id", &len)); id != nullptr) {
      if (len != 4) return absl::InvalidArgumentError(absl::StrCat(where, "ffa-id must be one cell"));
      vm.ffa_id = fdt32_ld(id);
      if (vm.ffa_id == 0 || vm.ffa_id >= package::kFfaIdLimit) {
        return absl::InvalidArgumentError(absl::StrCat(where, "ffa-id must be 1..0x7fff"));
      }
    }
    vm.ffa_uuid = prop_string(fdt, node, "ffa-uuid");
    if (fdt_getprop(fdt, node, "ffa-messaging", nullptr) != nullptr) {
      vm.ffa_messaging_set = true;
      vm.ffa_messaging = prop_strings(fdt, node, "ffa-messaging");
      if (vm.ffa_messaging.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(where, "ffa-messaging must be strings (\"none\" for nothing)"));
      }
    }
    vm.ffa_direct_targets = prop_strings(fdt, node, "ffa-direct-targets");
    if (const auto* kib = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "dma-pool-kib", &len)); kib != nullptr) {
      if (len != 4) return absl::InvalidArgumentError(absl::StrCat(where, "dma-pool-kib must be one cell"));
      vm.dma_pool = uint64_t{fdt32_ld(kib)} << 10;
    }
    if (const auto* irq = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "device-irq", &len)); irq != nullptr) {
      if (len <= 0 || len % 4 != 0) return absl::InvalidArgumentError(absl::StrCat(where, "device-irq must be cells"));
      for (int i = 0; i < len / 4; ++i) vm.device_irqs.push_back(fdt32_ld(&irq[i]));
    }
    if (const auto* dev = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "device-memory", &len)); dev != nullptr) {
      if (len <= 0 || len % 16 != 0) {
        return absl::InvalidArgumentError(absl::StrCat(where, "device-memory must be <hi lo size-hi size-lo>..."));
      }
      for (int i = 0; i < len / 16; ++i) {
        const fdt32_t* r = dev + 4 * i;
        vm.device_memory.emplace_back(uint64_t{fdt32_ld(&r[0])} << 32 | fdt32_ld(&r[1]),
                                      uint64_t{fdt32_ld(&r[2])} << 32 | fdt32_ld(&r[3]));
      }
    }
    if (const int devices = fdt_subnode_offset(fdt, node, "devices"); devices >= 0) {
      int d = 0;
      fdt_for_each_subnode(d, fdt, devices) {
        DeviceSpec dev;
        dev.name = fdt_get_name(fdt, d, nullptr);
        dev.server = prop_string(fdt, d, "server");
        dev.model = prop_string(fdt, d, "model");
        const auto* base = static_cast<const fdt32_t*>(fdt_getprop(fdt, d, "base", &len));
        if (dev.server.empty() || dev.model.empty() || base == nullptr || len != 8) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "device '", dev.name, "' needs server, model and base"));
        }
        dev.base = uint64_t{fdt32_ld(&base[0])} << 32 | fdt32_ld(&base[1]);
        vm.devices.push_back(dev);
      }
    }
    if (const int grants = fdt_subnode_offset(fdt, node, "memory-grants"); grants >= 0) {
      int g = 0;
      fdt_for_each_subnode(g, fdt, grants) {
        GrantSpec grant;
        grant.name = fdt_get_name(fdt, g, nullptr);
        grant.servers = prop_strings(fdt, g, "servers");
        const auto* base = static_cast<const fdt32_t*>(fdt_getprop(fdt, g, "base", &len));
        const bool has_base = base != nullptr && len == 8;
        const bool bad_base = base != nullptr && len != 8;
        const auto* size = static_cast<const fdt32_t*>(fdt_getprop(fdt, g, "size", &len));
        const bool has_size = size != nullptr && len == 8;
        if (grant.servers.empty() || bad_base || (size != nullptr && len != 8) || has_base != has_size) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "memory grant '", grant.name, "' needs servers, and base and size or neither"));
        }
        if (has_base) {
          grant.base = uint64_t{fdt32_ld(&base[0])} << 32 | fdt32_ld(&base[1]);
          grant.size = uint64_t{fdt32_ld(&size[0])} << 32 | fdt32_ld(&size[1]);
        }
        vm.grants.push_back(grant);
      }
    }
    vm.kernel = prop_string(fdt, node, "kernel");
    vm.initrd = prop_string(fdt, node, "initrd");
    vm.bootargs = prop_string(fdt, node, "bootargs");
    if (vm.kernel.empty()) return absl::InvalidArgumentError(absl::StrCat(where, "no kernel"));
    for (std::string* path : {&vm.kernel, &vm.initrd}) {
      if (!path->empty() && (*path)[0] != '/' && !base_dir.empty()) *path = absl::StrCat(base_dir, "/", *path);
    }
    m.vms.push_back(vm);
  }
  if (m.vms.empty()) return absl::InvalidArgumentError("manifest names no vm");
  // Number each server's devices, and check that they name servers.
  for (VmSpec& vm : m.vms) {
    for (DeviceSpec& dev : vm.devices) {
      if (vm.server) return absl::InvalidArgumentError(absl::StrCat("server '", vm.name, "' cannot use devices"));
      const VmSpec* server = nullptr;
      for (const VmSpec& s : m.vms) {
        if (s.name == dev.server) server = &s;
      }
      if (server == nullptr || !server->server) {
        return absl::InvalidArgumentError(
            absl::StrCat("vm '", vm.name, "': device '", dev.name, "': '", dev.server, "' is not a server"));
      }
      if (device_window(dev.model, vm.vcpus) == 0) {
        return absl::InvalidArgumentError(absl::StrCat("vm '", vm.name, "': unknown device model '", dev.model, "'"));
      }
      uint32_t used = 0;
      for (const VmSpec& other : m.vms) {
        for (const DeviceSpec& o : other.devices) {
          if (&o == &dev) break;
          if (o.server == dev.server) ++used;
        }
        if (&other == &vm) break;
      }
      dev.device = used;
    }
  }
  return m;
}

KernelFormat kernel_format(const std::string& kernel) {
  const auto starts_with = [&](const char* magic, size_t n) {
    return kernel.size() >= n && std::memcmp(kernel.data(), magic, n) == 0;
  };
  if (kernel.empty()) return KernelFormat::kEmpty;
  if (starts_with("\177ELF", 4)) return KernelFormat::kElf;
  if (starts_with("\x27\x05\x19\x56", 4)) return KernelFormat::kUImage;  // IH_MAGIC, big-endian
  if (starts_with("\x1f\x8b", 2)) return KernelFormat::kGzip;
  // QEMU's test (arm_load_aarch64_image): the magic, in a file longer than
  // the offset after it.
  if (kernel.size() > kImageMagicOffset + 4 && std::memcmp(kernel.data() + kImageMagicOffset, "ARM\x64", 4) == 0) {
    return KernelFormat::kImage;
  }
  return KernelFormat::kRawBinary;
}

namespace {

// The kernel at `ram_ipa + text_offset`, `image_size` bytes of memory from
// there (at least the file), the device tree in the last 2 MiB of RAM, the
// initrd just below it.
absl::StatusOr<GuestLayout> place(uint64_t text_offset, uint64_t image_size, uint64_t ram_ipa, uint64_t ram_size,
                                  uint64_t initrd_size) {
  if (ram_ipa % k2M != 0 || ram_size % k2M != 0) return absl::InvalidArgumentError("RAM must be 2 MiB aligned");
  if (text_offset >= k2M) return absl::InvalidArgumentError("Image text_offset is not below 2 MiB");
  GuestLayout l{};
  l.ram_ipa = ram_ipa;
  l.ram_size = ram_size;
  l.kernel_ipa = ram_ipa + text_offset;
  const uint64_t kernel_end = align_up(l.kernel_ipa + image_size, k2M);
  const uint64_t ram_end = ram_ipa + ram_size;
  if (ram_size < kMaxDtb || kernel_end > ram_end - kMaxDtb) {
    return absl::InvalidArgumentError(absl::StrCat("kernel (", image_size, " bytes) does not fit in ", ram_size >> 20,
                                                   " MiB of RAM with its device tree"));
  }
  l.dtb_ipa = ram_end - kMaxDtb;
  if (initrd_size != 0) {
    if (initrd_size > l.dtb_ipa - kernel_end) {
      return absl::InvalidArgumentError(absl::StrCat("initrd (", initrd_size, " bytes) does not fit in RAM"));
    }
    l.initrd_ipa = align_down(l.dtb_ipa - initrd_size, 4096);
  }
  return l;
}

}  // namespace

absl::StatusOr<GuestLayout> place_guest(const std::string& image, uint64_t ram_ipa, uint64_t ram_size,
                                        uint64_t initrd_size) {
  if (kernel_format(image) != KernelFormat::kImage) {
    return absl::InvalidArgumentError("kernel is not an arm64 Image (no \"ARM\\x64\" magic at offset 56)");
  }
  uint64_t text_offset = le64(image, 8);
  uint64_t image_size = le64(image, 16);
  if (image_size == 0) {
    // Kernels before 3.17 leave image_size zero; text_offset is then 0x80000.
    text_offset = kRawLoadOffset;
    image_size = image.size();
  }
  if (image_size < image.size()) image_size = image.size();
  return place(text_offset, image_size, ram_ipa, ram_size, initrd_size);
}

absl::StatusOr<GuestLayout> place_kernel(const std::string& kernel, uint64_t ram_ipa, uint64_t ram_size,
                                         uint64_t initrd_size) {
  switch (kernel_format(kernel)) {
    case KernelFormat::kImage: return place_guest(kernel, ram_ipa, ram_size, initrd_size);
    case KernelFormat::kRawBinary:
      // No header, so no image_size: like QEMU, count the file alone.
      return place(kRawLoadOffset, kernel.size(), ram_ipa, ram_size, initrd_size);
    case KernelFormat::kElf:
      // QEMU would load it by its program headers and enter it with x0 = 0;
      // a partition is always entered with its device tree in x0, from
      // images the package places whole.
      return absl::InvalidArgumentError(
          "kernel is an ELF file: give its flat binary (llvm-objcopy -O binary ELF BIN) or an arm64 Image");
    case KernelFormat::kUImage:
      return absl::InvalidArgumentError("kernel is a U-Boot image (uImage): give the kernel inside it");
    case KernelFormat::kGzip:
      return absl::InvalidArgumentError("kernel is gzip-compressed: decompress it first (gunzip)");
    case KernelFormat::kEmpty: break;
  }
  return absl::InvalidArgumentError("kernel file is empty");
}

uint64_t device_window(const std::string& model, int vcpus) {
  // A virtio-mmio transport's registers take 0x200 bytes; its route is the
  // page (Stage 2 isolates pages), which the transport answers in part.
  if (model == "pl011" || model == "pl031" || model == "virtio-mmio") return 0x1000;
  // A GICv3 distributor (64 KiB) and one redistributor (RD_base and
  // SGI_base, 128 KiB) per vCPU right after it.
  if (model == "gicv3") return kGicRedistOffset + kGicRedistSize * static_cast<uint64_t>(vcpus);
  return 0;
}

uint32_t device_irq(const VmSpec& vm, const DeviceSpec& dev) {
  // PL011s in manifest order take SPIs 1, 2, ... (INTIDs 33, ...), the
  // first as QEMU's virt wires its UART. A virtio-mmio transport takes the
  // SPI QEMU's virt gives the transport at its address (16 + n for
  // transport n), so a guest's device tree reads the same with the
  // hypervisor and on bare QEMU.
  if (dev.model == "virtio-mmio") {
    return package::kFirstSpi + 16 + static_cast<uint32_t>((dev.base - kVirtioMmioBase) / kVirtioMmioSize);
  }
  // A PL031 takes SPI 2, where QEMU's virt wires its RTC.
  if (dev.model == "pl031") return package::kFirstSpi + 2;
  uint32_t uart_spi = 1;
  for (const DeviceSpec& d : vm.devices) {
    if (&d == &dev) return dev.model == "pl011" ? package::kFirstSpi + uart_spi : 0;
    if (d.model == "pl011") ++uart_spi;
  }
  return 0;
}

const DeviceSpec* interrupt_controller(const VmSpec& vm) {
  for (const DeviceSpec& d : vm.devices) {
    if (d.model == "gicv3") return &d;
  }
  return nullptr;
}

absl::StatusOr<std::string> make_guest_dtb(const VmSpec& vm, const GuestLayout& l, uint64_t initrd_size) {
  Writer w(64 * 1024 + vm.bootargs.size());
  w.begin("");
  w.u32("#address-cells", 2);
  w.u32("#size-cells", 2);
  w.string("compatible", "hyp,partition");
  w.string("model", absl::StrCat("hyp partition ", vm.name));

  // The PL011's clock (amba-pl011 reads its rate for the baud divisors).
  constexpr uint32_t kClockPhandle = 1;
  constexpr uint32_t kGicPhandle = 2;
  const DeviceSpec* gic = interrupt_controller(vm);
  if (gic != nullptr) w.u32("interrupt-parent", kGicPhandle);
  std::string stdout_path;
  for (const DeviceSpec& dev : vm.devices) {
    if (dev.model == "pl011" && stdout_path.empty()) stdout_path = absl::StrCat("/pl011@", absl::Hex(dev.base));
  }
  w.begin("chosen");
  if (!vm.bootargs.empty()) w.string("bootargs", vm.bootargs);
  if (!stdout_path.empty()) w.string("stdout-path", stdout_path);
  if (initrd_size != 0) {
    // One cell while it fits, as QEMU's -initrd writes it: test kernels
    // that read only the first cell find it too (Linux reads either).
    const uint64_t end = l.initrd_ipa + initrd_size;
    if (end <= 0xffff'ffff) {
      w.u32("linux,initrd-start", static_cast<uint32_t>(l.initrd_ipa));
      w.u32("linux,initrd-end", static_cast<uint32_t>(end));
    } else {
      w.u64("linux,initrd-start", l.initrd_ipa);
      w.u64("linux,initrd-end", end);
    }
  }
  w.end();

  w.begin(absl::StrCat("memory@", absl::Hex(l.ram_ipa)).c_str());
  w.string("device_type", "memory");
  w.cells("reg", split64(l.ram_ipa, l.ram_size));
  w.end();

  w.begin("cpus");
  w.u32("#address-cells", 1);
  w.u32("#size-cells", 0);
  for (int i = 0; i < vm.vcpus; ++i) {
    w.begin(absl::StrCat("cpu@", i).c_str());
    w.string("device_type", "cpu");
    w.string("compatible", "arm,armv8");
    w.u32("reg", static_cast<uint32_t>(i));
    w.string("enable-method", "psci");
    w.end();
  }
  w.end();

  bool amba = !stdout_path.empty();  // a PrimeCell needs its bus clock
  for (const DeviceSpec& dev : vm.devices) amba = amba || dev.model == "pl031";
  if (amba) {
    w.begin("apb-pclk");
    w.string("compatible", "fixed-clock");
    w.u32("#clock-cells", 0);
    w.u32("clock-frequency", 24000000);
    w.string("clock-output-names", "clk24mhz");
    w.u32("phandle", kClockPhandle);
    w.end();
  }
  if (gic != nullptr) {
    // Linux's arm,gic-v3 binding: the distributor, then one region with
    // every redistributor.
    w.begin(absl::StrCat("interrupt-controller@", absl::Hex(gic->base)).c_str());
    w.string("compatible", "arm,gic-v3");
    w.u32("#interrupt-cells", 3);
    w.empty("interrupt-controller");
    std::vector<uint32_t> reg = split64(gic->base, kGicDistSize);
    for (uint32_t c : split64(gic->base + kGicRedistOffset, kGicRedistSize * static_cast<uint64_t>(vm.vcpus))) {
      reg.push_back(c);
    }
    w.cells("reg", reg);
    w.u32("phandle", kGicPhandle);
    w.end();
  }
  for (const DeviceSpec& dev : vm.devices) {
    if (dev.model != "pl011") continue;
    w.begin(absl::StrCat(dev.model, "@", absl::Hex(dev.base)).c_str());
    w.strings("compatible", {"arm,pl011", "arm,primecell"});
    w.cells("reg", split64(dev.base, device_window(dev.model, vm.vcpus)));
    // Level-high SPI (GIC binding: 0 = SPI, numbered from INTID 32; 4 =
    // level high), the first as QEMU's virt wires its UART.
    w.cells("interrupts", {0, device_irq(vm, dev) - package::kFirstSpi, 4});
    w.cells("clocks", {kClockPhandle, kClockPhandle});
    w.strings("clock-names", {"uartclk", "apb_pclk"});
    w.end();
  }
  for (const DeviceSpec& dev : vm.devices) {
    if (dev.model != "pl031") continue;
    w.begin(absl::StrCat("pl031@", absl::Hex(dev.base)).c_str());
    w.strings("compatible", {"arm,pl031", "arm,primecell"});
    w.cells("reg", split64(dev.base, device_window(dev.model, vm.vcpus)));
    w.cells("interrupts", {0, device_irq(vm, dev) - package::kFirstSpi, 4});
    w.cells("clocks", {kClockPhandle});
    w.string("clock-names", "apb_pclk");
    w.end();
  }
  for (const DeviceSpec& dev : vm.devices) {
    if (dev.model != "virtio-mmio") continue;
    w.begin(absl::StrCat("virtio_mmio@", absl::Hex(dev.base)).c_str());
    w.string("compatible", "virtio,mmio");
    w.cells("reg", split64(dev.base, kVirtioMmioSize));
    // Level-high: the line follows InterruptStatus (docs/virtio.md).
    w.cells("interrupts", {0, device_irq(vm, dev) - package::kFirstSpi, 4});
    w.empty("dma-coherent");
    w.end();
  }

  w.begin("psci");
  w.strings("compatible", {"arm,psci-1.0", "arm,psci-0.2"});
  w.string("method", "hvc");
  w.end();

  // The architected timer's PPIs (secure, non-secure physical, virtual,
  // hypervisor), as QEMU's virt describes them with a GICv3 (GIC binding:
  // 1 = PPI, 4 = level-triggered, active high; no CPU mask, which is
  // GICv2's).
  w.begin("timer");
  w.strings("compatible", {"arm,armv8-timer", "arm,armv7-timer"});
  w.cells("interrupts", {1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4});
  w.empty("always-on");
  w.end();

  w.end();
  return w.finish();
}

absl::StatusOr<LoadedVm> load_vm(const VmSpec& vm) {
  LoadedVm out;
  auto kernel = read_file(vm.kernel);
  if (!kernel.ok()) return kernel.status();
  out.kernel = *std::move(kernel);
  if (!vm.initrd.empty()) {
    auto initrd = read_file(vm.initrd);
    if (!initrd.ok()) return initrd.status();
    out.initrd = *std::move(initrd);
  }
  auto layout = place_kernel(out.kernel, package::kDefaultRamIpa, vm.memory, out.initrd.size());
  if (!layout.ok()) return absl::InvalidArgumentError(absl::StrCat("vm '", vm.name, "': ", layout.status().message()));
  out.layout = *layout;
  auto dtb = make_guest_dtb(vm, out.layout, out.initrd.size());
  if (!dtb.ok()) return dtb.status();
  out.dtb = *std::move(dtb);
  return out;
}

namespace {

// A partition's FF-A properties as the package carries them.
struct FfaProps {
  uint32_t id = 0;
  ffa::Uuid uuid;
  uint32_t messaging = 0;
  std::vector<uint32_t> targets;  // IDs
};

// The package's control cells for `vm`: the manifest positions of the
// servers its control right names (none: every server).
absl::StatusOr<std::vector<uint32_t>> control_cells(const Manifest& manifest, const VmSpec& vm) {
  std::vector<uint32_t> cells;
  for (const std::string& name : vm.control_targets) {
    uint32_t index = 0;
    while (index < manifest.vms.size() && manifest.vms[index].name != name) ++index;
    if (index == manifest.vms.size() || !manifest.vms[index].server) {
      return absl::InvalidArgumentError(absl::StrCat(vm.name, ": control names \"", name, "\", which is no server"));
    }
    if (std::find(cells.begin(), cells.end(), index) != cells.end()) {
      return absl::InvalidArgumentError(absl::StrCat(vm.name, ": control names \"", name, "\" twice"));
    }
    cells.push_back(index);
  }
  return cells;
}

absl::StatusOr<std::vector<FfaProps>> ffa_props(const Manifest& manifest) {
  std::vector<FfaProps> out(manifest.vms.size());
  for (size_t i = 0; i < manifest.vms.size(); ++i) {
    const VmSpec& vm = manifest.vms[i];
    const auto where = absl::StrCat("vm '", vm.name, "': ");
    FfaProps& f = out[i];
    f.id = vm.ffa_id != 0 ? vm.ffa_id : static_cast<uint32_t>(i + 1);
    for (size_t j = 0; j < i; ++j) {
      if (out[j].id == f.id) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "FF-A ID ", f.id, " is also '", manifest.vms[j].name, "''s"));
      }
    }
    if (!vm.ffa_uuid.empty() && !ffa::parse_uuid(vm.ffa_uuid.c_str(), f.uuid)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "ffa-uuid '", vm.ffa_uuid, "' is not xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"));
    }
    f.messaging = default_messaging(vm.server);
    if (vm.ffa_messaging_set) {
      f.messaging = 0;
      for (const std::string& word : vm.ffa_messaging) {
        if (word == "none" && vm.ffa_messaging.size() == 1) continue;
        const MessagingWord* known = nullptr;
        for (const MessagingWord& m : kMessagingWords) {
          if (word == m.word) known = &m;
        }
        if (known == nullptr) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "ffa-messaging '", word,
              "' is none of direct-receive, direct-send, indirect, notifications (or \"none\" alone)"));
        }
        f.messaging |= known->bit;
      }
    }
    if (vm.server && (f.messaging & ffa::properties::kDirectSend) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, "a server cannot send direct requests (direct-send)"));
    }
  }
  // Direct targets name partitions that receive direct requests.
  for (size_t i = 0; i < manifest.vms.size(); ++i) {
    const VmSpec& vm = manifest.vms[i];
    const auto where = absl::StrCat("vm '", vm.name, "': ");
    if (!vm.ffa_direct_targets.empty() && (out[i].messaging & ffa::properties::kDirectSend) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, "ffa-direct-targets without direct-send"));
    }
    if (vm.ffa_direct_targets.size() > package::kMaxPartitions) {
      return absl::InvalidArgumentError(absl::StrCat(where, "more than ", package::kMaxPartitions, " direct targets"));
    }
    for (const std::string& name : vm.ffa_direct_targets) {
      size_t t = 0;
      while (t < manifest.vms.size() && manifest.vms[t].name != name) ++t;
      if (t == manifest.vms.size() || t == i) {
        return absl::InvalidArgumentError(absl::StrCat(where, "direct target '", name, "' is no other partition"));
      }
      if ((out[t].messaging & ffa::properties::kDirectReceive) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "direct target '", name, "' does not receive direct requests"));
      }
      out[i].targets.push_back(out[t].id);
    }
  }
  return out;
}

// Memory grants: from guests, to servers, each server once per grant, and
// no server granted more than its info page lists.
absl::Status check_grant_servers(const Manifest& m) {
  for (const VmSpec& vm : m.vms) {
    if (vm.server && !vm.grants.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("server '", vm.name, "' cannot grant memory"));
    }
    if (vm.grants.size() > package::kMaxGrants) {
      return absl::InvalidArgumentError(
          absl::StrCat("vm '", vm.name, "': more than ", package::kMaxGrants, " memory grants"));
    }
    for (const GrantSpec& g : vm.grants) {
      for (size_t i = 0; i < g.servers.size(); ++i) {
        const VmSpec* server = nullptr;
        for (const VmSpec& s : m.vms) {
          if (s.name == g.servers[i]) server = &s;
        }
        if (server == nullptr || !server->server) {
          return absl::InvalidArgumentError(absl::StrCat("vm '", vm.name, "': memory grant '", g.name, "': '",
                                                         g.servers[i], "' is not a server"));
        }
        for (size_t j = 0; j < i; ++j) {
          if (g.servers[j] == g.servers[i]) {
            return absl::InvalidArgumentError(
                absl::StrCat("vm '", vm.name, "': memory grant '", g.name, "' names '", g.servers[i], "' twice"));
          }
        }
      }
    }
  }
  for (const VmSpec& server : m.vms) {
    size_t received = 0;
    for (const VmSpec& vm : m.vms) {
      for (const GrantSpec& g : vm.grants) {
        for (const std::string& name : g.servers) received += name == server.name ? 1 : 0;
      }
    }
    if (received > ipc::kMaxServerGrants) {
      return absl::InvalidArgumentError(
          absl::StrCat("server '", server.name, "' is granted memory more than ", ipc::kMaxServerGrants, " times"));
    }
  }
  return absl::OkStatus();
}

// A grant's guest range: the one it names, or all of the vm's RAM (which
// the packer always places at kDefaultRamIpa).
std::pair<uint64_t, uint64_t> grant_range(const VmSpec& vm, const GrantSpec& g) {
  return g.size == 0 ? std::pair<uint64_t, uint64_t>{package::kDefaultRamIpa, vm.memory}
                     : std::pair<uint64_t, uint64_t>{g.base, g.size};
}

}  // namespace

absl::StatusOr<std::string> build_package(const Manifest& manifest) {
  if (manifest.vms.empty() || manifest.vms.size() > kMaxVms) {
    return absl::InvalidArgumentError(absl::StrCat("a package holds 1 to ", kMaxVms, " partitions"));
  }
  if (absl::Status s = check_grant_servers(manifest); !s.ok()) return s;
  struct Prepared {
    const VmSpec* vm;
    LoadedVm loaded;
  };
  std::vector<Prepared> prepared;
  size_t total = 0;
  for (const VmSpec& vm : manifest.vms) {
    const auto where = absl::StrCat("vm '", vm.name, "': ");
    if (vm.name.empty() || vm.name.size() > kMaxName ||
        vm.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(where, "name must be 1-", kMaxName, " of [a-z0-9_-]"));
    }
    if (vm.vcpus < 1 || vm.vcpus > kMaxVcpus) {
      return absl::InvalidArgumentError(absl::StrCat(where, "vcpus must be 1-", kMaxVcpus));
    }
    if ((!vm.device_memory.empty() || !vm.device_irqs.empty()) && !vm.server) {
      return absl::InvalidArgumentError(absl::StrCat(where, "only a server is given devices of the machine"));
    }
    if (vm.dma_pool != 0 && (!vm.server || vm.dma_pool % 4096 != 0 || vm.dma_pool > ipc::kMaxDmaPool)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "a DMA pool is for servers, whole pages of at most ", ipc::kMaxDmaPool >> 10, " KiB"));
    }
    if (vm.device_memory.size() > package::kMaxDeviceRegions || vm.device_irqs.size() > package::kMaxDeviceIrqs) {
      return absl::InvalidArgumentError(absl::StrCat(where, "more than ", package::kMaxDeviceRegions,
                                                     " device memory ranges or ", package::kMaxDeviceIrqs,
                                                     " device interrupts"));
    }
    if (vm.server && vm.bootargs.size() > package::kMaxBootargs) {
      return absl::InvalidArgumentError(absl::StrCat(where, "server bootargs longer than ", package::kMaxBootargs));
    }
    if (vm.devices.size() > package::kMaxRoutes) {
      return absl::InvalidArgumentError(absl::StrCat(where, "more than ", package::kMaxRoutes, " devices"));
    }
    // Each device's SPI is its own (a PL031 takes QEMU's, SPI 2, which a
    // second PL011 would too).
    for (const DeviceSpec& dev : vm.devices) {
      const uint32_t irq = device_irq(vm, dev);
      for (const DeviceSpec& o : vm.devices) {
        if (&o == &dev) break;
        if (irq != 0 && device_irq(vm, o) == irq) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "devices '", o.name, "' and '", dev.name, "' would share SPI ", irq - 32));
        }
      }
    }
    for (const DeviceSpec& dev : vm.devices) {
      if (dev.model == "virtio-mmio" && (dev.base < kVirtioMmioBase || dev.base >= kVirtioMmioEnd)) {
        return absl::InvalidArgumentError(absl::StrCat(where, "device '", dev.name,
                                                       "': a virtio-mmio device goes on one of QEMU virt's "
                                                       "virtio-mmio pages, 0x0a000000 to 0x0a003000"));
      }
    }
    for (size_t i = 0; i < vm.grants.size(); ++i) {
      const GrantSpec& g = vm.grants[i];
      const uint64_t ram_ipa = package::kDefaultRamIpa;
      const auto [base, size] = grant_range(vm, g);
      if (g.servers.size() > package::kMaxGrantServers) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "memory grant '", g.name, "' names more than ", package::kMaxGrantServers, " servers"));
      }
      if (base % 4096 != 0 || size % 4096 != 0 || base < ram_ipa || size > vm.memory || base - ram_ipa > vm.memory - size) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "memory grant '", g.name, "' is not page-aligned inside the vm's memory"));
      }
      for (size_t j = 0; j < i; ++j) {
        const GrantSpec& o = vm.grants[j];
        const auto [o_base, o_size] = grant_range(vm, o);
        if (base < o_base + o_size && o_base < base + size) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "memory grants '", o.name, "' and '", g.name, "' overlap"));
        }
      }
    }
    for (const DeviceSpec& dev : vm.devices) {
      if (dev.device >= package::kMaxServerDevices) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "server '", dev.server, "' serves more than ", package::kMaxServerDevices, " devices"));
      }
    }
    auto loaded = load_vm(vm);
    if (!loaded.ok()) return loaded.status();
    total += loaded->kernel.size() + loaded->initrd.size() + loaded->dtb.size();
    prepared.push_back({&vm, *std::move(loaded)});
  }

  auto ffa = ffa_props(manifest);
  if (!ffa.ok()) return ffa.status();

  Writer w(total + 64 * 1024);
  w.begin("");
  w.string("compatible", package::kCompatible);
  w.begin("partitions");
  for (const Prepared& p : prepared) {
    const LoadedVm& l = p.loaded;
    w.begin(p.vm->name.c_str());
    w.string(package::kPropKind, p.vm->server ? package::kKindServer : package::kKindGuest);
    if (p.vm->control) {
      auto targets = control_cells(manifest, *p.vm);
      if (!targets.ok()) return targets.status();
      if (targets->empty()) {
        w.empty(package::kPropControl);
      } else {
        w.cells(package::kPropControl, *targets);
      }
    }
    if (p.vm->stopped) w.empty(package::kPropStopped);
    const FfaProps& f = (*ffa)[static_cast<size_t>(&p - prepared.data())];
    w.u32(package::kPropFfaId, f.id);
    if (!f.uuid.is_nil()) {
      w.cells(package::kPropFfaUuid, {f.uuid.words[0], f.uuid.words[1], f.uuid.words[2], f.uuid.words[3]});
    }
    w.u32(package::kPropFfaMessaging, f.messaging);
    if (!f.targets.empty()) w.cells(package::kPropFfaDirectTargets, f.targets);
    if (!p.vm->device_memory.empty()) {
      std::vector<uint32_t> cells;
      for (const auto& [base, size] : p.vm->device_memory) {
        for (const uint32_t c : split64(base, size)) cells.push_back(c);
      }
      w.cells(package::kPropDeviceMemory, cells);
    }
    if (!p.vm->device_irqs.empty()) w.cells(package::kPropDeviceIrq, p.vm->device_irqs);
    if (p.vm->dma_pool != 0) w.u64(package::kPropDmaPool, p.vm->dma_pool);
    if (p.vm->server && !p.vm->bootargs.empty()) w.string(package::kPropBootargs, p.vm->bootargs);
    w.u32(package::kPropVcpus, static_cast<uint32_t>(p.vm->vcpus));
    w.cells(package::kPropMemory, split64(l.layout.ram_ipa, l.layout.ram_size));
    w.u64(package::kPropEntry, l.layout.kernel_ipa);
    w.u64(package::kPropDtb, l.layout.dtb_ipa);
    int n = 0;
    const std::pair<uint64_t, const std::string*> loads[] = {
        {l.layout.kernel_ipa, &l.kernel}, {l.layout.dtb_ipa, &l.dtb}, {l.layout.initrd_ipa, &l.initrd}};
    for (const auto& [ipa, data] : loads) {
      if (data->empty()) continue;
      w.begin(absl::StrCat(package::kLoadPrefix, n++).c_str());
      w.u64(package::kPropIpa, ipa);
      w.bytes(package::kPropData, *data);
      w.end();
    }
    for (size_t i = 0; i < p.vm->devices.size(); ++i) {
      const DeviceSpec& dev = p.vm->devices[i];
      uint32_t server = 0;
      while (manifest.vms[server].name != dev.server) ++server;  // parse_manifest checked it exists
      w.begin(absl::StrCat(package::kRoutePrefix, i).c_str());
      w.u64(package::kPropIpa, dev.base);
      w.u64(package::kPropSize, device_window(dev.model, p.vm->vcpus));
      w.u32(package::kPropServer, server);
      w.u32(package::kPropDevice, dev.device);
      if (dev.model == "gicv3") w.empty(package::kPropIrqchip);
      if (const uint32_t irq = device_irq(*p.vm, dev); irq != 0) w.u32(package::kPropIrq, irq);
      w.end();
    }
    for (size_t i = 0; i < p.vm->grants.size(); ++i) {
      const GrantSpec& g = p.vm->grants[i];
      std::vector<uint32_t> servers;
      for (const std::string& name : g.servers) {
        uint32_t server = 0;
        while (manifest.vms[server].name != name) ++server;  // check_grant_servers() found it
        servers.push_back(server);
      }
      w.begin(absl::StrCat(package::kGrantPrefix, i).c_str());
      const auto [base, size] = grant_range(*p.vm, g);
      w.u64(package::kPropIpa, base);
      w.u64(package::kPropSize, size);
      w.cells(package::kPropServers, servers);
      w.end();
    }
    w.end();
  }
  w.end();
  w.end();
  return w.finish();
}

}  // namespace hyp::tools
