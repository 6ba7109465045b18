// A device server that probes, from inside the server runtime (stage-1 MMU
// on), what it could reach if the kernel mapped something into its Stage 2
// by mistake. A mapping mistake most likely puts a page at IPA = PA (the
// kernel's own tables and the loader work with physical addresses), so the
// probes cover:
//  - the machine's whole physical RAM, page by page, but for this server's
//    own RAM window: other partitions' RAM, other servers' channel pages,
//    the kernel's page pool and this server's own RAM at its physical
//    address all lie there;
//  - the kernel's image, whose physical range this server's own RAM window
//    covers (partitions start at IPA 0x40000000, the kernel at PA
//    0x40200000): what is there must be this server's own memory;
//  - the channel region past this server's five pages;
//  - devices it does not own.
// Each access must be refused with an external abort (caught here, reported
// as checks through the kernel's console).
//
// Command line: ram-mib=N, the machine's RAM from 0x40000000 in MiB (the
// test's QEMU -m). The server's own RAM comes from its device tree.
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "ipc/channel.h"
#include "runtime/runtime.h"
#include "servers/lib/runtime.h"
#include "servers/prober/refusal.h"

namespace {

using guest::check;

constexpr uint64_t kPage = 0x1000;
constexpr uint64_t kRamBase = 0x4000'0000;      // the machine's RAM, and every partition's RAM IPA
constexpr uint64_t kKernelImage = 0x4020'0000;  // where QEMU loads the kernel
// The server runtime's stage 1 maps the first 3 GiB (servers/lib/runtime.cc):
// beyond it a probe would fault in the server's own tables.
constexpr uint64_t kStage1End = 0xc000'0000;

uint64_t g_dtb = 0;

using probe::kernel_refusal;
using probe::refused;

bool write_refused(uint64_t ipa) {
  rt::arm_catch();
  *reinterpret_cast<volatile uint32_t*>(ipa) = 0xdead'beef;
  const rt::Caught c = rt::caught();
  return kernel_refusal(c) && ((c.esr >> 6) & 1) == 1;
}

// ---- The server's own RAM, from its device tree (the packer's /memory) ----

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

uint64_t be64(const uint8_t* p) { return uint64_t{be32(p)} << 32 | be32(p + 4); }

// Whether the NUL-terminated string at `s` (before `end`) is `want`, or,
// for a node name with a unit address, `want@...`.
bool name_is(const uint8_t* s, const uint8_t* end, const char* want, bool unit_address = false) {
  for (; *want != '\0'; ++s, ++want) {
    if (s >= end || *s != static_cast<uint8_t>(*want)) return false;
  }
  return s < end && (*s == '\0' || (unit_address && *s == '@'));
}

// The first /memory node's reg (two address cells, two size cells, as the
// packer writes them), or false. Every offset is checked against the
// blob's own size.
bool memory_from_dtb(const uint8_t* fdt, uint64_t& base, uint64_t& size) {
  constexpr uint32_t kMagic = 0xd00d'feed, kBeginNode = 1, kEndNode = 2, kProp = 3, kNop = 4;
  constexpr uint32_t kMaxSize = 1u << 20;
  if (be32(fdt) != kMagic) return false;
  const uint32_t total = be32(fdt + 4), off_struct = be32(fdt + 8), off_strings = be32(fdt + 12);
  if (total > kMaxSize || off_struct >= total || off_strings >= total) return false;
  const uint8_t* const end = fdt + total;
  const uint8_t* p = fdt + off_struct;
  int depth = 0;
  bool in_memory = false;
  while (p + 4 <= end) {
    const uint32_t token = be32(p);
    p += 4;
    if (token == kBeginNode) {
      const uint8_t* name = p;
      while (p < end && *p != '\0') ++p;
      if (p >= end) return false;
      ++depth;
      in_memory = depth == 2 && name_is(name, end, "memory", true);
      p = fdt + ((static_cast<uint64_t>(p - fdt) + 1 + 3) & ~uint64_t{3});
    } else if (token == kEndNode) {
      --depth;
      in_memory = false;
    } else if (token == kProp) {
      if (p + 8 > end) return false;
      const uint32_t len = be32(p), name_off = be32(p + 4);
      p += 8;
      if (len > static_cast<uint64_t>(end - p) || name_off >= total - off_strings) return false;
      if (in_memory && len == 16 && name_is(fdt + off_strings + name_off, end, "reg")) {
        base = be64(p);
        size = be64(p + 8);
        return true;
      }
      p = fdt + ((static_cast<uint64_t>(p - fdt) + len + 3) & ~uint64_t{3});
    } else if (token != kNop) {
      return false;  // FDT_END, or nonsense
    }
  }
  return false;
}

// ---- Sweeps ---------------------------------------------------------------

struct Sweep {
  uint64_t probed = 0;
  uint64_t readable = 0;
  uint64_t first_readable = 0;

