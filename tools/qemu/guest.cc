#include "tools/qemu/guest.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hyp::tools {

namespace {

// A server of `image` owning the machine's registers at [base, base +
// size) and the SPIs `irqs`.
VmSpec server(const char* name, const std::string& image, uint64_t memory, uint64_t base, uint64_t size,
              std::vector<uint32_t> irqs) {
  VmSpec s;
  s.name = name;
  s.server = true;
  s.memory = memory;
  s.kernel = image;
  if (size != 0) s.device_memory = {{base, size}};
  s.device_irqs = std::move(irqs);
  return s;
}

// The SPIs of a page of QEMU virt's virtio-mmio transports (16 + n for
// transport n; eight to a page).
std::vector<uint32_t> virtio_page_irqs(uint64_t page) {
  std::vector<uint32_t> irqs;
  const uint32_t first = 48 + static_cast<uint32_t>((page - kVirtioBlkPage) / 0x200);
  for (uint32_t i = 0; i < 8; ++i) irqs.push_back(first + i);
  return irqs;
}

}  // namespace

Manifest guest_manifest(const GuestOptions& o) {
  Manifest m;
  VmSpec guest;
  guest.name = "guest";
  guest.vcpus = o.vcpus;
  guest.memory = o.memory;
  guest.kernel = o.kernel;
  guest.initrd = o.initrd;
  guest.bootargs = o.bootargs;
  if (!o.uart_server.empty()) {
    VmSpec uart = server("uart", o.uart_server, kUartServerMemory, kVirtPl011Base, kVirtPl011Size, {kVirtPl011Irq});
    // The guest's output as it writes it, as on QEMU's own UART.
    uart.bootargs = "console-raw=1";
    // The server comes first: it is partition 1, and owns the console
    // before the guest prints.
    m.vms.push_back(uart);
    guest.devices.push_back({"serial", uart.name, "pl011", kVirtPl011Base, 0});
  }
  if (!o.gic_server.empty()) {
    VmSpec gic = server("gic", o.gic_server, kGicServerMemory, 0, 0, {});
    m.vms.push_back(gic);
    guest.devices.push_back({"gic", gic.name, "gicv3", kVirtGicBase, 0});
  }
  struct Virtio {
    const std::string& image;
    const char* name;
    const char* device;
    uint64_t page;
    uint64_t pool;
  };
  const Virtio virtio[] = {{o.blk_server, "blk", "disk", kVirtioBlkPage, kBlkDmaPool},
                           {o.rng_server, "rng", "rng", kVirtioRngPage, kRngDmaPool}};
  for (const Virtio& v : virtio) {
    if (v.image.empty()) continue;
    VmSpec s = server(v.name, v.image, kVirtioServerMemory, v.page, 0x1000, virtio_page_irqs(v.page));
    s.dma_pool = v.pool;
    if (v.page == kVirtioBlkPage && o.read_only_disk) s.bootargs = "read-only=1";
    m.vms.push_back(s);
    guest.devices.push_back({v.device, v.name, "virtio-mmio", v.page, 0});
    // One grant of all of the guest's RAM, to every virtio server.
    if (guest.grants.empty()) guest.grants.push_back({"ram", {}, 0, 0});
    guest.grants[0].servers.push_back(v.name);
  }
  if (!o.rtc_server.empty()) {
    VmSpec rtc = server("rtc", o.rtc_server, kRtcServerMemory, kVirtPl031Base, 0x1000, {kVirtPl031Irq});
    m.vms.push_back(rtc);
    guest.devices.push_back({"rtc", rtc.name, "pl031", kVirtPl031Base, 0});
  }
  if (!o.control_server.empty()) {
    VmSpec ctl = server("control", o.control_server, kControlServerMemory, kControlPage, 0x1000,
                        virtio_page_irqs(kControlPage));
    ctl.dma_pool = kControlDmaPool;
    ctl.control = true;  // every server
    m.vms.push_back(ctl);
  }
  // The console's control right (docs/control.md): the device servers, not
  // the GIC server, so that a compromised console server cannot take the
  // guest's interrupt controller away.
  for (VmSpec& vm : m.vms) {
    if (vm.name != "uart") continue;
    vm.control = true;
    for (const VmSpec& s : m.vms) {
      if (s.server && s.name != "gic" && s.name != "control") vm.control_targets.push_back(s.name);
    }
  }
  for (VmSpec& vm : m.vms) {
    for (const std::string& name : o.stopped_servers) vm.stopped = vm.stopped || (vm.server && vm.name == name);
  }
  m.vms.push_back(guest);
  return m;
}

absl::StatusOr<PrivateDir> PrivateDir::create(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp", "/", prefix, "XXXXXX");
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot make a directory ", pattern, ": ", std::strerror(errno)));
  }
  // Absolute, so that the path means the same wherever it is used (QEMU's
  // working directory, a printed command).
  std::error_code error;
  std::string path = std::filesystem::absolute(buf.data(), error).string();
  if (error) {
    const std::string reason = error.message();
    std::filesystem::remove(buf.data(), error);
    return absl::InternalError(absl::StrCat("cannot make a directory ", pattern, ": ", reason));
  }
  return PrivateDir(std::move(path));
}

PrivateDir::PrivateDir(PrivateDir&& other) noexcept
    : path_(std::exchange(other.path_, std::string())), keep_(other.keep_) {}

PrivateDir& PrivateDir::operator=(PrivateDir&& other) noexcept {
  if (this != &other) {
    if (!keep_) remove();
    path_ = std::exchange(other.path_, std::string());
    keep_ = other.keep_;
  }
  return *this;
}

PrivateDir::~PrivateDir() {
  if (!keep_) remove();
}

void PrivateDir::remove() {
  if (path_.empty()) return;
  std::error_code ignored;  // nothing more can be done about a failure here
  std::filesystem::remove_all(path_, ignored);
  path_.clear();
}

}  // namespace hyp::tools
