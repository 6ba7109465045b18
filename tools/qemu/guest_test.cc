#include "tools/qemu/guest.h"

#include <gtest/gtest.h>
#include <libfdt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace hyp::tools {
namespace {

std::string test_tmpdir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// An arm64 Image header (text_offset 0, image_size 64 KiB) and filler.
std::string write_image(const std::string& name) {
  std::string img(4096, '\0');
  img[17] = 1;  // image_size 0x10000
  std::memcpy(img.data() + 56, "ARM\x64", 4);
  const std::string path = test_tmpdir() + "/" + name;
  std::ofstream(path, std::ios::binary) << img;
  return path;
}

// By default the guest gets what QEMU's virt gives an EL1 kernel and a
// server exists for: the PL011 at 0x09000000, from the UART server, which
// owns the physical one.
TEST(GuestManifest, GuestGetsTheUartServersPl011ByDefault) {
  GuestOptions o;
  o.kernel = "k.bin";
  o.vcpus = 2;
  o.memory = 64ull << 20;
  o.bootargs = "console=ttyAMA0";
  o.uart_server = "uart_server.bin";
  const Manifest m = guest_manifest(o);
  ASSERT_EQ(m.vms.size(), 2u);
  const VmSpec& uart = m.vms[0];
  EXPECT_EQ(uart.name, "uart");
  EXPECT_TRUE(uart.server);
  EXPECT_EQ(uart.kernel, "uart_server.bin");
  ASSERT_EQ(uart.device_memory.size(), 1u);
  EXPECT_EQ(uart.device_memory[0].first, 0x0900'0000u);
  EXPECT_EQ(uart.device_memory[0].second, 0x1000u);
  EXPECT_EQ(uart.memory, 4ull << 20);
  const VmSpec& guest = m.vms[1];
  EXPECT_EQ(guest.name, "guest");
  EXPECT_FALSE(guest.server);
  EXPECT_EQ(guest.vcpus, 2);
  EXPECT_EQ(guest.memory, 64ull << 20);
  EXPECT_EQ(guest.bootargs, "console=ttyAMA0");
  ASSERT_EQ(guest.devices.size(), 1u);
  EXPECT_EQ(guest.devices[0].name, "serial");
  EXPECT_EQ(guest.devices[0].server, "uart");
  EXPECT_EQ(guest.devices[0].model, "pl011");
  EXPECT_EQ(guest.devices[0].base, 0x0900'0000u);
  EXPECT_EQ(guest.devices[0].device, 0u);
}

// With the GIC server, the guest also gets a GICv3 where QEMU's virt has
// its own, and the UART server the UART's interrupt (SPI 1).
TEST(GuestManifest, TheGicServerGivesTheGuestAGicWhereVirtHasIt) {
  GuestOptions o;
  o.kernel = "k.bin";
  o.memory = 64ull << 20;
  o.uart_server = "uart_server.bin";
  o.gic_server = "gic_server.bin";
  const Manifest m = guest_manifest(o);
  ASSERT_EQ(m.vms.size(), 3u);
  EXPECT_EQ(m.vms[0].device_irqs, std::vector<uint32_t>{33});
  const VmSpec& gic = m.vms[1];
  EXPECT_EQ(gic.name, "gic");
  EXPECT_TRUE(gic.server);
  EXPECT_EQ(gic.kernel, "gic_server.bin");
  const VmSpec& guest = m.vms[2];
  ASSERT_EQ(guest.devices.size(), 2u);
  EXPECT_EQ(guest.devices[1].server, "gic");
  EXPECT_EQ(guest.devices[1].model, "gicv3");
  EXPECT_EQ(guest.devices[1].base, 0x0800'0000u);
}

// The virtio servers: each owns its page of QEMU virt's transports and
// their interrupts, has a DMA pool, serves the guest a virtio-mmio device
// at the same address, and is granted all of the guest's RAM (one grant
// for both). The package builds.
TEST(GuestManifest, TheVirtioServersGiveTheGuestADiskAndARandomSource) {
  GuestOptions o;
  o.kernel = write_image("virtio.bin");
  o.vcpus = 1;
  o.memory = 64ull << 20;
  o.uart_server = write_image("uart.bin");
  o.gic_server = write_image("gic.bin");
  o.blk_server = write_image("blk.bin");
  o.rng_server = write_image("rng.bin");
  o.read_only_disk = true;
  const Manifest m = guest_manifest(o);
  ASSERT_EQ(m.vms.size(), 5u);
  const VmSpec& blk = m.vms[2];
  const VmSpec& rng = m.vms[3];
  const VmSpec& guest = m.vms[4];
  EXPECT_EQ(blk.name, "blk");
  EXPECT_TRUE(blk.server);
  ASSERT_EQ(blk.device_memory.size(), 1u);
  EXPECT_EQ(blk.device_memory[0].first, kVirtioBlkPage);
  ASSERT_EQ(blk.device_irqs.size(), 8u);
  EXPECT_EQ(blk.device_irqs[0], 48u);
  EXPECT_EQ(blk.dma_pool, kBlkDmaPool);
  EXPECT_EQ(blk.bootargs, "read-only=1");
  EXPECT_EQ(rng.device_memory[0].first, kVirtioRngPage);
  EXPECT_EQ(rng.device_irqs[0], 56u) << "transport 8's";
  EXPECT_EQ(rng.device_irqs[7], 63u);
  EXPECT_TRUE(rng.bootargs.empty());
  ASSERT_EQ(guest.devices.size(), 4u);
  EXPECT_EQ(guest.devices[2].model, "virtio-mmio");
  EXPECT_EQ(guest.devices[2].base, kVirtioBlkPage);
  EXPECT_EQ(guest.devices[3].base, kVirtioRngPage);
  ASSERT_EQ(guest.grants.size(), 1u);
  EXPECT_EQ(guest.grants[0].servers, (std::vector<std::string>{"blk", "rng"}));
  EXPECT_EQ(guest.grants[0].size, 0u) << "all of its RAM";
  EXPECT_TRUE(build_package(m).ok()) << build_package(m).status();
}

TEST(GuestManifest, WithoutAServerTheGuestRunsAlone) {
  GuestOptions o;
  o.kernel = "k.bin";
  o.memory = 64ull << 20;
  const Manifest m = guest_manifest(o);
  ASSERT_EQ(m.vms.size(), 1u);
  EXPECT_EQ(m.vms[0].name, "guest");
  EXPECT_TRUE(m.vms[0].devices.empty());
}

// The packer takes the manifest as it is: the route and the device tree.
TEST(GuestManifest, PacksWithTheConsoleRoutedAndDescribed) {
  GuestOptions o;
  o.kernel = write_image("guest.bin");
  o.memory = 16ull << 20;
  o.uart_server = write_image("uart.bin");
  auto pkg = build_package(guest_manifest(o));
  ASSERT_TRUE(pkg.ok()) << pkg.status();
  const void* fdt = pkg->data();
  const int route = fdt_path_offset(fdt, "/partitions/guest/route-0");
  ASSERT_GE(route, 0);
  int len = 0;
  const auto* server = static_cast<const fdt32_t*>(fdt_getprop(fdt, route, "server", &len));
  ASSERT_EQ(len, 4);
  EXPECT_EQ(fdt32_ld(server), 0u) << "the UART server is the first partition";
  const int load = fdt_path_offset(fdt, "/partitions/guest/load-1");
  ASSERT_GE(load, 0);
  const char* data = static_cast<const char*>(fdt_getprop(fdt, load, "data", &len));
  ASSERT_NE(data, nullptr);
  // Copied out: libfdt wants its blob 8-byte aligned.
  const std::string copy(data, static_cast<size_t>(len));
  const void* dtb = copy.data();
  ASSERT_EQ(fdt_check_header(dtb), 0);
  const char* stdout_path =
      static_cast<const char*>(fdt_getprop(dtb, fdt_path_offset(dtb, "/chosen"), "stdout-path", nullptr));
  ASSERT_NE(stdout_path, nullptr);
  EXPECT_STREQ(stdout_path, "/pl011@9000000");
}

// Two runs at once never share their package's directory, and nothing is
// left when a run ends.
TEST(PrivateDir, OwnDirectoryPerRunRemovedWithItsContents) {
  const std::string tmp = test_tmpdir() + "/private";
  std::filesystem::create_directories(tmp);
  setenv("TMPDIR", tmp.c_str(), 1);
  std::string first_path;
  {
    auto first = PrivateDir::create("hyp-guest-");
    auto second = PrivateDir::create("hyp-guest-");
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_NE(first->path(), second->path());
    EXPECT_EQ(first->path().rfind(tmp + "/hyp-guest-", 0), 0u) << first->path();
    struct stat st {};
    ASSERT_EQ(stat(first->path().c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0700u) << "other users can neither read nor replace the package";
    std::ofstream(first->path() + "/guest.pkg") << "package";
    first_path = first->path();
  }
  EXPECT_FALSE(std::filesystem::exists(first_path));
  EXPECT_TRUE(std::filesystem::is_empty(tmp));
  unsetenv("TMPDIR");
}

TEST(PrivateDir, KeptWhenAskedAndMovable) {
  const std::string tmp = test_tmpdir() + "/kept";
  std::filesystem::create_directories(tmp);
  setenv("TMPDIR", tmp.c_str(), 1);
  std::string path;
  {
    auto dir = PrivateDir::create("hyp-guest-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    PrivateDir moved = *std::move(dir);
    path = moved.path();
    moved.keep();
  }
  EXPECT_TRUE(std::filesystem::is_directory(path));
  std::filesystem::remove_all(path);
  unsetenv("TMPDIR");
}

// QEMU and a printed command use the path from elsewhere.
TEST(PrivateDir, PathIsAbsoluteUnderARelativeTmpdir) {
  const std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::create_directories(test_tmpdir() + "/relative");
  std::filesystem::current_path(test_tmpdir());
  setenv("TMPDIR", "relative", 1);
  {
    auto dir = PrivateDir::create("hyp-guest-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    EXPECT_EQ(dir->path().front(), '/') << dir->path();
    EXPECT_TRUE(std::filesystem::is_directory(dir->path()));
  }
  EXPECT_TRUE(std::filesystem::is_empty(test_tmpdir() + "/relative"));
  unsetenv("TMPDIR");
  std::filesystem::current_path(cwd);
}

TEST(PrivateDir, FailsWithAReasonWhereNoDirectoryCanBeMade) {
  setenv("TMPDIR", "/nonexistent/dir", 1);
  auto dir = PrivateDir::create("hyp-guest-");
  EXPECT_FALSE(dir.ok());
  EXPECT_NE(std::string(dir.status().message()).find("/nonexistent/dir/hyp-guest-"), std::string::npos);
  unsetenv("TMPDIR");
}

}  // namespace
}  // namespace hyp::tools
