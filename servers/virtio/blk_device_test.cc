// virtio-blk through the virtio-mmio transport, as Linux's virtio_blk
// driver uses it and as a hostile guest might: reads and writes however
// the driver splits them, completions in order whatever order the disk
// finishes in, every malformed request refused with its status and the
// disk untouched, a full backend, a reset with requests out, and a new
// server instance that issues again what the old one had out.
#include "servers/virtio/blk_device.h"

#include <gtest/gtest.h>

#include <cstring>
#include <utility>
#include <vector>

#include "servers/virtio/testing/driver.h"
#include "servers/virtio/testing/ram_disk.h"

namespace hyp::virtio {
namespace {

using namespace test_driver;  // the guest's RAM and driver, a disk

constexpr uint32_t kQueue = 16;

class BlkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DiskInfo d;
    d.sectors = kSectors;
    d.flush = true;
    d.discard = true;
    d.max_discard_sectors = 16;
    device_.set_disk(d);
    ASSERT_TRUE(driver_.start(kFeatureVersion1 | blk::kFeatureSegMax | blk::kFeatureFlush | blk::kFeatureDiscard));
  }

  void request(uint16_t slot, uint32_t type, uint64_t sector, std::vector<MmioDriver::Piece> data) {
    offer_request(ram_, driver_, slot, type, sector, std::move(data));
  }
  void offer(const std::vector<MmioDriver::Piece>& pieces, uint16_t first) {
    driver_.offer_chain(pieces.data(), static_cast<uint32_t>(pieces.size()), first);
    driver_.notify();
  }
  uint8_t status(uint16_t slot) { return ram_.peek<uint8_t>(kStatus + slot); }
  uint16_t used() { return driver_.used(); }
  void fill(uint64_t ipa, uint32_t len, uint8_t seed) {
    for (uint32_t i = 0; i < len; ++i) ram_.poke<uint8_t>(ipa + i, static_cast<uint8_t>(seed + i * 7));
  }
  // Every request out finishes; the device is told (as a completion
  // interrupt from the physical disk makes the server do).
  void finish_all() {
    disk_.finish_all();
    t_.run_queue(0);
  }

  GuestRam ram_;
  RamDisk disk_{ram_.memory};
  BlkDevice device_{ram_.memory, disk_, "hyp-disk-0"};
  MmioTransport t_{device_, ram_.memory};
  MmioDriver driver_{t_, ram_, kQueue};
};

TEST_F(BlkTest, DescribesTheDisk) {
  EXPECT_EQ(driver_.r(0x008), BlkDevice::kDeviceId);
  EXPECT_EQ(t_.read(0x100, 8), kSectors) << "capacity";
  EXPECT_EQ(t_.read(0x100 + 12, 4), BlkDevice::kSegMax);
  EXPECT_EQ(t_.read(0x100 + 20, 4), 512u) << "blk_size";
  EXPECT_EQ(t_.read(0x100 + 36, 4), 16u) << "max_discard_sectors";
  EXPECT_EQ(t_.read(0x100 + 40, 4), blk::kMaxDiscardSegments);
  EXPECT_EQ(t_.read(0x100 + BlkDevice::kConfigSize, 4), 0u) << "past the configuration space";
  driver_.w(0x014, 0);
  const uint32_t f = driver_.r(0x010);
  EXPECT_NE(f & blk::kFeatureFlush, 0u);
  EXPECT_NE(f & blk::kFeatureDiscard, 0u);
  EXPECT_EQ(f & blk::kFeatureRo, 0u);
}

