#include "kernel/boot/package.h"

#include <gtest/gtest.h>
#include <libfdt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "tools/pack/pack.h"

namespace hyp {
namespace {

using tools::GuestLayout;
using tools::Manifest;
using tools::VmSpec;

// A minimal arm64 Image: header with the magic, text_offset and image_size.
std::string fake_image(uint64_t text_offset, uint64_t image_size, size_t file_size) {
  std::string img(file_size, '\x5a');
  for (int i = 0; i < 8; ++i) {
    img[8 + static_cast<size_t>(i)] = static_cast<char>(text_offset >> (8 * i));
    img[16 + static_cast<size_t>(i)] = static_cast<char>(image_size >> (8 * i));
  }
  std::memcpy(img.data() + 56, "ARM\x64", 4);
  return img;
}

std::string write_temp(const std::string& name, const std::string& content) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

class PackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VmSpec vm;
    vm.name = "guest0";
    vm.vcpus = 2;
    vm.memory = 64ull << 20;
    vm.kernel = write_temp("image", fake_image(0, 0x30000, 0x20000));
    vm.initrd = write_temp("initrd", std::string(5000, 'i'));
    vm.bootargs = "console=hvc0 quiet";
    manifest_.vms.push_back(vm);
  }

  // The package, 8-byte aligned like anything QEMU loads, with room to grow.
  std::string build() {
    auto pkg = tools::build_package(manifest_);
    EXPECT_TRUE(pkg.ok()) << pkg.status();
    std::string s = pkg.ok() ? *pkg : std::string();
    s.resize(s.size() + 4096);
    return s;
  }

  Manifest manifest_;
};

