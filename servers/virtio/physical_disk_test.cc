// The block server's two halves stacked on the host: the guest's
// virtio-blk device model on a PhysicalDisk, whose "physical" virtio-blk
// device is this project's own transport and block model over a disk in
// memory. One buffer is both the guest's RAM and physical memory (PA =
// IPA), so what the lower device is handed shows whether data was copied.
#include "servers/virtio/physical_disk.h"

#include <gtest/gtest.h>

#include <cstring>
#include <utility>
#include <vector>

#include "servers/virtio/mmio_registers.h"
#include "servers/virtio/testing/driver.h"
#include "servers/virtio/testing/ram_disk.h"

namespace hyp::virtio {
namespace {

using namespace test_driver;  // the guest's RAM and driver, a disk

constexpr uint32_t kQueue = 16;
constexpr uint64_t kPool = kRam + 0x80000;  // the server's DMA pool
constexpr uint64_t kPoolSize = 0x40000;
constexpr uint64_t kNoDma = kData + 0x8000;  // a page the test says has no physical address

class TransportRegisters final : public Registers {
 public:
  explicit TransportRegisters(MmioTransport& t) : t_(t) {}
  uint32_t read32(uint32_t offset) override { return static_cast<uint32_t>(t_.read(offset, 4)); }
  void write32(uint32_t offset, uint32_t value) override {
    if (offset == reg::kQueueNotify && hold) return;  // the device looks later
    t_.write(offset, 4, value);
  }
  bool hold = false;

 private:
  MmioTransport& t_;
};

class Identity final : public GuestDma {
 public:
  uint64_t physical(uint64_t ipa, uint64_t len) const override {
    if (ipa < kNoDma + 0x1000 && kNoDma < ipa + len) return 0;
    return ipa;
  }
};

class PhysicalDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DiskInfo d;
    d.sectors = kSectors;
    d.flush = true;
    d.discard = true;
    d.max_discard_sectors = 8;
    d.max_discard_segments = 2;
    lower_.set_disk(d);
    ASSERT_EQ(disk_.start(regs_, pool_, dma_), PhysicalDevice::Start::kOk);
    upper_.set_disk(disk_.info());
    ASSERT_TRUE(driver_.start(kFeatureVersion1 | blk::kFeatureSegMax | blk::kFeatureFlush | blk::kFeatureDiscard));
  }

  void request(uint16_t slot, uint32_t type, uint64_t sector, std::vector<MmioDriver::Piece> data) {
    offer_request(ram_, driver_, slot, type, sector, std::move(data));
  }
  uint8_t status(uint16_t slot) { return ram_.peek<uint8_t>(kStatus + slot); }
  // The disk finishes everything; its interrupt makes the server look.
  void finish_all() {
    ram_disk_.finish_all();
    lower_t_.run_queue(0);
    upper_t_.run_queue(0);
  }

  GuestRam ram_;
  RamDisk ram_disk_{ram_.memory};
  BlkDevice lower_{ram_.memory, ram_disk_, "physical"};
  MmioTransport lower_t_{lower_, ram_.memory};
  TransportRegisters regs_{lower_t_};
  Identity dma_;
  DmaMemory pool_{ram_.at(kPool), kPool, kPoolSize};
  PhysicalDisk disk_;
  BlkDevice upper_{ram_.memory, disk_, "hyp-disk-0"};
  MmioTransport upper_t_{upper_, ram_.memory};
  MmioDriver driver_{upper_t_, ram_, kQueue};
};

TEST_F(PhysicalDiskTest, TheGuestSeesThePhysicalDisk) {
  const DiskInfo d = disk_.info();
  EXPECT_EQ(d.sectors, kSectors);
  EXPECT_TRUE(d.flush);
  EXPECT_TRUE(d.discard);
  EXPECT_EQ(d.max_discard_sectors, 8u);
  EXPECT_EQ(d.max_discard_segments, 2u);
  EXPECT_FALSE(d.read_only);
  EXPECT_EQ(upper_t_.read(0x100, 8), kSectors);
  EXPECT_EQ(upper_t_.read(0x100 + 40, 4), 2u) << "the physical disk's discard segments";
  EXPECT_GT(pool_.pa, kPool) << "the backend's memory was carved from the pool";
}

