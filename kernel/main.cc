// The kernel's boot sequence on the boot CPU and on the secondary CPUs.
#include <atomic>
#include <cstdint>

#include "base/addr.h"
#include "base/status.h"
#include "kernel/arch/cpu.h"
#include "kernel/arch/mm.h"
#include "kernel/arch/vcpu.h"
#include "kernel/boot/boot_info.h"
#include "kernel/boot/devices.h"
#include "kernel/boot/package.h"
#include "kernel/boot/smp.h"
#include "kernel/console.h"
#include "kernel/irq/gic.h"
#include "kernel/mm/page_pool.h"
#include "kernel/mm/page_table.h"
#include "kernel/mm/phys_alloc.h"
#include "kernel/partition/loader.h"
#include "kernel/partition/partition.h"
#include "kernel/psci/firmware.h"
#include "kernel/run.h"

extern "C" {
// From the linker script.
extern char __image_start[], __text_end[], __rodata_end[], __image_end[];
// From entry.S.
extern char secondary_entry[];
[[noreturn]] void kernel_boot(uint64_t dtb);
[[noreturn]] void kernel_secondary(uint64_t index);
}

namespace hyp {
namespace {

namespace mm = arch::mm;

constexpr size_t kTablePages = 128;
alignas(kPageSize) constinit uint64_t g_table_memory[kTablePages][kPageSize / sizeof(uint64_t)];

constinit PagePool g_table_pool;
constinit PageTable g_el2_table;
constinit const void* g_dtb = nullptr;
constinit BootInfo g_boot_info;
constinit CpuTable g_cpus;
constinit CpuOnlineFlags g_online;
constinit Package g_package;
constinit PhysAllocator g_phys;
constinit std::array<Partition, kMaxPartitions> g_partitions;

Pa pa_of(const void* p) { return Pa(reinterpret_cast<uintptr_t>(p)); }

// Maps the page-aligned extent of [start, end) identically.
Status map_identity(uint64_t start, uint64_t end, mm::Attrs attrs) {
  const uint64_t base = align_down(start, kPageSize);
  return g_el2_table.map(base, Pa(base), align_up(end, kPageSize) - base, attrs);
}

// With the MMU off: builds the tables for the kernel image (text RX, rodata
// R, data and bss RW) and the device tree (R), then turns translation on.
// Nothing can be printed yet; failure parks the CPU.
void enable_boot_translation(uint64_t dtb) {
  g_table_pool.add(pa_of(g_table_memory), kTablePages);
  auto table = PageTable::create(g_table_pool, mm::Regime::kEl2);
  if (!table.ok()) arch::halt();
  g_el2_table = *table;
  const auto image = reinterpret_cast<uint64_t>(__image_start);
  const auto text_end = reinterpret_cast<uint64_t>(__text_end);
  const auto rodata_end = reinterpret_cast<uint64_t>(__rodata_end);
  const auto image_end = reinterpret_cast<uint64_t>(__image_end);
  const size_t dtb_size = dtb_total_size(reinterpret_cast<const void*>(dtb));
  if (dtb_size == 0 || dtb_size > kMaxDtbSize || (dtb & 7) != 0) arch::halt();
  constexpr mm::Attrs kText{.type = mm::MemType::kNormal, .read = true, .write = false, .exec = true};
  constexpr mm::Attrs kReadOnly{.type = mm::MemType::kNormal, .read = true, .write = false, .exec = false};
  constexpr mm::Attrs kReadWrite{.type = mm::MemType::kNormal, .read = true, .write = true, .exec = false};
  if (map_identity(image, text_end, kText) != Status::kOk ||
      map_identity(text_end, rodata_end, kReadOnly) != Status::kOk ||
      map_identity(rodata_end, image_end, kReadWrite) != Status::kOk ||
      map_identity(dtb, dtb + dtb_size, kReadOnly) != Status::kOk) {
    arch::halt();
  }
  mm::enable_translation(g_el2_table.root());
}

void map_devices_or_halt() {
  constexpr mm::Attrs kDevice{.type = mm::MemType::kDevice, .read = true, .write = true, .exec = false};
  const MemRange devices[] = {
      {g_boot_info.uart.base, kPageSize},
      g_boot_info.gic_dist,
      g_boot_info.gic_redist,
  };
  for (const MemRange& d : devices) {
    if (map_identity(d.base.value(), d.end(), kDevice) != Status::kOk) arch::halt();
  }
}

// Polls of a GIC handshake (RWP, ChildrenAsleep) before giving up.
constexpr uint32_t kGicSpins = 1u << 20;

// This CPU's redistributor and CPU interface, for the kernel's wake-ups.
void init_cpu_interrupts_or_halt(uint64_t index) {
  const MemRange& r = g_boot_info.gic_redist;
  if (gic::init_redistributor(r.base, r.size, arch::current_mpidr(), kGicSpins) != Status::kOk) {
    console::print("hyp: CPU %lu (MPIDR 0x%lx): no redistributor answers\n", index, arch::current_mpidr());
    arch::halt();
  }
  arch::irq_cpu_interface_init();
}

void print_banner() {
  const BootInfo& info = g_boot_info;
  console::print("\nhyp: EL2 microkernel starting\n");
  console::print("hyp: image 0x%lx-0x%lx\n", reinterpret_cast<uint64_t>(__image_start),
                 reinterpret_cast<uint64_t>(__image_end));
  for (size_t i = 0; i < info.ram_count; ++i) {
    console::print("hyp: RAM 0x%010lx-0x%010lx (%lu MiB)\n", info.ram[i].base.value(), info.ram[i].end(),
                   info.ram[i].size >> 20);
  }
  console::print("hyp: %zu CPUs in the device tree", info.cpu_count + info.cpus_ignored);
  if (info.cpus_ignored != 0) console::print(" (%zu beyond the supported %zu ignored)", info.cpus_ignored, kMaxCpus);
  console::print("\n");
  console::print("hyp: GICv3 distributor 0x%lx, redistributors 0x%lx-0x%lx\n", info.gic_dist.base.value(),
                 info.gic_redist.base.value(), info.gic_redist.end());
  console::print("hyp: UART PL011 at 0x%lx\n", info.uart.base.value());
  const psci::Version v = psci::firmware_version();
  console::print("hyp: PSCI %u.%u via SMC\n", v.major, v.minor);
  if (info.bootargs[0] != '\0') console::print("hyp: command line \"%s\"\n", info.bootargs.data());
}

// hyp.fault_test on the command line: take a data abort at EL2 on purpose,
// so that tests can check the exception report.
void maybe_fault_test() {
  if (!bootargs_has(g_boot_info.bootargs.data(), "hyp.fault_test")) return;
  console::print("hyp: fault test: reading an unmapped address\n");
  volatile auto* unmapped = reinterpret_cast<volatile uint64_t*>(0x7f'dead'0000);
  (void)*unmapped;
}

void bring_up_secondaries() {
  const uint64_t timeout = arch::counter_frequency();  // one second each
  const auto reports = start_secondaries(g_cpus, pa_of(secondary_entry), g_online, timeout);
  size_t online = 1;
  for (size_t i = 1; i < g_cpus.count; ++i) {
    switch (reports[i].outcome) {
      case StartOutcome::kOnline:
        ++online;
        break;
      case StartOutcome::kFirmwareError:
        console::print("hyp: CPU %zu (MPIDR 0x%lx) failed to start: PSCI %s\n", i, g_cpus.mpidr[i],
                       psci::ret_name(reports[i].ret));
        break;
      case StartOutcome::kTimedOut:
        console::print("hyp: CPU %zu (MPIDR 0x%lx) did not report in\n", i, g_cpus.mpidr[i]);
        break;
      case StartOutcome::kNotStarted:
        break;
    }
  }
  console::print("hyp: %zu of %zu CPUs online\n", online, g_cpus.count);
}

[[noreturn]] void power_off(const char* why) {
  console::print("hyp: %s: powering off\n", why);
  const psci::Ret ret = psci::system_off();
  console::print("hyp: SYSTEM_OFF failed: %s\n", psci::ret_name(ret));
  arch::halt();
}

// A server's devices (docs/servers.md, "Devices"): whole devices of the
// machine, mapped into its Stage 2 alone (parse_package() saw to it that no
// two servers share one).
void grant_devices_or_power_off(Partition& p, const PackagedPartition& image) {
  const char* why = "";
  if (check_device_access(g_boot_info, image, why) != Status::kOk) {
    console::print("hyp: server %s cannot be given its devices: %s\n", p.name.data(), why);
    power_off("a server asks for a device it cannot have");
  }
  for (size_t i = 0; i < image.device_region_count; ++i) {
    if (grant_device_memory(p, image.device_regions[i].base, image.device_regions[i].size) != Status::kOk) {
      power_off("cannot map a server's device");
    }
  }
}

// Reads the boot package, builds every partition in it, and starts them:
// guest vCPUs are spread over the online CPUs; servers run where they are
// needed.
[[noreturn]] void start_partitions() {
  const MemRange& range = g_boot_info.package;
  // Whoever loaded the package (QEMU's -initrd, or a loader under firmware)
  // knew only the image's file, not its BSS and tables.
  if (range.base.value() < reinterpret_cast<uint64_t>(__image_end) &&
      reinterpret_cast<uint64_t>(__image_start) < range.end()) {
    power_off("the boot package overlaps the hypervisor's image");
  }
  constexpr mm::Attrs kReadOnly{.type = mm::MemType::kNormal, .read = true, .write = false, .exec = false};
  if (map_identity(range.base.value(), range.end(), kReadOnly) != Status::kOk) {
    power_off("cannot map the boot package");
  }
  DtbError error;
  if (parse_package_into(reinterpret_cast<const void*>(range.base.value()), range.size, g_package, error) !=
      Status::kOk) {
    console::print("hyp: boot package rejected: %s\n", error.what);
    power_off("nothing to run");
  }

  for (size_t i = 0; i < g_boot_info.ram_count; ++i) {
    (void)g_phys.add(g_boot_info.ram[i].base, g_boot_info.ram[i].size);
  }
  // What is in use already: QEMU's boot stub below the kernel and the kernel
  // itself, the device tree, and the package.
  constexpr uint64_t k2M = 2ull << 20;
  const auto image = reinterpret_cast<uint64_t>(__image_start);
  const auto image_end = reinterpret_cast<uint64_t>(__image_end);
  const auto dtb = reinterpret_cast<uint64_t>(g_dtb);
  (void)g_phys.reserve(Pa(align_down(image, k2M)), image_end - align_down(image, k2M));
  (void)g_phys.reserve(Pa(align_down(dtb, kPageSize)), align_up(dtb_total_size(g_dtb), kPageSize) + kPageSize);
  (void)g_phys.reserve(Pa(align_down(range.base.value(), kPageSize)), align_up(range.size, kPageSize) + kPageSize);

  LoaderEnv env{g_table_pool, g_phys, g_el2_table};
  for (size_t i = 0; i < g_package.count; ++i) {
    const PackagedPartition& image_i = g_package.partitions[i];
    const char* why = "";
    if (const Status st = create_partition(image_i, static_cast<uint16_t>(i + 1), g_partitions[i], env, why);
        st != Status::kOk) {
      console::print("hyp: partition %s: %s (status %d)\n", image_i.name.data(), why, static_cast<int>(st));
      power_off("a partition could not be built");
    }
    Partition& p = g_partitions[i];
    if (p.kind == PartitionKind::kServer) {
      grant_devices_or_power_off(p, image_i);
      console::print("hyp: server %s (id %u): %lu MiB at IPA 0x%lx (PA 0x%lx)%s\n", p.name.data(), p.id,
                     p.memory[0].size >> 20, p.memory[0].ipa.value(), p.memory[0].pa.value(),
                     image_i.has_device_at(g_boot_info.uart.base) ? ", owns the UART" : "");
      continue;
    }
    for (size_t j = 0; j < image_i.route_count; ++j) {
      const PackageRoute& r = image_i.routes[j];
      p.routes[j] = {r.ipa, r.size, &g_partitions[r.server], r.device, r.irq, r.irqchip};
    }
    p.route_count = image_i.route_count;
  }
  std::array<bool, kMaxCpus> online{};
  online[0] = true;
  for (size_t i = 1; i < g_cpus.count; ++i) online[i] = g_online.online[i].load(std::memory_order_acquire);
  Partition* failed = nullptr;
  run_set_console_uart(g_boot_info.uart.base);
  if (run_init(g_partitions.data(), g_package.count, &g_package, env, g_cpus.mpidr.data(), online.data(), g_cpus.count,
               failed) != Status::kOk) {
    console::print("hyp: partition %s: no channel, or a memory grant refused\n", failed->name.data());
    power_off("a partition could not be set up");
  }
  for (size_t i = 0; i < g_package.count; ++i) {
    const Partition& p = g_partitions[i];
    if (p.kind != PartitionKind::kGuest) continue;
    console::print("hyp: partition %s (id %u): %zu vCPUs, %lu MiB at IPA 0x%lx (PA 0x%lx), on CPU", p.name.data(), p.id,
                   p.vcpu_count, p.memory[0].size >> 20, p.memory[0].ipa.value(), p.memory[0].pa.value());
    for (size_t j = 0; j < p.vcpu_count; ++j) console::print("%s%zu", j == 0 ? " " : ",", home_of(p.vcpus[j]));
    console::print("\n");
  }
  // Devices' interrupts for the servers that own them, taken by CPU 0.
  run_set_interrupt_controller(g_boot_info.gic_dist.base);
  run_print_bench_report(bootargs_has(g_boot_info.bootargs.data(), "hyp.bench"));
  run_trap_every_wfi(bootargs_has(g_boot_info.bootargs.data(), "hyp.trapwfi"));
  run_trace_from_boot(bootargs_has(g_boot_info.bootargs.data(), "hyp.trace"));
  for (size_t i = 0; i < g_package.count; ++i) {
    for (size_t j = 0; j < g_package.partitions[i].device_irq_count; ++j) {
      const uint32_t irq = g_package.partitions[i].device_irqs[j];
      if (gic::enable_spi(g_boot_info.gic_dist.base, irq, g_cpus.mpidr[0]) != Status::kOk) {
        console::print("hyp: server %s: device interrupt %u refused\n", g_partitions[i].name.data(), irq);
      }
    }
  }
  run_start(0);
  cpu_loop(0);
}

}  // namespace
}  // namespace hyp