TEST_F(PackageTest, RoundTripsEveryPartitionField) {
  std::string blob = build();
  DtbError error;
  auto pkg = parse_package(blob.data(), blob.size(), error);
  ASSERT_TRUE(pkg.ok()) << error.what;
  ASSERT_EQ(pkg->count, 1u);
  const PackagedPartition& p = pkg->partitions[0];
  EXPECT_STREQ(p.name.data(), "guest0");
  EXPECT_EQ(p.vcpus, 2u);
  EXPECT_EQ(p.ram_ipa, Ipa(0x4000'0000));
  EXPECT_EQ(p.ram_size, 64ull << 20);
  EXPECT_EQ(p.entry, Ipa(0x4000'0000));  // text_offset 0
  EXPECT_EQ(p.dtb, Ipa(0x4000'0000 + (62ull << 20)));
  ASSERT_EQ(p.load_count, 3u);
  EXPECT_EQ(p.loads[0].ipa, p.entry);
  EXPECT_EQ(p.loads[0].size, 0x20000u);
  EXPECT_EQ(p.loads[1].ipa, p.dtb);
  EXPECT_EQ(p.loads[2].size, 5000u);
  EXPECT_EQ(p.loads[2].ipa.value() % 4096, 0u);
  EXPECT_LE(p.loads[2].ipa.value() + 5000, p.dtb.value());
  EXPECT_EQ(p.loads[2].data[0], 'i');
}

TEST_F(PackageTest, GuestDeviceTreeDescribesThePartition) {
  std::string blob = build();
  DtbError error;
  auto pkg = parse_package(blob.data(), blob.size(), error);
  ASSERT_TRUE(pkg.ok());
  const PackageLoad& dtb_load = pkg->partitions[0].loads[1];
  std::string dtb(reinterpret_cast<const char*>(dtb_load.data), dtb_load.size);
  const void* fdt = dtb.data();
  ASSERT_EQ(fdt_check_full(fdt, dtb.size()), 0);
  int len = 0;
  const int mem = fdt_path_offset(fdt, "/memory@40000000");
  ASSERT_GE(mem, 0);
  const auto* reg = static_cast<const fdt32_t*>(fdt_getprop(fdt, mem, "reg", &len));
  ASSERT_EQ(len, 16);
  EXPECT_EQ(fdt32_ld(&reg[3]), 64u << 20);
  EXPECT_GE(fdt_path_offset(fdt, "/cpus/cpu@1"), 0);
  EXPECT_LT(fdt_path_offset(fdt, "/cpus/cpu@2"), 0);
  EXPECT_STREQ(static_cast<const char*>(fdt_getprop(fdt, fdt_path_offset(fdt, "/psci"), "method", nullptr)), "hvc");
  const int chosen = fdt_path_offset(fdt, "/chosen");
  EXPECT_STREQ(static_cast<const char*>(fdt_getprop(fdt, chosen, "bootargs", nullptr)), "console=hvc0 quiet");
  // One cell below 4 GiB, as QEMU's -initrd writes it.
  const auto* start = static_cast<const fdt32_t*>(fdt_getprop(fdt, chosen, "linux,initrd-start", &len));
  ASSERT_EQ(len, 4);
  EXPECT_EQ(fdt32_ld(start), pkg->partitions[0].loads[2].ipa.value());
  const auto* end = static_cast<const fdt32_t*>(fdt_getprop(fdt, chosen, "linux,initrd-end", &len));
  ASSERT_EQ(len, 4);
  EXPECT_EQ(fdt32_ld(end), pkg->partitions[0].loads[2].ipa.value() + pkg->partitions[0].loads[2].size);
}

TEST(PlaceGuest, FollowsTheArm64ImageHeader) {
  auto modern = tools::place_guest(fake_image(0x80000, 0x100000, 0x1000), 0x4000'0000, 32ull << 20, 0);
  ASSERT_TRUE(modern.ok());
  EXPECT_EQ(modern->kernel_ipa, 0x4008'0000u);
  // image_size 0: a pre-3.17 kernel, text_offset is 0x80000 whatever it says.
  auto old = tools::place_guest(fake_image(0, 0, 0x1000), 0x4000'0000, 32ull << 20, 0);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->kernel_ipa, 0x4008'0000u);
  EXPECT_FALSE(tools::place_guest(std::string(100, 'x'), 0x4000'0000, 32ull << 20, 0).ok()) << "no magic";
  EXPECT_FALSE(tools::place_guest(fake_image(0, 31ull << 20, 0x1000), 0x4000'0000, 32ull << 20, 0).ok())
      << "kernel and dtb do not fit";
  EXPECT_FALSE(tools::place_guest(fake_image(0, 0x1000, 0x1000), 0x4000'0000, 32ull << 20, 30ull << 20).ok())
      << "initrd does not fit";
  EXPECT_FALSE(tools::place_guest(fake_image(0, 0x1000, 0x1000), 0x4000'0000, 33ull << 20, 0).ok())
      << "RAM size not 2 MiB aligned";
}

TEST_F(PackageTest, PackerRejectsBadSpecs) {
  Manifest m = manifest_;
  m.vms[0].vcpus = 9;
  EXPECT_FALSE(tools::build_package(m).ok());
  m = manifest_;
  m.vms[0].name = "Has Space";
  EXPECT_FALSE(tools::build_package(m).ok());
  m = manifest_;
  m.vms[0].kernel = "/nonexistent";
  EXPECT_FALSE(tools::build_package(m).ok());
}

// Applies `edit` to a writable copy of the package and parses it.
template <typename Edit>
DtbError parse_edited(std::string blob, Edit edit) {
  void* fdt = blob.data();
  EXPECT_EQ(fdt_open_into(fdt, fdt, static_cast<int>(blob.size())), 0);
  edit(fdt, fdt_path_offset(fdt, "/partitions/guest0"));
  DtbError error;
  EXPECT_FALSE(parse_package(fdt, blob.size(), error).ok());
  return error;
}

TEST_F(PackageTest, KernelRejectsPackagesThatReachOutsideTheirMemory) {
  const std::string blob = build();
  EXPECT_STREQ(parse_edited(blob,
                            [](void* fdt, int node) {
                              fdt_setprop_u64(fdt, fdt_subnode_offset(fdt, node, "load-0"), "ipa", 0x4000'0000 + (64ull << 20) - 16);
                            })
                   .what,
               "load outside its memory");
  EXPECT_STREQ(parse_edited(blob, [](void* fdt, int node) { fdt_setprop_u64(fdt, node, "entry", 0x3fff'f000); }).what,
               "partition entry or dtb outside its memory");
  EXPECT_STREQ(parse_edited(blob, [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "vcpus", 0); }).what,
               "partition vcpus out of range");
  EXPECT_STREQ(parse_edited(blob,
                            [](void* fdt, int node) {
                              const fdt32_t mem[4] = {cpu_to_fdt32(0), cpu_to_fdt32(0x4000'1000), 0,
                                                      cpu_to_fdt32(64u << 20)};
                              fdt_setprop(fdt, node, "memory", mem, sizeof(mem));
                            })
                   .what,
               "partition memory not 2 MiB aligned or outside the IPA space");
  EXPECT_STREQ(parse_edited(blob,
                            [](void* fdt, int node) {
                              const fdt32_t mem[4] = {cpu_to_fdt32(0x100), 0, 0, cpu_to_fdt32(64u << 20)};  // at 1 TiB
                              fdt_setprop(fdt, node, "memory", mem, sizeof(mem));
                            })
                   .what,
               "partition memory not 2 MiB aligned or outside the IPA space");
  EXPECT_STREQ(parse_edited(blob,
                            [](void* fdt, int node) {
                              fdt_setprop_u64(fdt, fdt_subnode_offset(fdt, node, "load-2"), "ipa", 0x4000'0000 + 4096);
                            })
                   .what,
               "loads overlap");
  EXPECT_STREQ(parse_edited(blob, [](void* fdt, int node) { fdt_setprop_string(fdt, node, "kind", "daemon"); }).what,
               "partition kind is neither guest nor server");
}

// A guest with a PL011 served by a server that owns the physical UART.
class ServerPackageTest : public PackageTest {
 protected:
  void SetUp() override {
    PackageTest::SetUp();
    manifest_.vms[0].control = true;
    manifest_.vms[0].devices.push_back({"console", "uart", "pl011", 0x0900'0000, 0});
    VmSpec server;
    server.name = "uart";
    server.server = true;
    server.memory = 4ull << 20;
    server.kernel = write_temp("server", fake_image(0, 0x8000, 0x8000));
    server.bootargs = "crash-every=5";
    server.device_memory = {{0x0900'0000, 0x1000}};
    server.device_irqs = {33};
    server.dma_pool = 64 << 10;
    manifest_.vms.push_back(server);
  }
};

TEST_F(ServerPackageTest, RoutesServersAndTheirPropertiesRoundTrip) {
  std::string blob = build();
  DtbError error;
  auto pkg = parse_package(blob.data(), blob.size(), error);
  ASSERT_TRUE(pkg.ok()) << error.what;
  ASSERT_EQ(pkg->count, 2u);
  const PackagedPartition& guest = pkg->partitions[0];
  const PackagedPartition& server = pkg->partitions[1];
  EXPECT_EQ(guest.kind, PackagedKind::kGuest);
  EXPECT_TRUE(guest.control);
  ASSERT_EQ(guest.route_count, 1u);
  EXPECT_EQ(guest.routes[0].ipa, Ipa(0x0900'0000));
  EXPECT_EQ(guest.routes[0].size, 0x1000u);
  EXPECT_EQ(guest.routes[0].server, 1u);
  EXPECT_EQ(guest.routes[0].device, 0u);
  EXPECT_EQ(guest.control_targets, 0b10u) << "control; alone: every server";
  EXPECT_EQ(server.kind, PackagedKind::kServer);
  EXPECT_FALSE(server.control);
  EXPECT_FALSE(server.stopped);
  ASSERT_EQ(server.device_region_count, 1u);
  EXPECT_EQ(server.device_regions[0].base, Pa(0x0900'0000));
  EXPECT_EQ(server.device_regions[0].size, 0x1000u);
  ASSERT_EQ(server.device_irq_count, 1u);
  EXPECT_EQ(server.device_irqs[0], 33u);
  EXPECT_STREQ(server.bootargs.data(), "crash-every=5");
  EXPECT_EQ(server.dma_pool_size, 64u << 10);
  EXPECT_EQ(guest.dma_pool_size, 0u);
  // The guest's device tree has the PL011, as its stdout.
  const PackageLoad& dtb_load = guest.loads[1];
  std::string dtb(reinterpret_cast<const char*>(dtb_load.data), dtb_load.size);
  const int uart = fdt_path_offset(dtb.data(), "/pl011@9000000");
  ASSERT_GE(uart, 0);
  EXPECT_EQ(fdt_node_check_compatible(dtb.data(), uart, "arm,pl011"), 0);
  EXPECT_EQ(fdt_node_check_compatible(dtb.data(), uart, "arm,primecell"), 0);
  EXPECT_STREQ(static_cast<const char*>(fdt_getprop(dtb.data(), fdt_path_offset(dtb.data(), "/chosen"), "stdout-path",
                                                    nullptr)),
               "/pl011@9000000");
}

// A virtio-mmio transport: a page routed to its server, the SPI QEMU's virt
// gives the transport at that address, and a node Linux's virtio_mmio
// driver binds to, with the transport's 0x200 bytes and a level-high
// interrupt. Nowhere else.
TEST_F(ServerPackageTest, ControlRightsNameServersAndAServerMayStartStopped) {
  VmSpec second = manifest_.vms[1];
  second.name = "rtc";
  second.device_memory = {};
  second.device_irqs = {};
  second.dma_pool = 0;
  second.stopped = true;
  manifest_.vms.push_back(second);
  manifest_.vms[0].control_targets = {"rtc"};
  manifest_.vms[1].control = true;
  manifest_.vms[1].control_targets = {"rtc", "uart"};
  std::string blob = build();
  DtbError error;
  auto pkg = parse_package(blob.data(), blob.size(), error);
  ASSERT_TRUE(pkg.ok()) << error.what;
  ASSERT_EQ(pkg->count, 3u);
  EXPECT_TRUE(pkg->partitions[0].control);
  EXPECT_EQ(pkg->partitions[0].control_targets, 0b100u);
  EXPECT_TRUE(pkg->partitions[1].control) << "a server may have the right";
  EXPECT_EQ(pkg->partitions[1].control_targets, 0b110u);
  EXPECT_FALSE(pkg->partitions[2].control);
  EXPECT_FALSE(pkg->partitions[1].stopped);
  EXPECT_TRUE(pkg->partitions[2].stopped);

  manifest_.vms[0].control_targets = {"guest0"};
  EXPECT_FALSE(tools::build_package(manifest_).ok()) << "a guest is no server";
  manifest_.vms[0].control_targets = {"nobody"};
  EXPECT_FALSE(tools::build_package(manifest_).ok());
  manifest_.vms[0].control_targets = {"rtc", "rtc"};
  EXPECT_FALSE(tools::build_package(manifest_).ok());
}

TEST_F(ServerPackageTest, APl031IsRoutedAndDescribedWhereQemuHasItsRtc) {
  manifest_.vms[0].devices.push_back({"rtc", "uart", "pl031", 0x0901'0000, 1});
  std::string blob = build();
  DtbError error;
  auto pkg = parse_package(blob.data(), blob.size(), error);
  ASSERT_TRUE(pkg.ok()) << error.what;
  const PackagedPartition& guest = pkg->partitions[0];
  ASSERT_EQ(guest.route_count, 2u);
  EXPECT_EQ(guest.routes[1].ipa, Ipa(0x0901'0000));
  EXPECT_EQ(guest.routes[1].size, 0x1000u);
  EXPECT_EQ(guest.routes[1].irq, 34u) << "QEMU virt's RTC: SPI 2";
  const std::string dtb(reinterpret_cast<const char*>(guest.loads[1].data), guest.loads[1].size);
  const int node = fdt_path_offset(dtb.data(), "/pl031@9010000");
  ASSERT_GE(node, 0);
  EXPECT_EQ(fdt_node_check_compatible(dtb.data(), node, "arm,pl031"), 0);
  EXPECT_EQ(fdt_node_check_compatible(dtb.data(), node, "arm,primecell"), 0);
  int len = 0;
  const auto* irq = static_cast<const fdt32_t*>(fdt_getprop(dtb.data(), node, "interrupts", &len));
  ASSERT_EQ(len, 12);
  EXPECT_EQ(fdt32_ld(&irq[1]), 2u);
  const auto* clocks = static_cast<const fdt32_t*>(fdt_getprop(dtb.data(), node, "clocks", &len));
  ASSERT_EQ(len, 4);
  EXPECT_GE(fdt_node_offset_by_phandle(dtb.data(), fdt32_ld(&clocks[0])), 0) << "the bus clock is there";
  // A second PL011 would take SPI 2 too.
  manifest_.vms[0].devices.push_back({"serial2", "uart", "pl011", 0x0902'0000, 2});
  EXPECT_FALSE(tools::build_package(manifest_).ok());
}

TEST_F(ServerPackageTest, AVirtioMmioDeviceIsRoutedAndDescribed) {
  manifest_.vms[0].devices.push_back({"rng", "uart", "virtio-mmio", 0x0a00'1000, 1});
  manifest_.vms[0].devices.push_back({"blk", "uart", "virtio-mmio", 0x0a00'0000, 2});
  std::string blob = build();
  DtbError error;
  auto pkg = parse_package(blob.data(), blob.size(), error);
  ASSERT_TRUE(pkg.ok()) << error.what;
  const PackagedPartition& guest = pkg->partitions[0];
  ASSERT_EQ(guest.route_count, 3u);
  EXPECT_EQ(guest.routes[1].ipa, Ipa(0x0a00'1000));
  EXPECT_EQ(guest.routes[1].size, 0x1000u);
  EXPECT_EQ(guest.routes[1].device, 1u);
  EXPECT_EQ(guest.routes[1].irq, 56u) << "QEMU virt's transport 8";
  EXPECT_EQ(guest.routes[2].irq, 48u) << "transport 0";
  EXPECT_EQ(guest.routes[0].irq, 33u) << "the PL011 keeps its SPI";
  const std::string dtb(reinterpret_cast<const char*>(guest.loads[1].data), guest.loads[1].size);
  const int node = fdt_path_offset(dtb.data(), "/virtio_mmio@a001000");
  ASSERT_GE(node, 0);
  EXPECT_EQ(fdt_node_check_compatible(dtb.data(), node, "virtio,mmio"), 0);
  int len = 0;
  const auto* reg = static_cast<const fdt32_t*>(fdt_getprop(dtb.data(), node, "reg", &len));
  ASSERT_EQ(len, 16);
  EXPECT_EQ(fdt32_ld(&reg[1]), 0x0a00'1000u);
  EXPECT_EQ(fdt32_ld(&reg[3]), 0x200u);
  const auto* irq = static_cast<const fdt32_t*>(fdt_getprop(dtb.data(), node, "interrupts", &len));
  ASSERT_EQ(len, 12);
  EXPECT_EQ(fdt32_ld(&irq[0]), 0u);
  EXPECT_EQ(fdt32_ld(&irq[1]), 24u);
  EXPECT_EQ(fdt32_ld(&irq[2]), 4u) << "level high";
  EXPECT_NE(fdt_getprop(dtb.data(), node, "dma-coherent", nullptr), nullptr);
  manifest_.vms[0].devices.push_back({"far", "uart", "virtio-mmio", 0x0c00'0000, 3});
  EXPECT_FALSE(tools::build_package(manifest_).ok()) << "off QEMU's virtio-mmio pages";
}

// Applies `edit` to partition `name` of a writable copy and parses it.
template <typename Edit>
std::string rejected(std::string blob, const char* name, Edit edit) {
  void* fdt = blob.data();
  EXPECT_EQ(fdt_open_into(fdt, fdt, static_cast<int>(blob.size())), 0);
  edit(fdt, fdt_path_offset(fdt, (std::string("/partitions/") + name).c_str()));
  DtbError error;
  EXPECT_FALSE(parse_package(fdt, blob.size(), error).ok());
  return error.what != nullptr ? error.what : "";
}

TEST_F(ServerPackageTest, KernelRejectsRoutesAndRightsThatDoNotFit) {
  const std::string blob = build();
  auto route = [](void* fdt, int node) { return fdt_subnode_offset(fdt, node, "route-0"); };
  EXPECT_EQ(rejected(blob, "guest0", [&](void* fdt, int node) { fdt_setprop_u32(fdt, route(fdt, node), "server", 0); }),
            "route to something that is not a server");
  EXPECT_EQ(rejected(blob, "guest0", [&](void* fdt, int node) { fdt_setprop_u32(fdt, route(fdt, node), "server", 7); }),
            "route to something that is not a server");
  EXPECT_EQ(rejected(blob, "guest0",
                     [&](void* fdt, int node) { fdt_setprop_u64(fdt, route(fdt, node), "ipa", 0x4000'0000); }),
            "route not page-aligned, outside the IPA space or over RAM");
  EXPECT_EQ(rejected(blob, "guest0",
                     [&](void* fdt, int node) { fdt_setprop_u64(fdt, route(fdt, node), "ipa", 0x0900'0010); }),
            "route not page-aligned, outside the IPA space or over RAM");
  EXPECT_EQ(rejected(blob, "guest0", [&](void* fdt, int node) { fdt_setprop_u32(fdt, route(fdt, node), "device", 4); }),
            "route device out of range");
  EXPECT_EQ(rejected(blob, "guest0",
                     [&](void* fdt, int node) {
                       const int second = fdt_add_subnode(fdt, node, "route-1");
                       fdt_setprop_u64(fdt, second, "ipa", 0x0a00'0000);
                       fdt_setprop_u64(fdt, second, "size", 0x1000);
                       fdt_setprop_u32(fdt, second, "server", 1);
                       fdt_setprop_u32(fdt, second, "device", 0);
                     }),
            "server device routed twice");
  auto control = [](std::vector<uint32_t> targets) {
    return [targets](void* fdt, int node) {
      std::vector<fdt32_t> cells;
      for (uint32_t t : targets) cells.push_back(cpu_to_fdt32(t));
      fdt_setprop(fdt, node, "control", cells.data(), static_cast<int>(cells.size() * 4));
    };
  };
  EXPECT_EQ(rejected(blob, "uart", control({0})), "control names a guest");
  EXPECT_EQ(rejected(blob, "guest0", control({1, 0})), "control names a guest");
  EXPECT_EQ(rejected(blob, "guest0", control({2})), "control names a guest") << "no partition 2";
  EXPECT_EQ(rejected(blob, "guest0", control({8})), "control names no partition");
  EXPECT_EQ(rejected(blob, "guest0", control({1, 1})), "control names a server twice");
  EXPECT_EQ(rejected(blob, "guest0", control({1, 1, 1, 1, 1, 1, 1, 1, 1})), "control not 0..8 cells");
  EXPECT_EQ(rejected(blob, "guest0", [](void* fdt, int node) { fdt_setprop(fdt, node, "control", "abc", 3); }),
            "control not 0..8 cells");
  EXPECT_EQ(rejected(blob, "guest0", [](void* fdt, int node) { fdt_setprop(fdt, node, "stopped", nullptr, 0); }),
            "guest with server properties");
  EXPECT_EQ(rejected(blob, "guest0", [](void* fdt, int node) { fdt_setprop_string(fdt, node, "bootargs", "x"); }),
            "guest with server properties");
  EXPECT_EQ(rejected(blob, "uart",
                     [](void* fdt, int node) {
                       const fdt32_t dev[4] = {0, cpu_to_fdt32(0x4000'0000), 0, cpu_to_fdt32(0x1000)};
                       fdt_setprop(fdt, node, "device-memory", dev, sizeof(dev));
                     }),
            "device-memory not page-aligned, outside the IPA space or over RAM");
  EXPECT_EQ(rejected(blob, "uart",
                     [](void* fdt, int node) {
                       const char unterminated[3] = {'a', 'b', 'c'};
                       fdt_setprop(fdt, node, "bootargs", unterminated, sizeof(unterminated));
                     }),
            "server bootargs not a string of at most 255 bytes");
  for (const uint64_t pool : {uint64_t{0}, uint64_t{0x800}, ipc::kMaxDmaPool + 0x1000}) {
    EXPECT_EQ(rejected(blob, "uart", [pool](void* fdt, int node) { fdt_setprop_u64(fdt, node, "dma-pool", pool); }),
              "dma-pool not a page multiple of at most 16 MiB")
        << pool;
  }
  EXPECT_EQ(rejected(blob, "uart", [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "dma-pool", 0x1000); }),
            "dma-pool not a page multiple of at most 16 MiB");
  EXPECT_EQ(rejected(blob, "guest0", [](void* fdt, int node) { fdt_setprop_u64(fdt, node, "dma-pool", 0x1000); }),
            "guest with server properties");
}

// Memory grants: the whole of the guest's RAM when the manifest gives no
// range, or the range it gives, with the servers by position.
TEST_F(ServerPackageTest, MemoryGrantsRoundTrip) {
  manifest_.vms[0].grants.push_back({"all", {"uart"}, 0, 0});
  {
    std::string blob = build();
    DtbError error;
    auto pkg = parse_package(blob.data(), blob.size(), error);
    ASSERT_TRUE(pkg.ok()) << error.what;
    const PackagedPartition& guest = pkg->partitions[0];
    ASSERT_EQ(guest.grant_count, 1u);
    EXPECT_EQ(guest.grants[0].ipa, Ipa(0x4000'0000));
    EXPECT_EQ(guest.grants[0].size, 64ull << 20);
    ASSERT_EQ(guest.grants[0].server_count, 1u);
    EXPECT_EQ(guest.grants[0].servers[0], 1u);
    EXPECT_EQ(pkg->partitions[1].grant_count, 0u);
  }
  manifest_.vms[0].grants[0] = {"low", {"uart"}, 0x4000'0000, 0x10'0000};
  manifest_.vms[0].grants.push_back({"high", {"uart"}, 0x4200'0000, 0x2000});
  std::string blob = build();
  DtbError error;
  auto pkg = parse_package(blob.data(), blob.size(), error);
  ASSERT_TRUE(pkg.ok()) << error.what;
  const PackagedPartition& guest = pkg->partitions[0];
  ASSERT_EQ(guest.grant_count, 2u);
  EXPECT_EQ(guest.grants[0].size, 0x10'0000u);
  EXPECT_EQ(guest.grants[1].ipa, Ipa(0x4200'0000));
  EXPECT_EQ(guest.grants[1].size, 0x2000u);
}

TEST_F(ServerPackageTest, PackerRejectsMemoryGrantsThatDoNotFit) {
  auto refused = [](const Manifest& m) {
    auto pkg = tools::build_package(m);
    return pkg.ok() ? std::string("accepted") : std::string(pkg.status().message());
  };
  Manifest m = manifest_;
  m.vms[0].grants.push_back({"g", {"guest0"}, 0, 0});
  EXPECT_NE(refused(m).find("'guest0' is not a server"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[0].grants.push_back({"g", {"nobody"}, 0, 0});
  EXPECT_NE(refused(m).find("'nobody' is not a server"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[0].grants.push_back({"g", {"uart", "uart"}, 0, 0});
  EXPECT_NE(refused(m).find("names 'uart' twice"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[1].grants.push_back({"g", {"uart"}, 0, 0});
  EXPECT_NE(refused(m).find("server 'uart' cannot grant memory"), std::string::npos) << refused(m);
  for (const auto& [base, size] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0x3fff'f000, 0x2000}, {0x4000'0800, 0x1000}, {0x4000'0000, 0x800}, {0x43ff'f000, 0x2000}}) {
    m = manifest_;
    m.vms[0].grants.push_back({"g", {"uart"}, base, size});
    EXPECT_NE(refused(m).find("is not page-aligned inside the vm's memory"), std::string::npos)
        << std::hex << base << "+" << size << ": " << refused(m);
  }
  m = manifest_;
  m.vms[0].grants.push_back({"a", {"uart"}, 0x4000'0000, 0x2000});
  m.vms[0].grants.push_back({"b", {"uart"}, 0x4000'1000, 0x2000});
  EXPECT_NE(refused(m).find("memory grants 'a' and 'b' overlap"), std::string::npos) << refused(m);
  m = manifest_;
  for (uint64_t i = 0; i < 5; ++i) m.vms[0].grants.push_back({"g", {"uart"}, 0x4000'0000 + i * 0x1000, 0x1000});
  EXPECT_NE(refused(m).find("more than 4 memory grants"), std::string::npos) << refused(m);
  // Five grants to one server, from two guests.
  m = manifest_;
  VmSpec other = m.vms[0];
  other.name = "guest1";
  other.devices.clear();
  for (uint64_t i = 0; i < 3; ++i) m.vms[0].grants.push_back({"g", {"uart"}, 0x4000'0000 + i * 0x1000, 0x1000});
  for (uint64_t i = 0; i < 2; ++i) other.grants.push_back({"g", {"uart"}, 0x4000'0000 + i * 0x1000, 0x1000});
  m.vms.push_back(other);
  EXPECT_NE(refused(m).find("server 'uart' is granted memory more than 4 times"), std::string::npos) << refused(m);
}

TEST_F(ServerPackageTest, KernelRejectsMemoryGrantsThatDoNotFit) {
  manifest_.vms[0].grants.push_back({"g", {"uart"}, 0x4000'0000, 0x2000});
  const std::string blob = build();
  auto grant = [](void* fdt, int node) { return fdt_subnode_offset(fdt, node, "grant-0"); };
  EXPECT_EQ(rejected(blob, "guest0", [&](void* fdt, int node) { fdt_setprop_u32(fdt, grant(fdt, node), "servers", 0); }),
            "grant to something that is not a server");
  EXPECT_EQ(rejected(blob, "guest0", [&](void* fdt, int node) { fdt_setprop_u32(fdt, grant(fdt, node), "servers", 9); }),
            "grant to something that is not a server");
  EXPECT_EQ(rejected(blob, "guest0",
                     [&](void* fdt, int node) {
                       const fdt32_t two[2] = {cpu_to_fdt32(1), cpu_to_fdt32(1)};
                       fdt_setprop(fdt, grant(fdt, node), "servers", two, sizeof(two));
                     }),
            "grant names a server twice");
  EXPECT_EQ(rejected(blob, "guest0",
                     [&](void* fdt, int node) {
                       const fdt32_t five[5] = {};
                       fdt_setprop(fdt, grant(fdt, node), "servers", five, sizeof(five));
                     }),
            "grant servers not 1..4 cells");
  EXPECT_EQ(rejected(blob, "guest0",
                     [&](void* fdt, int node) { fdt_setprop(fdt, grant(fdt, node), "servers", nullptr, 0); }),
            "grant servers not 1..4 cells");
  EXPECT_EQ(rejected(blob, "guest0", [&](void* fdt, int node) { fdt_delprop(fdt, grant(fdt, node), "size"); }),
            "grant needs ipa, size and servers");
  for (const auto& range : std::vector<std::pair<uint64_t, uint64_t>>{{0x3fff'f000, 0x2000},
                                                                             {0x4000'0010, 0x1000},
                                                                             {0x4000'0000, 0x10},
                                                                             {0x4000'0000, 0},
                                                                             {0x43ff'f000, 0x2000},
                                                                             {0x4000'0000, ~uint64_t{0} - 0xfff}}) {
    EXPECT_EQ(rejected(blob, "guest0",
                       [&](void* fdt, int node) {
                         fdt_setprop_u64(fdt, grant(fdt, node), "ipa", range.first);
                         fdt_setprop_u64(fdt, grant(fdt, node), "size", range.second);
                       }),
              "grant not page-aligned or outside the guest's memory")
        << std::hex << range.first << "+" << range.second;
  }
  EXPECT_EQ(rejected(blob, "guest0",
                     [&](void* fdt, int node) {
                       const int second = fdt_add_subnode(fdt, node, "grant-1");
                       fdt_setprop_u64(fdt, second, "ipa", 0x4000'1000);
                       fdt_setprop_u64(fdt, second, "size", 0x1000);
                       fdt_setprop_u32(fdt, second, "servers", 1);
                     }),
            "grants overlap");
  EXPECT_EQ(rejected(blob, "guest0",
                     [&](void* fdt, int node) {
                       for (int i = 1; i <= 4; ++i) {
                         const int g = fdt_add_subnode(fdt, node, ("grant-" + std::to_string(i)).c_str());
                         fdt_setprop_u64(fdt, g, "ipa", 0x4000'0000 + 0x1000 * static_cast<uint64_t>(i + 1));
                         fdt_setprop_u64(fdt, g, "size", 0x1000);
                         fdt_setprop_u32(fdt, g, "servers", 1);
                       }
                     }),
            "too many grants");
  EXPECT_EQ(rejected(blob, "uart",
                     [&](void* fdt, int node) {
                       const int g = fdt_add_subnode(fdt, node, "grant-0");
                       fdt_setprop_u64(fdt, g, "ipa", 0x4000'0000);
                       fdt_setprop_u64(fdt, g, "size", 0x1000);
                       fdt_setprop_u32(fdt, g, "servers", 0);
                     }),
            "grant in a server");
}

TEST_F(ServerPackageTest, FfaPropertiesDefaultByKindAndRoundTrip) {
  {
    std::string blob = build();
    DtbError error;
    auto pkg = parse_package(blob.data(), blob.size(), error);
    ASSERT_TRUE(pkg.ok()) << error.what;
    // IDs by position; guests send direct requests, servers also receive them.
    EXPECT_EQ(pkg->partitions[0].ffa_id, 1);
    EXPECT_EQ(pkg->partitions[1].ffa_id, 2);
    EXPECT_EQ(pkg->partitions[0].ffa_messaging, ffa::properties::kDirectSend | ffa::properties::kIndirect |
                                                    ffa::properties::kNotifications);
    EXPECT_EQ(pkg->partitions[1].ffa_messaging, ffa::properties::kDirectReceive | ffa::properties::kIndirect |
                                                    ffa::properties::kNotifications);
    EXPECT_EQ(pkg->partitions[0].ffa_uuid[0], 0u);
    EXPECT_EQ(pkg->partitions[0].ffa_target_count, 0u);
  }
  manifest_.vms[0].ffa_id = 0x7fff;
  manifest_.vms[0].ffa_uuid = "486178e0-e7f8-11e3-bc5e-0002a5d5c51b";
  manifest_.vms[0].ffa_direct_targets = {"uart"};
  manifest_.vms[1].ffa_id = 9;
  manifest_.vms[1].ffa_messaging_set = true;
  manifest_.vms[1].ffa_messaging = {"direct-receive"};
  std::string blob = build();
  DtbError error;
  auto pkg = parse_package(blob.data(), blob.size(), error);
  ASSERT_TRUE(pkg.ok()) << error.what;
  const PackagedPartition& guest = pkg->partitions[0];
  EXPECT_EQ(guest.ffa_id, 0x7fff);
  EXPECT_EQ(guest.ffa_uuid[0], 0xe078'6148u);
  EXPECT_EQ(guest.ffa_uuid[3], 0x1bc5'd5a5u);
  ASSERT_EQ(guest.ffa_target_count, 1u);
  EXPECT_EQ(guest.ffa_targets[0], 9);
  EXPECT_EQ(pkg->partitions[1].ffa_id, 9);
  EXPECT_EQ(pkg->partitions[1].ffa_messaging, ffa::properties::kDirectReceive);
}

TEST_F(ServerPackageTest, PackerRejectsFfaPropertiesThatDoNotFit) {
  auto refused = [](const Manifest& m) {
    auto pkg = tools::build_package(m);
    return pkg.ok() ? std::string("accepted") : std::string(pkg.status().message());
  };
  Manifest m = manifest_;
  m.vms[1].ffa_id = 1;
  EXPECT_NE(refused(m).find("FF-A ID 1 is also"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[0].ffa_uuid = "486178e0-e7f8-11e3-bc5e-0002a5d5c51";
  EXPECT_NE(refused(m).find("is not xxxxxxxx"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[0].ffa_messaging_set = true;
  m.vms[0].ffa_messaging = {"direct-send", "telepathy"};
  EXPECT_NE(refused(m).find("'telepathy' is none of"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[0].ffa_messaging_set = true;
  m.vms[0].ffa_messaging = {"indirect"};
  m.vms[0].ffa_direct_targets = {"uart"};
  EXPECT_NE(refused(m).find("without direct-send"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[0].ffa_direct_targets = {"guest0"};
  EXPECT_NE(refused(m).find("is no other partition"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[0].ffa_direct_targets = {"nobody"};
  EXPECT_NE(refused(m).find("is no other partition"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[1].ffa_messaging_set = true;
  m.vms[1].ffa_messaging = {"direct-receive", "direct-send"};
  EXPECT_NE(refused(m).find("a server cannot send direct requests"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[1].ffa_messaging_set = true;
  m.vms[1].ffa_messaging = {"none"};
  m.vms[0].ffa_direct_targets = {"uart"};
  EXPECT_NE(refused(m).find("does not receive direct requests"), std::string::npos) << refused(m);
}

TEST_F(ServerPackageTest, KernelRejectsFfaPropertiesThatDoNotFit) {
  manifest_.vms[0].ffa_direct_targets = {"uart"};
  const std::string blob = build();
  EXPECT_EQ(rejected(blob, "uart", [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "ffa-id", 1); }),
            "two partitions with one FF-A ID");
  EXPECT_EQ(rejected(blob, "uart", [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "ffa-id", 0x8000); }),
            "ffa-id not 1..0x7fff");
  EXPECT_EQ(rejected(blob, "uart", [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "ffa-id", 0); }),
            "ffa-id not 1..0x7fff");
  EXPECT_EQ(rejected(blob, "uart", [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "ffa-messaging", 0x10); }),
            "ffa-messaging has unknown bits");
  EXPECT_EQ(rejected(blob, "uart",
                     [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "ffa-messaging", package::kFfaMessagingMask); }),
            "a server with direct send");
  EXPECT_EQ(rejected(blob, "uart", [](void* fdt, int node) { fdt_setprop_u64(fdt, node, "ffa-uuid", 1); }),
            "ffa-uuid is not four cells");
  EXPECT_EQ(rejected(blob, "uart", [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "ffa-messaging", 0); }),
            "a direct target is no other partition that receives direct requests");
  EXPECT_EQ(rejected(blob, "guest0", [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "ffa-direct-targets", 1); }),
            "a direct target is no other partition that receives direct requests");
  EXPECT_EQ(rejected(blob, "guest0", [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "ffa-direct-targets", 0); }),
            "ffa-direct-targets not IDs");
  EXPECT_EQ(rejected(blob, "guest0", [](void* fdt, int node) { fdt_setprop(fdt, node, "ffa-direct-targets", "", 0); }),
            "ffa-direct-targets not 1..kMaxPartitions cells");
  EXPECT_EQ(rejected(blob, "guest0",
                     [](void* fdt, int node) {
                       fdt_setprop_u32(fdt, node, "ffa-messaging", ffa::properties::kDirectReceive);
                     }),
            "ffa-direct-targets without direct send");
}

// A server's devices of the machine: several windows and SPIs round trip;
// what does not fit is refused by the packer and again by the kernel.
TEST_F(ServerPackageTest, DeviceWindowsAndSpisRoundTripAndAreChecked) {
  manifest_.vms[1].device_memory = {{0x0900'0000, 0x1000}, {0x0a00'1000, 0x1000}};
  manifest_.vms[1].device_irqs = {33, 56, 57};
  std::string blob = build();
  DtbError error;
  auto pkg = parse_package(blob.data(), blob.size(), error);
  ASSERT_TRUE(pkg.ok()) << error.what;
  const PackagedPartition& server = pkg->partitions[1];
  ASSERT_EQ(server.device_region_count, 2u);
  EXPECT_EQ(server.device_regions[1].base, Pa(0x0a00'1000));
  ASSERT_EQ(server.device_irq_count, 3u);
  EXPECT_EQ(server.device_irqs[2], 57u);

  auto refused = [](const Manifest& m) {
    auto p = tools::build_package(m);
    return p.ok() ? std::string("accepted") : std::string(p.status().message());
  };
  Manifest m = manifest_;
  m.vms[0].device_memory = {{0x0a00'2000, 0x1000}};
  EXPECT_NE(refused(m).find("only a server is given devices"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[1].device_memory.assign(5, {0x0a00'0000, 0x1000});
  EXPECT_NE(refused(m).find("more than 4 device memory ranges"), std::string::npos) << refused(m);
  m = manifest_;
  m.vms[1].device_irqs.assign(9, 48);
  EXPECT_NE(refused(m).find("or 8 device interrupts"), std::string::npos) << refused(m);

  auto set = [](std::vector<uint32_t> cells) {
    return [cells](void* fdt, int node) {
      std::vector<fdt32_t> be;
      for (uint32_t c : cells) be.push_back(cpu_to_fdt32(c));
      fdt_setprop(fdt, node, "device-memory", be.data(), static_cast<int>(be.size() * 4));
    };
  };
  EXPECT_EQ(rejected(blob, "uart", set({0, 0x0a00'0000, 0, 0x2000, 0, 0x0a00'1000, 0, 0x1000})),
            "device-memory ranges overlap");
  EXPECT_EQ(rejected(blob, "uart", set({0, 0x0a00'0000, 0, 0x1000, 0, 0x0a00'1000})), "device-memory not 1..4 ranges");
  EXPECT_EQ(rejected(blob, "uart", set(std::vector<uint32_t>(20, 0))), "device-memory not 1..4 ranges");
  EXPECT_EQ(rejected(blob, "uart",
                     [](void* fdt, int node) {
                       const fdt32_t irqs[2] = {cpu_to_fdt32(40), cpu_to_fdt32(40)};
                       fdt_setprop(fdt, node, "device-irq", irqs, sizeof(irqs));
                     }),
            "device-irq named twice");
  EXPECT_EQ(rejected(blob, "uart", [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "device-irq", 16); }),
            "device-irq not an SPI");
  EXPECT_EQ(rejected(blob, "uart",
                     [](void* fdt, int node) {
                       const fdt32_t nine[9] = {};
                       fdt_setprop(fdt, node, "device-irq", nine, sizeof(nine));
                     }),
            "device-irq not 1..8 cells");
  // Two servers with one window, or one SPI.
  m = manifest_;
  VmSpec second = m.vms[1];
  second.name = "second";
  second.bootargs.clear();
  second.device_memory = {{0x0a00'1000, 0x1000}};
  second.device_irqs = {60};
  m.vms.push_back(second);
  auto two = tools::build_package(m);
  ASSERT_TRUE(two.ok()) << two.status();
  std::string both = *two;
  both.resize(both.size() + 4096);
  EXPECT_EQ(rejected(both, "second", set({0, 0x0900'0000, 0, 0x1000})), "two servers with one device");
  EXPECT_EQ(rejected(both, "second", [](void* fdt, int node) { fdt_setprop_u32(fdt, node, "device-irq", 33); }),
            "two servers with one device-irq");
}

// A GICv3 served by a second server: the route to it is the guest's
// interrupt controller, sized for the guest's vCPUs; the PL011's route
// carries its SPI; the guest's device tree has the GIC every interrupt
// refers to.
TEST_F(ServerPackageTest, AGicRouteIsTheInterruptControllerAndThePl011CarriesItsSpi) {
  manifest_.vms[0].vcpus = 3;
  manifest_.vms[0].devices.push_back({"gic", "gic", "gicv3", 0x0800'0000, 0});
  VmSpec gic = manifest_.vms[1];
  gic.name = "gic";
  gic.bootargs.clear();
  gic.device_memory.clear();
  gic.device_irqs.clear();
  manifest_.vms.push_back(gic);
  std::string blob = build();
  DtbError error;
  auto pkg = parse_package(blob.data(), blob.size(), error);
  ASSERT_TRUE(pkg.ok()) << error.what;
  const PackagedPartition& guest = pkg->partitions[0];
  ASSERT_EQ(guest.route_count, 2u);
  EXPECT_EQ(guest.routes[0].irq, 33u);
  EXPECT_FALSE(guest.routes[0].irqchip);
  EXPECT_TRUE(guest.routes[1].irqchip);
  EXPECT_EQ(guest.routes[1].irq, 0u);
  EXPECT_EQ(guest.routes[1].size, 0xa'0000u + 3 * 0x2'0000u);
  EXPECT_EQ(guest.routes[1].server, 2u);
  const PackageLoad& dtb_load = guest.loads[1];
  std::string dtb(reinterpret_cast<const char*>(dtb_load.data), dtb_load.size);
  const void* fdt = dtb.data();
  const int node = fdt_path_offset(fdt, "/interrupt-controller@8000000");
  ASSERT_GE(node, 0);
  EXPECT_EQ(fdt_node_check_compatible(fdt, node, "arm,gic-v3"), 0);
  int len = 0;
  const auto* reg = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, "reg", &len));
  ASSERT_EQ(len, 32);
  EXPECT_EQ(fdt32_ld(&reg[1]), 0x0800'0000u);
  EXPECT_EQ(fdt32_ld(&reg[3]), 0x1'0000u);
  EXPECT_EQ(fdt32_ld(&reg[5]), 0x080a'0000u);
  EXPECT_EQ(fdt32_ld(&reg[7]), 3 * 0x2'0000u);
  const auto* parent = static_cast<const fdt32_t*>(fdt_getprop(fdt, 0, "interrupt-parent", &len));
  ASSERT_NE(parent, nullptr);
  EXPECT_EQ(fdt_node_offset_by_phandle(fdt, fdt32_ld(parent)), node);
  // No maintenance interrupt (the guest has no EL2) and no ITS (no LPIs).
  EXPECT_EQ(fdt_getprop(fdt, node, "interrupts", &len), nullptr);
  EXPECT_LT(fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3-its"), 0);
  // The timer's PPIs as QEMU's virt gives them with a GICv3: secure and
  // non-secure physical, virtual, hypervisor; level, active high.
  const int timer = fdt_node_offset_by_compatible(fdt, -1, "arm,armv8-timer");
  ASSERT_GE(timer, 0);
  const auto* irqs = static_cast<const fdt32_t*>(fdt_getprop(fdt, timer, "interrupts", &len));
  ASSERT_EQ(len, 12 * 4);
  const uint32_t want[12] = {1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4};
  for (int i = 0; i < 12; ++i) EXPECT_EQ(fdt32_ld(&irqs[i]), want[i]) << "cell " << i;
}

TEST_F(ServerPackageTest, KernelRejectsBadInterruptRoutes) {
  const std::string blob = build();
  auto route = [](void* fdt, int node) { return fdt_subnode_offset(fdt, node, "route-0"); };
  for (uint32_t irq : {0u, 31u, 96u, 1020u, ~0u}) {
    EXPECT_EQ(rejected(blob, "guest0", [&](void* fdt, int node) { fdt_setprop_u32(fdt, route(fdt, node), "irq", irq); }),
              "route irq not an SPI of 32..95, or on the interrupt controller")
        << irq;
  }
  EXPECT_EQ(rejected(blob, "guest0", [&](void* fdt, int node) { fdt_setprop_u64(fdt, route(fdt, node), "irq", 40); }),
            "route irq is not one cell");
  EXPECT_EQ(rejected(blob, "guest0",
                     [&](void* fdt, int node) {
                       fdt_setprop(fdt, route(fdt, node), "irqchip", nullptr, 0);
                       fdt_setprop_u32(fdt, route(fdt, node), "irq", 40);
                     }),
            "route irq not an SPI of 32..95, or on the interrupt controller");
  auto second = [](void* fdt, int node, bool irqchip, uint32_t irq) {
    fdt_setprop(fdt, fdt_subnode_offset(fdt, node, "route-0"), "irqchip", nullptr, 0);
    fdt_delprop(fdt, fdt_subnode_offset(fdt, node, "route-0"), "irq");
    const int r = fdt_add_subnode(fdt, node, "route-1");
    fdt_setprop_u64(fdt, r, "ipa", 0x0a00'0000);
    fdt_setprop_u64(fdt, r, "size", 0x1000);
    fdt_setprop_u32(fdt, r, "server", 1);
    fdt_setprop_u32(fdt, r, "device", 1);
    if (irqchip) fdt_setprop(fdt, r, "irqchip", nullptr, 0);
    if (irq != 0) fdt_setprop_u32(fdt, r, "irq", irq);
  };
  EXPECT_EQ(rejected(blob, "guest0", [&](void* fdt, int node) { second(fdt, node, true, 0); }),
            "two interrupt controllers");
}

TEST_F(ServerPackageTest, PackerChecksDevicesNameServers) {
  Manifest m = manifest_;
  m.vms[0].devices[0].device = 4;
  EXPECT_FALSE(tools::build_package(m).ok());
  m = manifest_;
  m.vms[1].bootargs = std::string(300, 'a');
  EXPECT_FALSE(tools::build_package(m).ok());
  for (const uint64_t pool : {uint64_t{0x800}, ipc::kMaxDmaPool + 0x1000}) {
    m = manifest_;
    m.vms[1].dma_pool = pool;
    EXPECT_FALSE(tools::build_package(m).ok()) << pool;
  }
  m = manifest_;
  m.vms[0].dma_pool = 0x1000;
  EXPECT_FALSE(tools::build_package(m).ok()) << "a guest's pool";
}

TEST_F(PackageTest, KernelRejectsTruncatedOrForeignBlobs) {
  std::string blob = build();
  DtbError error;
  EXPECT_EQ(parse_package(blob.data(), 100, error).status(), Status::kOutOfRange);
  blob[0] = 0;
  EXPECT_EQ(parse_package(blob.data(), blob.size(), error).status(), Status::kInvalidArgument);
  EXPECT_EQ(parse_package(nullptr, 0, error).status(), Status::kInvalidArgument);
}

TEST(Manifest, ParsesVmsAndResolvesRelativePaths) {
  // Built with libfdt here rather than dtc, to keep the test self-contained.
  std::string buf(4096, '\0');
  void* fdt = buf.data();
  fdt_create(fdt, 4096);
  fdt_finish_reservemap(fdt);
  fdt_begin_node(fdt, "");
  fdt_property_string(fdt, "compatible", "hyp,manifest-1");
  fdt_begin_node(fdt, "vms");
  fdt_begin_node(fdt, "linux");
  fdt_property_u32(fdt, "vcpus", 4);
  fdt_property_u32(fdt, "memory-mib", 512);
  fdt_property_string(fdt, "kernel", "Image");
  fdt_property_string(fdt, "bootargs", "quiet");
  fdt_end_node(fdt);
  fdt_end_node(fdt);
  fdt_end_node(fdt);
  fdt_finish(fdt);
  auto m = tools::parse_manifest(buf, "/images");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->vms.size(), 1u);
  EXPECT_EQ(m->vms[0].name, "linux");
  EXPECT_EQ(m->vms[0].vcpus, 4);
  EXPECT_EQ(m->vms[0].memory, 512ull << 20);
  EXPECT_EQ(m->vms[0].kernel, "/images/Image");
  EXPECT_EQ(m->vms[0].bootargs, "quiet");
  EXPECT_FALSE(tools::parse_manifest("not a dtb at all, not at all", "").ok());
}

}  // namespace
}  // namespace hyp
