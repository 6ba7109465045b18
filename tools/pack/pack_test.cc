#include "tools/pack/pack.h"

#include <gtest/gtest.h>
#include <libfdt.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "bootpkg/format.h"

namespace hyp::tools {
namespace {

constexpr uint64_t kRam = package::kDefaultRamIpa;

// A minimal arm64 Image: the header's text_offset, image_size and magic.
std::string fake_image(uint64_t text_offset, uint64_t image_size, size_t file_size) {
  std::string img(file_size, '\x5a');
  for (size_t i = 0; i < 8; ++i) {
    img[8 + i] = static_cast<char>(text_offset >> (8 * i));
    img[16 + i] = static_cast<char>(image_size >> (8 * i));
  }
  std::memcpy(img.data() + 56, "ARM\x64", 4);
  return img;
}

// A flat binary as bare-metal test kernels are: code from the first byte,
// no header ("b ." then filler).
std::string raw_binary(size_t size) {
  std::string bin(size, '\0');
  std::memcpy(bin.data(), "\x00\x00\x00\x14", 4);
  return bin;
}

std::string write_temp(const std::string& name, const std::string& content) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

uint64_t u64_prop(const void* fdt, int node, const char* name) {
  int len = 0;
  const void* v = fdt_getprop(fdt, node, name, &len);
  return v != nullptr && len == 8 ? fdt64_ld(static_cast<const fdt64_t*>(v)) : ~uint64_t{0};
}

// A raw binary without the Image header goes where QEMU's -kernel puts it on
// AArch64: RAM base + 0x80000, entered at its first byte.
TEST(PackRawBinary, BuildPackagePlacesItAtRamPlus512KiB) {
  VmSpec vm;
  vm.name = "flat";
  vm.memory = 16ull << 20;
  vm.kernel = write_temp("flat.bin", raw_binary(300));
  auto pkg = build_package({{vm}});
  ASSERT_TRUE(pkg.ok()) << pkg.status();
  const void* fdt = pkg->data();
  const int node = fdt_path_offset(fdt, "/partitions/flat");
  ASSERT_GE(node, 0);
  EXPECT_EQ(u64_prop(fdt, node, package::kPropEntry), kRam + 0x80000);
  const int load = fdt_subnode_offset(fdt, node, "load-0");
  ASSERT_GE(load, 0);
  EXPECT_EQ(u64_prop(fdt, load, package::kPropIpa), kRam + 0x80000);
  int len = 0;
  const void* data = fdt_getprop(fdt, load, package::kPropData, &len);
  ASSERT_EQ(len, 300);
  EXPECT_EQ(std::memcmp(data, raw_binary(300).data(), 300), 0) << "copied as it is";
}

TEST(KernelFormat, ToldApartAsQemuDoes) {
  EXPECT_EQ(kernel_format(fake_image(0, 0x10000, 0x1000)), KernelFormat::kImage);
  EXPECT_EQ(kernel_format(raw_binary(4096)), KernelFormat::kRawBinary);
  EXPECT_EQ(kernel_format(raw_binary(4)), KernelFormat::kRawBinary) << "a few instructions are a kernel too";
  EXPECT_EQ(kernel_format(std::string("\177ELF\x02\x01\x01\x00", 8) + std::string(100, '\0')), KernelFormat::kElf);
  EXPECT_EQ(kernel_format(std::string("\x27\x05\x19\x56", 4) + std::string(100, '\0')), KernelFormat::kUImage);
  EXPECT_EQ(kernel_format(std::string("\x1f\x8b\x08\x00", 4) + std::string(100, '\0')), KernelFormat::kGzip);
  EXPECT_EQ(kernel_format(""), KernelFormat::kEmpty);
  // The magic in a file too short to hold it after offset 56 is not a header.
  EXPECT_EQ(kernel_format(fake_image(0, 0x10000, 64).substr(0, 60)), KernelFormat::kRawBinary);
}

TEST(PlaceKernel, RawBinaryAtRamPlus512KiBImageByItsHeader) {
  auto raw = place_kernel(raw_binary(0x3000), kRam, 16ull << 20, 0x1000);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->kernel_ipa, kRam + 0x80000);
  EXPECT_EQ(raw->dtb_ipa, kRam + (14ull << 20));
  EXPECT_EQ(raw->initrd_ipa, kRam + (14ull << 20) - 0x1000);
  auto image = place_kernel(fake_image(0, 0x10000, 0x1000), kRam, 16ull << 20, 0);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->kernel_ipa, kRam);
  // The header's own text_offset still counts.
  auto offset = place_kernel(fake_image(0x80000, 0x10000, 0x1000), kRam, 16ull << 20, 0);
  ASSERT_TRUE(offset.ok()) << offset.status();
  EXPECT_EQ(offset->kernel_ipa, kRam + 0x80000);
  // A raw binary must fit with its device tree like an Image.
  EXPECT_FALSE(place_kernel(raw_binary(15ull << 20), kRam, 16ull << 20, 0).ok());
}