extern "C" [[noreturn]] void kernel_boot(uint64_t dtb) {
  using namespace hyp;
  enable_boot_translation(dtb);
  g_dtb = reinterpret_cast<const void*>(dtb);

  DtbError error;
  auto info = parse_boot_dtb(reinterpret_cast<const void*>(dtb), dtb_total_size(reinterpret_cast<const void*>(dtb)),
                             error);
  // Without a valid tree there is no known console: park.
  if (!info.ok()) arch::halt();
  g_boot_info = *info;
  map_devices_or_halt();
  arch::el2_controls_init();
  console::init(g_boot_info.uart.base);
  print_banner();
  maybe_fault_test();

  auto cpus = make_cpu_table(g_boot_info, arch::current_mpidr());
  if (!cpus.ok()) {
    console::print("hyp: boot CPU MPIDR 0x%lx is not in the device tree\n", arch::current_mpidr());
    arch::halt();
  }
  g_cpus = *cpus;
  console::print("hyp: CPU 0 (MPIDR 0x%lx) online at EL2\n", g_cpus.mpidr[0]);
  if (gic::init_distributor(g_boot_info.gic_dist.base, kGicSpins) != Status::kOk) {
    console::print("hyp: the GIC distributor does not settle\n");
    arch::halt();
  }
  init_cpu_interrupts_or_halt(0);
  if (g_boot_info.psci == PsciConduit::kSmc) {
    bring_up_secondaries();
  } else {
    console::print("hyp: PSCI is not reachable by SMC: running on the boot CPU only\n");
  }

  if (g_boot_info.package.size != 0) start_partitions();
  power_off("no Linux guest exists yet (no boot package): nothing to run");
}

extern "C" [[noreturn]] void kernel_secondary(uint64_t index) {
  using namespace hyp;
  mm::enable_translation(g_el2_table.root());
  arch::el2_controls_init();
  init_cpu_interrupts_or_halt(index);
  console::print("hyp: CPU %lu (MPIDR 0x%lx) online at EL2\n", index, arch::current_mpidr());
  // Pairs with the acquire load in start_secondaries().
  g_online.online[index].store(true, std::memory_order_release);
  cpu_loop(index);
}
