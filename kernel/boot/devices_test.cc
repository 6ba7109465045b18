// Which devices of QEMU's virt machine (its own device tree, as the kernel
// reads it) a server may be given.
#include "kernel/boot/devices.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace hyp {
namespace {

class DevicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in("kernel/boot/testdata/qemu_virt.dtb", std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    ASSERT_FALSE(bytes.empty());
    words_.resize((bytes.size() + 7) / 8);
    std::memcpy(words_.data(), bytes.data(), bytes.size());
    DtbError error;
    auto info = parse_boot_dtb(words_.data(), bytes.size(), error);
    ASSERT_TRUE(info.ok()) << error.what;
    info_ = *info;
  }

  const HostDevice* at(uint64_t base) const {
    for (size_t i = 0; i < info_.device_count; ++i) {
      if (info_.devices[i].reg.base == Pa(base)) return &info_.devices[i];
    }
    return nullptr;
  }

  // A server given `regions` and `irqs`: why it may not have them, or "".
  std::string refused(std::vector<std::pair<uint64_t, uint64_t>> regions, std::vector<uint32_t> irqs) const {
    PackagedPartition p;
    p.kind = PackagedKind::kServer;
    for (const auto& [base, size] : regions) p.device_regions[p.device_region_count++] = {Pa(base), size};
    for (uint32_t irq : irqs) p.device_irqs[p.device_irq_count++] = irq;
    const char* why = "";
    return check_device_access(info_, p, why) == Status::kOk ? "" : why;
  }

  std::vector<uint64_t> words_;
  BootInfo info_;
};

TEST_F(DevicesTest, TheMachinesDevicesAreFoundWithTheirSpis) {
  ASSERT_NE(at(0x900'0000), nullptr) << "the PL011";
  EXPECT_EQ(at(0x900'0000)->reg.size, 0x1000u);
  EXPECT_EQ(at(0x900'0000)->irq, 33u);
  ASSERT_NE(at(0x901'0000), nullptr) << "the PL031";
  EXPECT_EQ(at(0x901'0000)->irq, 34u);
  for (uint64_t n = 0; n < 32; ++n) {
    const HostDevice* d = at(0xa00'0000 + n * 0x200);
    ASSERT_NE(d, nullptr) << "virtio-mmio transport " << n;
    EXPECT_EQ(d->reg.size, 0x200u);
    EXPECT_EQ(d->irq, 48 + n) << "SPI 16 + n";
  }
  ASSERT_NE(at(0x902'0000), nullptr) << "fw-cfg";
  EXPECT_EQ(at(0x902'0000)->irq, 0u) << "no interrupt";
  EXPECT_EQ(at(0x800'0000), nullptr) << "not the GIC";
  EXPECT_EQ(at(0x4000'0000), nullptr) << "not RAM";
  EXPECT_EQ(info_.devices_ignored, 0u);
}

TEST_F(DevicesTest, WholeDevicesAndTheirInterruptsMayBeGiven) {
  EXPECT_EQ(refused({{0x900'0000, 0x1000}}, {33}), "");
  // A page of eight virtio-mmio transports, and any of their interrupts.
  EXPECT_EQ(refused({{0xa00'0000, 0x1000}}, {48, 49, 55}), "");
  EXPECT_EQ(refused({{0xa00'0000, 0x1000}, {0xa00'1000, 0x1000}}, {56}), "");
  EXPECT_EQ(refused({{0xa00'2000, 0x2000}}, {}), "") << "two pages at once";
  EXPECT_EQ(refused({}, {}), "") << "nothing";
}

TEST_F(DevicesTest, AnythingElseIsRefused) {
  EXPECT_EQ(refused({{0x4000'0000, 0x1000}}, {}), "device memory over RAM");
  EXPECT_EQ(refused({{0x800'0000, 0x1000}}, {}), "device memory over the GIC");
  EXPECT_EQ(refused({{0x80a'0000, 0x1000}}, {}), "device memory over the GIC") << "a redistributor";
  EXPECT_EQ(refused({{0x0, 0x1000}}, {}), "device memory splits a device") << "the first page of the flash";
  EXPECT_EQ(refused({{0xb00'0000, 0x1000}}, {}), "device memory with a page that holds no device");
  EXPECT_EQ(refused({{0x900'0000, 0x2000}}, {}), "device memory with a page that holds no device")
      << "the UART and the empty page after it";
  EXPECT_EQ(refused({{0xa00'0000, 0x1000}}, {56}), "a device interrupt of no device the server is given")
      << "transport 8 is on the next page";
  EXPECT_EQ(refused({{0xa00'0000, 0x1000}}, {33}), "a device interrupt of no device the server is given");
  EXPECT_EQ(refused({}, {48}), "a device interrupt of no device the server is given");
  EXPECT_EQ(refused({{0x902'0000, 0x1000}}, {0}), "a device interrupt of no device the server is given")
      << "fw-cfg has none";
}

}  // namespace
}  // namespace hyp
