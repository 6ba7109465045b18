#include "tools/qemu/qemu_command.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace hyp::tools {
namespace {

bool has_pair(const std::vector<std::string>& argv, const std::string& a, const std::string& b) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == a && argv[i + 1] == b) return true;
  }
  return false;
}

TEST(QemuCommand, DescribesTheVirtMachineWithVirtualization) {
  QemuOptions o;
  o.kernel = "kernel.bin";
  auto argv = qemu_command(o);
  ASSERT_TRUE(argv.ok());
  EXPECT_EQ((*argv)[0], "qemu-system-aarch64");
  EXPECT_TRUE(has_pair(*argv, "-M", "virt,virtualization=on,gic-version=3"));
  EXPECT_TRUE(has_pair(*argv, "-global", "virtio-mmio.force-legacy=false"));
  EXPECT_TRUE(has_pair(*argv, "-cpu", "max"));
  EXPECT_TRUE(has_pair(*argv, "-smp", "4"));
  EXPECT_TRUE(has_pair(*argv, "-kernel", "kernel.bin"));
  EXPECT_NE(std::find(argv->begin(), argv->end(), "-nographic"), argv->end());
}

TEST(QemuCommand, TestModeUsesPlainSerialAndOptionsMapToQemuFlags) {
  QemuOptions o;
  o.kernel = "k";
  o.interactive = false;
  o.smp = 2;
  o.memory = "512M";
  o.append = "hyp.fault_test";
  o.icount = true;
  o.gdb = true;
  auto argv = qemu_command(o);
  ASSERT_TRUE(argv.ok());
  EXPECT_TRUE(has_pair(*argv, "-serial", "stdio"));
  EXPECT_TRUE(has_pair(*argv, "-monitor", "none"));
  EXPECT_TRUE(has_pair(*argv, "-smp", "2"));
  EXPECT_TRUE(has_pair(*argv, "-m", "512M"));
  EXPECT_TRUE(has_pair(*argv, "-append", "hyp.fault_test"));
  EXPECT_TRUE(has_pair(*argv, "-icount", "shift=0,sleep=off"));
  EXPECT_TRUE(has_pair(*argv, "-s", "-S"));
  EXPECT_EQ(std::find(argv->begin(), argv->end(), "-nographic"), argv->end());
}

TEST(QemuCommand, BareRunStartsTheKernelAtEl1WithTheGivenDeviceTree) {
  QemuOptions o;
  o.kernel = "Image";
  o.virtualization = false;
  o.dtb = "guest.dtb";
  auto argv = qemu_command(o);
  ASSERT_TRUE(argv.ok());
  EXPECT_TRUE(has_pair(*argv, "-M", "virt,gic-version=3"));
  EXPECT_TRUE(has_pair(*argv, "-dtb", "guest.dtb"));
  EXPECT_TRUE(has_pair(*argv, "-kernel", "Image"));
  o.dtb.clear();
  argv = qemu_command(o);
  ASSERT_TRUE(argv.ok());
  EXPECT_EQ(std::find(argv->begin(), argv->end(), "-dtb"), argv->end());
}

TEST(QemuCommand, RejectsOutOfRangeOptions) {
  QemuOptions o;
  EXPECT_FALSE(qemu_command(o).ok());  // no kernel
  o.kernel = "k";
  o.smp = 0;
  EXPECT_FALSE(qemu_command(o).ok());
  o.smp = 9;
  EXPECT_FALSE(qemu_command(o).ok());
  o.smp = 1;
  for (const char* bad : {"", "G", "-1G", "lots", "0M"}) {
    o.memory = bad;
    EXPECT_FALSE(qemu_command(o).ok()) << bad;
  }
}

TEST(MemoryBytes, ReadsQemusSpelling) {
  EXPECT_EQ(memory_bytes("512M"), 512ull << 20);
  EXPECT_EQ(memory_bytes("2g"), 2ull << 30);
  EXPECT_EQ(memory_bytes("300"), 300ull << 20);
  for (const char* bad : {"", "G", "-1G", "1.5G", "lots", "0M", "8589934592G"}) {
    EXPECT_EQ(memory_bytes(bad), 0u) << bad;
  }
}

TEST(ShellLine, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(shell_line({"qemu", "-append", "a b", "it's"}), "qemu -append 'a b' 'it'\\''s'");
}

TEST(QemuCommand, TfaBootsFromFlashWithTheHypervisorAndPackageLoadedIntoRam) {
  QemuOptions o;
  o.kernel = "/x/kernel.bin";
  o.initrd = "/dir,with,commas/guest.pkg";
  o.append = "hyp.trace";
  o.dtb = "/d/boot.dtb";
  o.firmware = Firmware::kTfa;
  o.flash = "/t/flash.bin";
  auto argv = qemu_command(o);
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_TRUE(has_pair(*argv, "-M", "virt,secure=on,virtualization=on,gic-version=3"));
  EXPECT_TRUE(has_pair(*argv, "-bios", "/t/flash.bin"));
  EXPECT_TRUE(has_pair(*argv, "-device", "loader,file=/x/kernel.bin,addr=0x40200000,force-raw=on"));
  EXPECT_TRUE(has_pair(*argv, "-device", "loader,file=/dir,,with,,commas/guest.pkg,addr=0x48000000,force-raw=on"));
  EXPECT_TRUE(has_pair(*argv, "-dtb", "/d/boot.dtb"));
  // QEMU refuses these without -kernel; the device tree carries them.
  for (const char* absent : {"-kernel", "-initrd", "-append"}) {
    EXPECT_EQ(std::find(argv->begin(), argv->end(), absent), argv->end()) << absent;
  }
}

TEST(QemuCommand, TfaRefusesWhatItCannotBoot) {
  QemuOptions o;
  o.kernel = "k";
  o.firmware = Firmware::kTfa;
  EXPECT_FALSE(qemu_command(o).ok());  // no flash
  o.flash = "f";
  EXPECT_TRUE(qemu_command(o).ok());  // the hypervisor alone needs no device tree of ours
  o.initrd = "p";
  EXPECT_FALSE(qemu_command(o).ok());  // a package nothing tells the hypervisor about
  o.initrd.clear();
  o.append = "a";
  EXPECT_FALSE(qemu_command(o).ok());  // a command line likewise
  o.dtb = "d";
  EXPECT_TRUE(qemu_command(o).ok());
  o.virtualization = false;
  EXPECT_FALSE(qemu_command(o).ok());  // --bare has no hypervisor to start
}

}  // namespace
}  // namespace hyp::tools