TEST_F(BlkTest, WritesAndReadsHoweverTheDriverSplitsThem) {
  fill(kBuf, 1024, 3);
  // Two sectors in three pieces.
  request(0, blk::kOut, 5, {{kBuf, 100, false}, {kBuf + 100, 700, false}, {kBuf + 800, 224, false}});
  ASSERT_EQ(disk_.out.size(), 1u);
  EXPECT_EQ(disk_.out[0].second.count, 3u);
  EXPECT_EQ(disk_.out[0].second.bytes, 1024u);
  EXPECT_EQ(used(), 0) << "not before the disk finished";
  finish_all();
  ASSERT_EQ(used(), 1);
  EXPECT_EQ(status(0), blk::kOk);
  EXPECT_EQ(driver_.used_len(0), 1u) << "a write: only the status written";
  EXPECT_EQ(std::memcmp(&disk_.bytes[5 * 512], ram_.at(kBuf), 1024), 0);

  // Read them back, header and status inside the data's buffers: one
  // readable buffer of header, one writable of data and status.
  ram_.poke<uint32_t>(kHeader + 16, blk::kIn);
  ram_.poke<uint32_t>(kHeader + 20, 0);
  ram_.poke<uint64_t>(kHeader + 24, 5);
  offer({{kHeader + 16, 16, false}, {kBuf + 0x1000, 1025, true}}, 8);
  finish_all();
  ASSERT_EQ(used(), 2);
  EXPECT_EQ(driver_.used_len(1), 1025u) << "data and status";
  EXPECT_EQ(ram_.peek<uint8_t>(kBuf + 0x1000 + 1024), blk::kOk);
  EXPECT_EQ(std::memcmp(ram_.at(kBuf + 0x1000), ram_.at(kBuf), 1024), 0);

  // The header split over two buffers, with the data following in the second.
  fill(kBuf + 0x2000 + 10, 512, 9);
  ram_.poke<uint32_t>(kBuf + 0x2000, blk::kOut);
  ram_.poke<uint32_t>(kBuf + 0x2004, 0);
  ram_.poke<uint64_t>(kBuf + 0x3000, 63);  // the last sector
  std::memcpy(ram_.at(kBuf + 0x3008), ram_.at(kBuf + 0x2000 + 10), 512);
  offer({{kBuf + 0x2000, 8, false}, {kBuf + 0x3000, 8 + 512, false}, {kStatus + 9, 1, true}}, 12);
  finish_all();
  ASSERT_EQ(used(), 3);
  EXPECT_EQ(ram_.peek<uint8_t>(kStatus + 9), blk::kOk);
  EXPECT_EQ(std::memcmp(&disk_.bytes[63 * 512], ram_.at(kBuf + 0x3008), 512), 0);
}

TEST_F(BlkTest, CompletesInTheOrderTakenWhateverOrderTheDiskFinishesIn) {
  for (uint16_t slot = 0; slot < 3; ++slot) request(slot, blk::kIn, slot, {{kBuf + 512 * slot, 512, true}});
  ASSERT_EQ(disk_.out.size(), 3u);
  disk_.finish(2);
  t_.run_queue(0);
  EXPECT_EQ(used(), 0) << "the last finished first: it waits for the others";
  disk_.finish(0);
  t_.run_queue(0);
  ASSERT_EQ(used(), 1);
  EXPECT_EQ(driver_.used_id(0), 0u);
  disk_.finish(0);
  t_.run_queue(0);
  ASSERT_EQ(used(), 3);
  EXPECT_EQ(driver_.used_id(1), 4u);
  EXPECT_EQ(driver_.used_id(2), 8u);
  EXPECT_EQ(device_.in_flight(), 0u);
}

TEST_F(BlkTest, ADiskErrorIsTheRequestsStatus) {
  request(0, blk::kIn, 0, {{kBuf, 512, true}});
  disk_.finish(0, blk::kIoError);
  t_.run_queue(0);
  ASSERT_EQ(used(), 1);
  EXPECT_EQ(status(0), blk::kIoError);
  EXPECT_EQ(driver_.used_len(0), 1u) << "no data claimed";
}

// Each malformed request: refused with its status, in order with the
// others, without reaching the disk.
TEST_F(BlkTest, RefusesMalformedRequestsWithTheirStatus) {
  struct Case {
    const char* what;
    uint32_t type;
    uint64_t sector;
    std::vector<MmioDriver::Piece> data;
    uint8_t status;
  };
  const Case cases[] = {
      {"data not in whole sectors", blk::kOut, 0, {{kBuf, 511, false}}, blk::kIoError},
      {"past the end", blk::kIn, kSectors - 1, {{kBuf, 1024, true}}, blk::kIoError},
      {"a sector that wraps", blk::kIn, ~uint64_t{0}, {{kBuf, 512, true}}, blk::kIoError},
      {"a read with data to read", blk::kIn, 0, {{kBuf, 512, false}}, blk::kIoError},
      {"a flush with data", blk::kFlush, 0, {{kBuf, 512, false}}, blk::kIoError},
      {"an unknown type", 99, 0, {}, blk::kUnsupported},
      {"a discard past the end", blk::kDiscard, 0, {{kBuf + 0x100, 16, false}}, blk::kIoError},
      {"a discard longer than allowed", blk::kDiscard, 0, {{kBuf + 0x110, 16, false}}, blk::kIoError},
      {"a discard of nothing", blk::kDiscard, 0, {{kBuf + 0x120, 16, false}}, blk::kIoError},
      {"a discard not in whole segments", blk::kDiscard, 0, {{kBuf + 0x130, 12, false}}, blk::kIoError},
      {"a write with data to write back", blk::kOut, 0, {{kBuf, 512, false}, {kBuf + 512, 512, true}},
       blk::kIoError},
  };
  ram_.poke<blk::DiscardSegment>(kBuf + 0x100, {kSectors - 2, 4, 0});
  ram_.poke<blk::DiscardSegment>(kBuf + 0x110, {0, 17, 0});
  ram_.poke<blk::DiscardSegment>(kBuf + 0x120, {0, 0, 0});
  ram_.poke<blk::DiscardSegment>(kBuf + 0x130, {0, 1, 0});
  uint16_t n = 0;
  for (const Case& c : cases) {
    const uint16_t slot = n % 4;
    request(slot, c.type, c.sector, c.data);
    ++n;
    ASSERT_EQ(used(), n) << c.what;
    EXPECT_EQ(status(slot), c.status) << c.what;
    EXPECT_EQ(driver_.used_len(static_cast<uint16_t>(n - 1)), 1u) << c.what;
  }
  EXPECT_EQ(disk_.submitted, 0) << "nothing reached the disk";
  EXPECT_EQ(t_.status() & kStatusNeedsReset, 0u) << "refusals are the requests' own, not the device's";
}