TEST(PlaceKernel, RefusesWhatItCannotEnterWithADeviceTree) {
  const auto message = [](const std::string& kernel) {
    auto l = place_kernel(kernel, kRam, 16ull << 20, 0);
    return l.ok() ? std::string("accepted") : std::string(l.status().message());
  };
  const std::string elf = message(std::string("\177ELF\x02\x01\x01\x00", 8) + std::string(100, '\0'));
  EXPECT_NE(elf.find("is an ELF file"), std::string::npos) << elf;
  EXPECT_NE(elf.find("llvm-objcopy -O binary"), std::string::npos) << elf;
  EXPECT_NE(message(std::string("\x1f\x8b\x08\x00", 4) + std::string(100, '\0')).find("gzip"), std::string::npos);
  EXPECT_NE(message(std::string("\x27\x05\x19\x56", 4) + std::string(100, '\0')).find("U-Boot"), std::string::npos);
  EXPECT_NE(message("").find("empty"), std::string::npos);
}

// place_guest stays the Image-only placement it was.
TEST(PlaceGuest, StillRefusesAFileWithoutTheHeader) {
  EXPECT_FALSE(place_guest(raw_binary(100), kRam, 16ull << 20, 0).ok());
}

// The console a guest gets from the UART server: a PL011 as QEMU's virt
// describes it (registers, SPI 1 level-high, the 24 MHz clock) and
// /chosen/stdout-path naming it.
TEST(PackGuestDtb, Pl011DescribedAsQemuVirtDoes) {
  VmSpec vm;
  vm.name = "guest";
  vm.devices.push_back({"serial", "uart", "pl011", 0x0900'0000, 0});
  auto layout = place_guest(fake_image(0, 0x10000, 0x1000), kRam, 16ull << 20, 0);
  ASSERT_TRUE(layout.ok()) << layout.status();
  auto dtb = make_guest_dtb(vm, *layout, 0);
  ASSERT_TRUE(dtb.ok()) << dtb.status();
  const void* fdt = dtb->data();
  const int uart = fdt_path_offset(fdt, "/pl011@9000000");
  ASSERT_GE(uart, 0);
  EXPECT_EQ(fdt_node_check_compatible(fdt, uart, "arm,pl011"), 0);
  EXPECT_EQ(fdt_node_check_compatible(fdt, uart, "arm,primecell"), 0);
  int len = 0;
  const auto* reg = static_cast<const fdt32_t*>(fdt_getprop(fdt, uart, "reg", &len));
  ASSERT_EQ(len, 16);
  EXPECT_EQ(fdt32_ld(&reg[1]), 0x0900'0000u);
  EXPECT_EQ(fdt32_ld(&reg[3]), 0x1000u);
  const auto* irq = static_cast<const fdt32_t*>(fdt_getprop(fdt, uart, "interrupts", &len));
  ASSERT_EQ(len, 12) << "interrupts = <GIC_SPI 1 IRQ_TYPE_LEVEL_HIGH>, as on QEMU's virt";
  EXPECT_EQ(fdt32_ld(&irq[0]), 0u);
  EXPECT_EQ(fdt32_ld(&irq[1]), 1u);
  EXPECT_EQ(fdt32_ld(&irq[2]), 4u);
  const auto* clocks = static_cast<const fdt32_t*>(fdt_getprop(fdt, uart, "clocks", &len));
  ASSERT_EQ(len, 8);
  const int clock = fdt_node_offset_by_phandle(fdt, fdt32_ld(&clocks[0]));
  ASSERT_GE(clock, 0);
  EXPECT_EQ(fdt_node_check_compatible(fdt, clock, "fixed-clock"), 0);
  const char* stdout_path =
      static_cast<const char*>(fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "stdout-path", nullptr));
  ASSERT_NE(stdout_path, nullptr);
  EXPECT_STREQ(stdout_path, "/pl011@9000000");
}

}  // namespace
}  // namespace hyp::tools