TEST_F(PhysicalDiskTest, DataGoesBetweenTheGuestsBuffersAndTheDiskWithoutACopy) {
  for (uint32_t i = 0; i < 1536; ++i) ram_.poke<uint8_t>(kBuf + i, static_cast<uint8_t>(i * 13 + 1));
  request(0, blk::kOut, 7, {{kBuf, 1024, false}, {kBuf + 1024, 512, false}});
  ASSERT_EQ(ram_disk_.out.size(), 1u);
  const BlockRequest& lower = ram_disk_.out[0].second;
  EXPECT_EQ(lower.type, blk::kOut);
  EXPECT_EQ(lower.sector, 7u);
  ASSERT_EQ(lower.count, 2u);
  EXPECT_EQ(lower.data[0].ipa, kBuf) << "the guest's own buffer, not a copy";
  EXPECT_EQ(lower.data[1].ipa, kBuf + 1024);
  finish_all();
  ASSERT_EQ(driver_.used(), 1);
  EXPECT_EQ(status(0), blk::kOk);
  EXPECT_EQ(std::memcmp(&ram_disk_.bytes[7 * 512], ram_.at(kBuf), 1536), 0);

  request(1, blk::kIn, 7, {{kBuf + 0x2000, 1536, true}});
  finish_all();
  ASSERT_EQ(driver_.used(), 2);
  EXPECT_EQ(status(1), blk::kOk);
  EXPECT_EQ(driver_.used_len(1), 1537u);
  EXPECT_EQ(std::memcmp(ram_.at(kBuf + 0x2000), ram_.at(kBuf), 1536), 0);
}

// The disk is told the request as the device model checked it: the header
// it reads is the server's copy, so a guest that rewrites its header after
// the check (here, to another sector) changes nothing.
TEST_F(PhysicalDiskTest, TheDiskReadsTheServersCopyOfTheHeader) {
  regs_.hold = true;  // the physical device has not looked at its ring yet
  request(0, blk::kOut, 3, {{kBuf, 512, false}});
  ASSERT_TRUE(ram_disk_.out.empty());
  ram_.poke<uint64_t>(kHeader + 8, 60);
  ram_.poke<uint32_t>(kHeader, blk::kIn);
  lower_t_.run_queue(0);
  ASSERT_EQ(ram_disk_.out.size(), 1u);
  EXPECT_EQ(ram_disk_.out[0].second.type, blk::kOut);
  EXPECT_EQ(ram_disk_.out[0].second.sector, 3u);
}

TEST_F(PhysicalDiskTest, FlushesAndDiscardsReachTheDisk) {
  request(0, blk::kFlush, 0, {});
  ram_.poke<blk::DiscardSegment>(kBuf, {4, 8, 0});
  ram_.poke<blk::DiscardSegment>(kBuf + 16, {20, 2, 1});
  request(1, blk::kDiscard, 0, {{kBuf, 32, false}});
  finish_all();
  ASSERT_EQ(driver_.used(), 2);
  EXPECT_EQ(status(0), blk::kOk);
  EXPECT_EQ(status(1), blk::kOk);
  EXPECT_EQ(ram_disk_.flushes, 1);
  ASSERT_EQ(ram_disk_.discarded.size(), 2u);
  EXPECT_EQ(ram_disk_.discarded[1].sector, 20u);
  EXPECT_EQ(ram_disk_.discarded[1].sectors, 2u);
}

TEST_F(PhysicalDiskTest, DataWithoutAPhysicalAddressFailsItsRequest) {
  request(0, blk::kIn, 0, {{kNoDma, 512, true}});
  EXPECT_TRUE(ram_disk_.out.empty()) << "never handed to the disk";
  upper_t_.run_queue(0);
  ASSERT_EQ(driver_.used(), 1);
  EXPECT_EQ(status(0), blk::kIoError);
}

TEST_F(PhysicalDiskTest, AResetOfTheGuestsDeviceResetsThePhysicalOne) {
  request(0, blk::kIn, 0, {{kBuf, 512, true}});
  ASSERT_EQ(ram_disk_.out.size(), 1u);
  driver_.w(0x070, 0);
  EXPECT_EQ(ram_disk_.cancels, 1) << "the physical device was reset, dropping what it had";
  EXPECT_NE(lower_t_.status() & kStatusDriverOk, 0u) << "and started again";
  ram_.clear(0x10000);
  ASSERT_TRUE(driver_.start(kFeatureVersion1 | blk::kFeatureSegMax));
  request(1, blk::kIn, 1, {{kBuf, 512, true}});
  finish_all();
  ASSERT_EQ(driver_.used(), 1);
  EXPECT_EQ(driver_.used_id(0), 4u);
  EXPECT_EQ(status(1), blk::kOk);
}

TEST_F(PhysicalDiskTest, AReadOnlyDiskIsReadOnlyForTheGuest) {
  DiskInfo d = lower_.disk();
  d.read_only = true;
  lower_.set_disk(d);
  DmaMemory pool{ram_.at(kPool), kPool, kPoolSize};
  PhysicalDisk disk;
  ASSERT_EQ(disk.start(regs_, pool, dma_), PhysicalDevice::Start::kOk);
  EXPECT_TRUE(disk.info().read_only);
  EXPECT_FALSE(disk.info().discard) << "the lower device offers no discard on a read-only disk";
}

}  // namespace
}  // namespace hyp::virtio