TEST_F(BlkTest, AChainWithNoWhereToPutAStatusCompletesWithNothingWritten) {
  ram_.poke<uint32_t>(kHeader, blk::kIn);
  ram_.poke<uint64_t>(kHeader + 8, 0);
  offer({{kHeader, 16, false}}, 0);  // no writable byte at all
  ASSERT_EQ(used(), 1);
  EXPECT_EQ(driver_.used_len(0), 0u);
  offer({{kHeader, 8, false}, {kStatus, 1, true}}, 4);  // a header too short
  ASSERT_EQ(used(), 2);
  EXPECT_EQ(status(0), blk::kIoError);
  EXPECT_EQ(disk_.submitted, 0);
}

TEST_F(BlkTest, ReadOnlyDisksRefuseWritesAndDiscards) {
  DiskInfo d = device_.disk();
  d.read_only = true;
  device_.set_disk(d);
  ASSERT_TRUE(driver_.start(kFeatureVersion1 | blk::kFeatureRo | blk::kFeatureFlush));
  driver_.w(0x014, 0);
  EXPECT_NE(driver_.r(0x010) & blk::kFeatureRo, 0u);
  EXPECT_EQ(driver_.r(0x010) & blk::kFeatureDiscard, 0u) << "no discard on a read-only disk";
  request(0, blk::kOut, 0, {{kBuf, 512, false}});
  EXPECT_EQ(status(0), blk::kIoError);
  ram_.poke<blk::DiscardSegment>(kBuf + 0x100, {0, 1, 0});
  request(1, blk::kDiscard, 0, {{kBuf + 0x100, 16, false}});
  EXPECT_EQ(status(1), blk::kUnsupported);
  request(2, blk::kIn, 0, {{kBuf, 512, true}});
  finish_all();
  EXPECT_EQ(status(2), blk::kOk) << "reads go on";
  EXPECT_EQ(disk_.submitted, 1);
}

TEST_F(BlkTest, FlushDiscardAndIdentify) {
  request(0, blk::kFlush, 0, {});
  ram_.poke<blk::DiscardSegment>(kBuf + 0x100, {8, 4, 1});
  ram_.poke<blk::DiscardSegment>(kBuf + 0x110, {40, 16, 0});
  request(1, blk::kDiscard, 0, {{kBuf + 0x100, 32, false}});
  finish_all();
  ASSERT_EQ(used(), 2);
  EXPECT_EQ(status(0), blk::kOk);
  EXPECT_EQ(status(1), blk::kOk);
  EXPECT_EQ(disk_.flushes, 1);
  ASSERT_EQ(disk_.discarded.size(), 2u);
  EXPECT_EQ(disk_.discarded[1].sector, 40u);
  request(2, blk::kGetId, 0, {{kBuf + 0x200, 20, true}});
  ASSERT_EQ(used(), 3) << "answered by the device itself";
  EXPECT_EQ(status(2), blk::kOk);
  EXPECT_STREQ(reinterpret_cast<const char*>(ram_.at(kBuf + 0x200)), "hyp-disk-0");
  EXPECT_EQ(driver_.used_len(2), 21u);
}

