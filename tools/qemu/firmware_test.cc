#include "tools/qemu/firmware.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

extern "C" {
#include <libfdt.h>
}

namespace hyp::tools {
namespace {

// A minimal tree: a root with #address-cells = 2, and /chosen if asked.
std::string tree(bool with_chosen) {
  std::string buf(4096, '\0');
  void* fdt = buf.data();
  EXPECT_EQ(fdt_create_empty_tree(fdt, static_cast<int>(buf.size())), 0);
  EXPECT_EQ(fdt_setprop_u32(fdt, 0, "#address-cells", 2), 0);
  if (with_chosen) {
    const int chosen = fdt_add_subnode(fdt, 0, "chosen");
    EXPECT_GE(chosen, 0);
    EXPECT_EQ(fdt_setprop_string(fdt, chosen, "bootargs", "old words"), 0);
    EXPECT_EQ(fdt_setprop_u32(fdt, chosen, "linux,initrd-start", 0x1000), 0);
    EXPECT_EQ(fdt_setprop_u32(fdt, chosen, "linux,initrd-end", 0x2000), 0);
  }
  EXPECT_EQ(fdt_pack(fdt), 0);
  buf.resize(fdt_totalsize(fdt));
  return buf;
}

uint64_t u64_prop(const std::string& dtb, const char* name) {
  const int chosen = fdt_path_offset(dtb.data(), "/chosen");
  int len = 0;
  const void* p = fdt_getprop(dtb.data(), chosen, name, &len);
  if (p == nullptr || len != 8) return ~0ull;
  return fdt64_ld(static_cast<const fdt64_t*>(p));
}

std::string string_prop(const std::string& dtb, const char* path, const char* name) {
  const int node = fdt_path_offset(dtb.data(), path);
  int len = 0;
  const char* p = static_cast<const char*>(fdt_getprop(dtb.data(), node, name, &len));
  return p == nullptr || len <= 0 ? std::string("<none>") : std::string(p, static_cast<size_t>(len - 1));
}

TEST(WithBootChosen, AddsChosenWithThePackageAndCommandLine) {
  auto out = with_boot_chosen(tree(false), 0x12345, "hyp.trace");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(fdt_check_full(out->data(), out->size()), 0);
  EXPECT_EQ(u64_prop(*out, "linux,initrd-start"), kFirmwarePackageAddress);
  EXPECT_EQ(u64_prop(*out, "linux,initrd-end"), kFirmwarePackageAddress + 0x12345);
  EXPECT_EQ(string_prop(*out, "/chosen", "bootargs"), "hyp.trace");
}

TEST(WithBootChosen, ReplacesWhatChosenHeld) {
  auto out = with_boot_chosen(tree(true), 0x100, "new words");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(u64_prop(*out, "linux,initrd-start"), kFirmwarePackageAddress);
  EXPECT_EQ(u64_prop(*out, "linux,initrd-end"), kFirmwarePackageAddress + 0x100);
  EXPECT_EQ(string_prop(*out, "/chosen", "bootargs"), "new words");
}

TEST(WithBootChosen, NoPackageAndNoCommandLineAddNothing) {
  auto out = with_boot_chosen(tree(false), 0, "");
  ASSERT_TRUE(out.ok()) << out.status();
  const int chosen = fdt_path_offset(out->data(), "/chosen");
  ASSERT_GE(chosen, 0);
  EXPECT_EQ(fdt_getprop(out->data(), chosen, "linux,initrd-start", nullptr), nullptr);
  EXPECT_EQ(fdt_getprop(out->data(), chosen, "bootargs", nullptr), nullptr);
}

TEST(WithBootChosen, RefusesMalformedTrees) {
  EXPECT_FALSE(with_boot_chosen("", 1, "").ok());
  EXPECT_FALSE(with_boot_chosen(std::string(64, '\0'), 1, "").ok());
  std::string t = tree(false);
  EXPECT_FALSE(with_boot_chosen(t.substr(0, t.size() - 8), 1, "").ok());  // shorter than its totalsize
  t[0] ^= 1;
  EXPECT_FALSE(with_boot_chosen(t, 1, "").ok());
}

TEST(DtbDumpCommand, DumpsTheSameMachineWithoutDevicesOrDebugger) {
  QemuOptions o;
  o.kernel = "k";
  o.flash = "f";
  o.firmware = Firmware::kTfa;
  o.smp = 8;
  o.memory = "2G";
  o.gdb = true;
  o.icount = true;
  o.initrd = "p";
  o.dtb = "d";
  o.extra = {"-device", "virtio-rng-device,bus=virtio-mmio-bus.8"};
  auto argv = dtb_dump_command(o, "/out/m.dtb");
  ASSERT_TRUE(argv.ok()) << argv.status();
  const auto has = [&](const std::string& a) { return std::find(argv->begin(), argv->end(), a) != argv->end(); };
  EXPECT_TRUE(has("virt,secure=on,virtualization=on,gic-version=3"));
  EXPECT_TRUE(has("dumpdtb=/out/m.dtb"));
  EXPECT_TRUE(has("8"));
  EXPECT_TRUE(has("2G"));
  for (const char* absent : {"-S", "-icount", "-dtb", "virtio-rng-device,bus=virtio-mmio-bus.8"}) {
    EXPECT_FALSE(has(absent)) << absent;
  }
}

class PrepareFirmwareBoot : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/firmware-test-XXXXXX";
    const char* base = std::getenv("TEST_TMPDIR");
    dir_ = base != nullptr ? std::string(base) : std::string(mkdtemp(tmpl));
    hyp_ = dir_ + "/hyp.bin";
    package_ = dir_ + "/guest.pkg";
    std::ofstream(hyp_) << std::string(4096, 'h');
    std::ofstream(package_) << std::string(100000, 'p');
    // QEMU loads the flash image but runs nothing when it dumps the tree:
    // any file does (the firmware itself runs in the _tfa QEMU tests).
    flash_ = dir_ + "/flash.bin";
    std::ofstream(flash_) << std::string(4096, '\0');
    options_.kernel = hyp_;
    options_.initrd = package_;
    options_.firmware = Firmware::kTfa;
    options_.flash = flash_;
    options_.smp = 8;
    options_.memory = "512M";
    options_.append = "hyp.trace";
  }