  void probe(uint64_t ipa) {
    ++probed;
    if (refused(ipa)) return;
    if (readable++ == 0) first_readable = ipa;
  }
};

uint64_t elapsed_us(uint64_t since) { return (rt::read_counter() - since) * 1'000'000 / rt::counter_frequency(); }

class Prober final : public hyp::server::Server {
 public:
  void start(const hyp::ipc::ServerInfo& info, void*, size_t, bool) override {
    using hyp::ipc::kChannelIpa;
    using hyp::ipc::kChannelPages;
    using hyp::ipc::kChannelPageSize;
    check(info.device_memory_count == 0 && info.device_irq_count == 0, "prober_has_no_device", "%u regions %u irqs",
          info.device_memory_count, info.device_irq_count);

    uint64_t own_base = 0, own_size = 0;
    // The tree is in this server's own RAM (the packer puts it there).
    const bool own_known = g_dtb >= kRamBase && g_dtb % 8 == 0 &&
                           memory_from_dtb(reinterpret_cast<const uint8_t*>(g_dtb), own_base, own_size);
    check(own_known && own_base == kRamBase && own_size != 0 && own_size % kPage == 0, "own_ram_from_device_tree",
          "device tree at 0x%lx: base 0x%lx size 0x%lx", g_dtb, own_base, own_size);
    uint64_t ram_mib = 0;
    const bool ram_known =
        hyp::server::bootarg(info, "ram-mib", ram_mib) && ram_mib != 0 && kRamBase + (ram_mib << 20) <= kStage1End;
    check(ram_known, "machine_ram_from_command_line", "ram-mib=%lu (missing, or past what stage 1 maps)", ram_mib);
    if (!own_known || !ram_known) {
      guest::finish("prober");
      return;
    }
    own_end_ = own_base + own_size;
    ram_end_ = kRamBase + (ram_mib << 20);
    const uint64_t own_end = own_end_;

    check(refused(own_end), "ipa_above_own_ram_refused", "-");
    check(refused(kRamBase - kPage), "ipa_below_own_ram_refused", "-");
    // The PL011 belongs to the UART server (or to nobody): not to this one.
    check(refused(0x0900'0000), "physical_uart_refused", "-");
    check(write_refused(0x0900'0000), "physical_uart_write_refused", "-");
    check(refused(0x0800'0000), "gic_distributor_refused", "-");

    next_ = own_end_;
    ready_ = true;
  }

  // One step of the sweep, run when the keeper reads the step register: a
  // run of a server is short (the kernel's watchdog stops one that runs
  // for long without waiting), so the sweep goes in chunks of kChunk pages.
  // True once everything is done.
  bool step() {
    using hyp::ipc::kChannelIpa;
    using hyp::ipc::kChannelPages;
    using hyp::ipc::kChannelPageSize;
    if (!ready_ || done_sweeping_) return true;
    // Every page of physical RAM beyond this server's own window, as an
    // IPA: other partitions' RAM, every channel page (five per server) and
    // what the kernel allocated all lie somewhere in there. This server's
    // own channel pages are skipped if the machine's RAM reaches them.
    const uint64_t own_channel_end = kChannelIpa + kChannelPages * kChannelPageSize;
    constexpr uint64_t kChunk = 4096;
    const uint64_t t0 = rt::read_counter();
    for (uint64_t n = 0; n < kChunk && next_ < ram_end_; ++n, next_ += kPage) {
      if (next_ >= kChannelIpa && next_ < own_channel_end) continue;
      ram_.probe(next_);
    }
    sweep_us_ += elapsed_us(t0);
    if (next_ < ram_end_) return false;
    done_sweeping_ = true;
    const uint64_t us = sweep_us_;
    const Sweep& ram = ram_;
    hyp::server::log("swept 0x%lx-0x%lx: %lu pages in %lu ms (%lu ns each)", own_end_, ram_end_, ram.probed,
                     us / 1000, ram.probed != 0 ? us * 1000 / ram.probed : 0);
    check(ram.probed != 0 && ram.readable == 0, "physical_ram_refused",
          "%lu of %lu pages readable, the first at IPA 0x%lx", ram.readable, ram.probed, ram.first_readable);

    // The kernel's image lies physically inside this server's own RAM
    // window (a partition has at least 4 MiB), which is legitimately mapped
    // and cannot be probed with an abort: what is there must be this
    // server's own memory. No arm64 Image header ("ARM\x64" at offset 56);
    // and where the packer put this server's device tree (2 MiB below the
    // end of its RAM: the kernel's first page for 4 MiB), that tree.
    const auto* image = reinterpret_cast<const volatile uint32_t*>(kKernelImage);
    const bool tree_there =
        g_dtb != kKernelImage || be32(reinterpret_cast<const uint8_t*>(kKernelImage)) == 0xd00d'feed;
    check(image[56 / 4] != 0x644d'5241 && tree_there, "kernel_image_not_visible", "device tree at 0x%lx", g_dtb);

    // The channel region past this server's five pages: page by page to the
    // end of the 2 MiB block they lie in (where a wrongly placed page of
    // another channel would most likely land), then every 2 MiB up to 1 GiB
    // past the channel.
    Sweep channel;
    for (uint64_t ipa = own_channel_end; ipa < kChannelIpa + (2ull << 20); ipa += kPage) channel.probe(ipa);
    for (uint64_t ipa = kChannelIpa + (2ull << 20); ipa < kChannelIpa + (1ull << 30); ipa += 2ull << 20) {
      channel.probe(ipa);
    }
    check(channel.readable == 0, "past_channel_refused", "%lu of %lu pages readable, the first at IPA 0x%lx",
          channel.readable, channel.probed, channel.first_readable);
    guest::finish("prober");
    return true;
  }

  // The register the keeper reads until it says 1: each read is one step
  // of the sweep, so the keeper outlives the sweep.
  class Step final : public hyp::server::MmioDevice {
   public:
    explicit Step(Prober& prober) : prober_(prober) {}
    uint64_t window() const override { return 0x1000; }
    uint64_t read(uint64_t offset, unsigned) override { return offset == 0 && prober_.step() ? 1 : 0; }
    void write(uint64_t, unsigned, uint64_t) override {}
    void reset() override {}

   private:
    Prober& prober_;
  };

  hyp::server::MmioDevice* device(uint32_t index) override { return index == 0 ? &step_ : nullptr; }

 private:
  Step step_{*this};
  uint64_t own_end_ = 0;
  uint64_t ram_end_ = 0;
  uint64_t next_ = 0;
  uint64_t sweep_us_ = 0;
  Sweep ram_;
  bool ready_ = false;
  bool done_sweeping_ = false;
};

Prober g_prober;

}  // namespace

void partition_main(uint64_t dtb) {
  g_dtb = dtb;
  hyp::server::run(g_prober);
}