TEST_F(BlkTest, FlushAndDiscardThatWereNotNegotiatedAreUnsupported) {
  ASSERT_TRUE(driver_.start(kFeatureVersion1 | blk::kFeatureSegMax));
  request(0, blk::kFlush, 0, {});
  EXPECT_EQ(status(0), blk::kUnsupported);
  ram_.poke<blk::DiscardSegment>(kBuf + 0x100, {0, 1, 0});
  request(1, blk::kDiscard, 0, {{kBuf + 0x100, 16, false}});
  EXPECT_EQ(status(1), blk::kUnsupported);
  EXPECT_EQ(disk_.submitted, 0);
}

TEST_F(BlkTest, AFullDiskTakesRequestsLaterInOrder) {
  disk_.room = 1;
  for (uint16_t slot = 0; slot < 3; ++slot) request(slot, blk::kIn, slot, {{kBuf + 512 * slot, 512, true}});
  EXPECT_EQ(disk_.submitted, 1);
  EXPECT_EQ(device_.in_flight(), 2u) << "one taken and waiting for room; no more taken meanwhile";
  for (int round = 0; round < 3; ++round) {
    disk_.finish_all();
    t_.run_queue(0);
  }
  ASSERT_EQ(used(), 3);
  EXPECT_EQ(disk_.submitted, 3);
  for (uint16_t i = 0; i < 3; ++i) EXPECT_EQ(driver_.used_id(i), 4u * i);
}

TEST_F(BlkTest, AResetCancelsWhatIsOutAndItNeverCompletes) {
  request(0, blk::kIn, 0, {{kBuf, 512, true}});
  ASSERT_EQ(disk_.out.size(), 1u);
  driver_.w(0x070, 0);  // reset
  EXPECT_EQ(disk_.cancels, 1);
  EXPECT_TRUE(disk_.out.empty());
  ASSERT_TRUE(driver_.start(kFeatureVersion1 | blk::kFeatureSegMax));
  ram_.clear(kRamSize);  // the driver's rings start again from zero
  ASSERT_TRUE(driver_.start(kFeatureVersion1 | blk::kFeatureSegMax));
  request(1, blk::kIn, 1, {{kBuf, 512, true}});
  finish_all();
  ASSERT_EQ(used(), 1);
  EXPECT_EQ(driver_.used_id(0), 4u) << "only the new request";
}

// A new server instance resumes from the transport state: what the old one
// had out is issued again and completed once; what it completed is not.
TEST_F(BlkTest, ANewInstanceIssuesAgainWhatWasOutAndCompletesItOnce) {
  TransportState saved{};
  MmioTransport first{device_, ram_.memory};
  first.attach(&saved, false);
  MmioDriver driver{first, ram_, kQueue};
  ASSERT_TRUE(driver.start(kFeatureVersion1 | blk::kFeatureSegMax));
  fill(kBuf, 512, 1);
  fill(kBuf + 512, 512, 2);
  ram_.poke<uint32_t>(kHeader, blk::kOut);
  ram_.poke<uint64_t>(kHeader + 8, 0);
  driver.offer_chain(std::vector<MmioDriver::Piece>{{kHeader, 16, false}, {kBuf, 512, false}, {kStatus, 1, true}}.data(),
                     3, 0);
  ram_.poke<uint32_t>(kHeader + 16, blk::kOut);
  ram_.poke<uint64_t>(kHeader + 24, 1);
  driver.offer_chain(
      std::vector<MmioDriver::Piece>{{kHeader + 16, 16, false}, {kBuf + 512, 512, false}, {kStatus + 1, 1, true}}.data(),
      3, 4);
  driver.notify();
  disk_.finish(0);
  first.run_queue(0);
  ASSERT_EQ(used(), 1) << "the first completed";
  ASSERT_EQ(disk_.out.size(), 1u) << "the second out when the server fails";

  RamDisk disk{ram_.memory};
  disk.bytes = disk_.bytes;
  BlkDevice device{ram_.memory, disk, "hyp-disk-0"};
  device.set_disk(device_.disk());
  MmioTransport second{device, ram_.memory};
  second.attach(&saved, true);
  second.run_queue(0);
  ASSERT_EQ(disk.out.size(), 1u) << "issued again";
  EXPECT_EQ(disk.out[0].second.sector, 1u);
  disk.finish_all();
  second.run_queue(0);
  ASSERT_EQ(used(), 2);
  EXPECT_EQ(driver_.used_id(1), 4u);
  second.run_queue(0);
  EXPECT_EQ(used(), 2) << "once";
  EXPECT_EQ(disk.submitted, 1) << "the completed write was not issued again";
  EXPECT_EQ(std::memcmp(&disk.bytes[512], ram_.at(kBuf + 512), 512), 0);
}

}  // namespace
}  // namespace hyp::virtio