  std::string dir_, hyp_, package_, flash_;
  QemuOptions options_;
};

// The real QEMU makes the tree: the one the machine will boot with.
TEST_F(PrepareFirmwareBoot, TheMachinesTreeGetsThePackagesPlace) {
  ASSERT_TRUE(prepare_firmware_boot(options_, dir_).ok());
  ASSERT_EQ(options_.dtb, dir_ + "/boot.dtb");
  std::ifstream in(options_.dtb, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const std::string dtb = bytes.str();
  ASSERT_EQ(fdt_check_full(dtb.data(), dtb.size()), 0);
  EXPECT_EQ(u64_prop(dtb, "linux,initrd-start"), kFirmwarePackageAddress);
  EXPECT_EQ(u64_prop(dtb, "linux,initrd-end"), kFirmwarePackageAddress + 100000);
  EXPECT_EQ(string_prop(dtb, "/chosen", "bootargs"), "hyp.trace");
  int cpus = 0;
  const int cpus_node = fdt_path_offset(dtb.data(), "/cpus");
  int node = 0;
  fdt_for_each_subnode(node, dtb.data(), cpus_node) {
    if (string_prop(dtb, (std::string("/cpus/") + fdt_get_name(dtb.data(), node, nullptr)).c_str(), "device_type") ==
        "cpu") {
      ++cpus;
    }
  }
  EXPECT_EQ(cpus, 8);
  // The secure world's UART is there for the firmware, not for us.
  EXPECT_EQ(string_prop(dtb, "/pl011@9040000", "status"), "disabled");
}

TEST_F(PrepareFirmwareBoot, RefusesAPackageThatDoesNotFitInRam) {
  options_.memory = "128M";  // RAM ends where the package would start
  options_.qemu = "/nonexistent/qemu";
  const auto s = prepare_firmware_boot(options_, dir_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("does not fit in RAM"), std::string::npos) << s;
  EXPECT_TRUE(options_.dtb.empty());
}

TEST_F(PrepareFirmwareBoot, APackageMayEndWhereRamEnds) {
  options_.memory = "129M";  // 1 MiB of RAM from the package's address on
  std::ofstream(package_, std::ios::trunc) << std::string(1 << 20, 'p');
  EXPECT_TRUE(prepare_firmware_boot(options_, dir_).ok());
  options_.dtb.clear();
  std::ofstream(package_, std::ios::app) << 'p';
  EXPECT_FALSE(prepare_firmware_boot(options_, dir_).ok());
  EXPECT_TRUE(options_.dtb.empty());
}

TEST_F(PrepareFirmwareBoot, RefusesAHypervisorThatReachesThePackage) {
  std::ofstream(hyp_, std::ios::trunc) << std::string(kFirmwarePackageAddress - kBl33Address + 1, 'h');
  options_.qemu = "/nonexistent/qemu";
  const auto s = prepare_firmware_boot(options_, dir_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("does not fit below the boot package"), std::string::npos) << s;
}

TEST_F(PrepareFirmwareBoot, ReportsAQemuThatMakesNoTree) {
  options_.qemu = "/bin/false";
  EXPECT_FALSE(prepare_firmware_boot(options_, dir_).ok());
  EXPECT_TRUE(options_.dtb.empty());
}

TEST_F(PrepareFirmwareBoot, LeavesQemusOwnBootAlone) {
  options_.firmware = Firmware::kQemu;
  options_.qemu = "/nonexistent/qemu";
  EXPECT_TRUE(prepare_firmware_boot(options_, dir_).ok());
  EXPECT_TRUE(options_.dtb.empty());
}

}  // namespace
}  // namespace hyp::tools
