#include "kernel/partition/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "kernel/arch/fake/fake.h"

namespace hyp {
namespace {

constexpr uint64_t k2M = 2ull << 20;

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    arch::fake::reset();
    tables_.add(table_memory_.base(), table_memory_.pages());
    ASSERT_EQ(phys_.add(ram_.base(), ram_.pages() * kPageSize), Status::kOk);
    auto el2 = PageTable::create(tables_, arch::mm::Regime::kEl2);
    ASSERT_TRUE(el2.ok());
    el2_ = *el2;
    std::strcpy(image_.name.data(), "guest");
    image_.vcpus = 2;
    image_.ram_ipa = Ipa(0x4000'0000);
    image_.ram_size = 2 * k2M;
    image_.entry = Ipa(0x4000'0000);
    image_.dtb = Ipa(0x4020'0000);
    image_.loads[0] = {Ipa(0x4000'0000), reinterpret_cast<const uint8_t*>(kernel_.data()), kernel_.size()};
    image_.loads[1] = {Ipa(0x4020'0000), reinterpret_cast<const uint8_t*>(dtb_.data()), dtb_.size()};
    image_.load_count = 2;
  }

  const uint8_t* guest_byte(const Partition& p, uint64_t ipa) {
    auto pa = p.translate(Ipa(ipa), false);
    EXPECT_TRUE(pa.ok());
    return static_cast<const uint8_t*>(arch::mm::phys_to_virt(*pa));
  }

  // RAM for partitions: 2 MiB aligned within the fake physical space.
  arch::fake::PhysMemory ram_{4 * 512};
  arch::fake::PhysMemory table_memory_{32};
  PagePool tables_;
  PhysAllocator phys_;
  PageTable el2_;
  LoaderEnv env_{tables_, phys_, el2_};
  std::string kernel_ = "KERNEL-IMAGE";
  std::string dtb_ = "DEVICE-TREE";
  PackagedPartition image_;
};

TEST_F(LoaderTest, CreatesARunningPartitionWithItsImagesInPlace) {
  Partition p;
  const char* why = "";
  ASSERT_EQ(create_partition(image_, 3, p, env_, why), Status::kOk) << why;
  EXPECT_EQ(p.state, PartitionState::kRunning);
  EXPECT_EQ(p.vmid, 3);
  EXPECT_STREQ(p.name.data(), "guest");
  EXPECT_EQ(std::memcmp(guest_byte(p, 0x4000'0000), "KERNEL-IMAGE", 12), 0);
  EXPECT_EQ(std::memcmp(guest_byte(p, 0x4020'0000), "DEVICE-TREE", 11), 0);
  auto t = p.stage2.translate(0x4000'0000);
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(t->attrs.exec && t->attrs.write);
  EXPECT_EQ(t->attrs.state, arch::mm::PageState::kOwned);
  EXPECT_FALSE(p.stage2.translate(0x4040'0000).has_value()) << "nothing beyond its RAM";
  EXPECT_FALSE(p.stage2.translate(0x3fff'f000).has_value());
  // The kernel reaches the same memory through its own identity mapping.
  EXPECT_TRUE(el2_.translate(p.memory[0].pa.value()).has_value());
}

TEST_F(LoaderTest, VcpuZeroFollowsTheBootProtocolAndOthersWaitForCpuOn) {
  Partition p;
  const char* why = "";
  ASSERT_EQ(create_partition(image_, 1, p, env_, why), Status::kOk);
  const Vcpu& v0 = p.vcpus[0];
  EXPECT_EQ(v0.state, VcpuState::kOff);  // started by the run loop
  EXPECT_EQ(v0.power.load(), VcpuPower::kOff);
  EXPECT_EQ(v0.ctx.pc, 0x4000'0000u);
  EXPECT_EQ(v0.ctx.x[0], 0x4020'0000u);
  EXPECT_EQ(v0.ctx.x[1], 0u);
  EXPECT_EQ(v0.ctx.pstate, kPstateEl1h | kPstateDaif);
  EXPECT_EQ(v0.ctx.el1.sctlr_el1 & 1, 0u) << "MMU off";
  EXPECT_EQ(v0.ctx.el2.vmpidr_el2, 0x8000'0000u);
  EXPECT_EQ(v0.ctx.el2.vttbr_el2, (uint64_t{1} << 48) | p.stage2.root().value());
  EXPECT_EQ(v0.ctx.el2.hcr_el2 & 1, 1u);
  EXPECT_EQ(v0.ctx.el2.cptr_el2 & (1u << 10), 0u) << "FP not trapped";
  EXPECT_NE(v0.ctx.el2.cptr_el2 & (1u << 8), 0u) << "SVE trapped";
  EXPECT_EQ(v0.ctx.el2.mdcr_el2 & 0x1f, 6u);
  EXPECT_EQ(p.vcpus[1].state, VcpuState::kOff);
  EXPECT_EQ(p.vcpus[1].ctx.el2.vmpidr_el2, 0x8000'0001u);
}

TEST_F(LoaderTest, RunningOutOfMemoryLeavesTheSlotEmpty) {
  image_.ram_size = 64 * k2M;
  Partition p;
  const char* why = "";
  EXPECT_EQ(create_partition(image_, 1, p, env_, why), Status::kNoMemory);
  EXPECT_STREQ(why, "not enough physical memory");
  EXPECT_EQ(p.state, PartitionState::kEmpty);
}

TEST_F(LoaderTest, ReloadPutsImagesBackAndResetsVcpus) {
  Partition p;
  const char* why = "";
  ASSERT_EQ(create_partition(image_, 1, p, env_, why), Status::kOk);
  auto pa = p.translate(Ipa(0x4000'0000), true);
  std::memset(arch::mm::phys_to_virt(*pa), 0, 12);
  p.vcpus[0].ctx.pc = 0x4000'1234;
  p.vcpus[0].ctx.x[5] = 99;
  ASSERT_EQ(reload_partition(image_, p, RamOnReload::kKeep), Status::kOk);
  EXPECT_EQ(std::memcmp(guest_byte(p, 0x4000'0000), "KERNEL-IMAGE", 12), 0);
  EXPECT_EQ(p.vcpus[0].ctx.pc, 0x4000'0000u);
  EXPECT_EQ(p.vcpus[0].ctx.x[5], 0u);
  EXPECT_EQ(p.state, PartitionState::kRunning);
}

TEST_F(LoaderTest, SlotInUseIsRefused) {
  Partition p;
  const char* why = "";
  ASSERT_EQ(create_partition(image_, 1, p, env_, why), Status::kOk);
  EXPECT_EQ(create_partition(image_, 2, p, env_, why), Status::kDenied);
}

// Checks the whole RAM of `p`: the images where they belong, zero elsewhere.
void ExpectImagesAndZeros(const Partition& p, const PackagedPartition& image) {
  const auto* ram = static_cast<const uint8_t*>(arch::mm::phys_to_virt(p.memory[0].pa));
  ASSERT_NE(ram, nullptr);
  for (uint64_t off = 0; off < p.memory[0].size; ++off) {
    uint8_t expect = 0;
    for (size_t i = 0; i < image.load_count; ++i) {
      const uint64_t at = image.loads[i].ipa - p.memory[0].ipa;
      if (off >= at && off < at + image.loads[i].size) expect = image.loads[i].data[off - at];
    }
    if (ram[off] != expect) {
      ADD_FAILURE() << "RAM offset 0x" << std::hex << off << " is 0x" << int{ram[off]} << ", not 0x" << int{expect};
      return;
    }
  }
}

// The kernel writes partition memory through its cacheable mapping, and the
// partition starts with its MMU and caches off: everything written must be
// cleaned to the point of coherency, after the last write, and the
// instruction caches invalidated after that.
void ExpectMaintainedForAnUncachedStart(const Partition& p) {
  const auto* ram = static_cast<const uint8_t*>(arch::mm::phys_to_virt(p.memory[0].pa));
  const auto& events = arch::fake::mm_events();
  size_t last_zero = 0, last_clean = 0, last_icache = 0;
  uint64_t cleaned_from = ~0ull, cleaned_to = 0, zeroed = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    if (e.kind == arch::fake::MmEvent::Kind::kZero) {
      last_zero = i + 1;
      zeroed += e.size;
    } else if (e.kind == arch::fake::MmEvent::Kind::kCleanToPoc) {
      last_clean = i + 1;
      cleaned_from = std::min<uint64_t>(cleaned_from, e.address);
      cleaned_to = std::max<uint64_t>(cleaned_to, e.address + e.size);
    } else if (e.kind == arch::fake::MmEvent::Kind::kInvalidateIcache) {
      last_icache = i + 1;
    }
  }
  EXPECT_GT(last_clean, last_zero) << "cleaned after it was zeroed";
  EXPECT_GT(last_icache, last_clean) << "instruction caches invalidated after the clean";
  EXPECT_LE(cleaned_from, reinterpret_cast<uintptr_t>(ram));
  EXPECT_GE(cleaned_to, reinterpret_cast<uintptr_t>(ram) + p.memory[0].size) << "all of RAM cleaned";
  EXPECT_LE(zeroed, p.memory[0].size) << "no byte zeroed twice";
}

TEST_F(LoaderTest, RamStartsWithTheImagesAndZerosNotWhatWasThereBefore) {
  // What firmware or an earlier partition left in this memory.
  std::memset(arch::mm::phys_to_virt(ram_.base()), 0xa5, ram_.pages() * kPageSize);
  Partition p;
  const char* why = "";
  ASSERT_EQ(create_partition(image_, 1, p, env_, why), Status::kOk) << why;
  ExpectImagesAndZeros(p, image_);
  ExpectMaintainedForAnUncachedStart(p);
}

TEST_F(LoaderTest, ReloadClearsWhatThePreviousInstanceLeftAndMaintainsCaches) {
  Partition p;
  const char* why = "";
  ASSERT_EQ(create_partition(image_, 1, p, env_, why), Status::kOk) << why;
  auto* ram = static_cast<uint8_t*>(arch::mm::phys_to_virt(p.memory[0].pa));
  std::memset(ram, 0x5a, p.memory[0].size);  // the old instance's secrets, over its image too
  arch::fake::mm_events().clear();
  ASSERT_EQ(reload_partition(image_, p, RamOnReload::kClear), Status::kOk);
  ExpectImagesAndZeros(p, image_);
  ExpectMaintainedForAnUncachedStart(p);
}

TEST_F(LoaderTest, AWarmResetKeepsRamOutsideTheImagesButStillMaintainsCaches) {
  Partition p;
  const char* why = "";
  ASSERT_EQ(create_partition(image_, 1, p, env_, why), Status::kOk) << why;
  auto* ram = static_cast<uint8_t*>(arch::mm::phys_to_virt(p.memory[0].pa));
  std::memset(ram, 0x5a, p.memory[0].size);
  arch::fake::mm_events().clear();
  ASSERT_EQ(reload_partition(image_, p, RamOnReload::kKeep), Status::kOk);
  EXPECT_EQ(std::memcmp(guest_byte(p, 0x4000'0000), "KERNEL-IMAGE", 12), 0);
  EXPECT_EQ(*guest_byte(p, 0x4010'0000), 0x5a) << "the guest's own memory survives a warm reset";
  bool cleaned = false, icache = false;
  for (const auto& e : arch::fake::mm_events()) {
    cleaned |= e.kind == arch::fake::MmEvent::Kind::kCleanToPoc && e.size == p.memory[0].size;
    icache |= cleaned && e.kind == arch::fake::MmEvent::Kind::kInvalidateIcache;
    EXPECT_NE(e.kind, arch::fake::MmEvent::Kind::kZero);
  }
  EXPECT_TRUE(cleaned && icache);
}

TEST_F(LoaderTest, LoadsInAnyOrderAndAtTheEdgesOfRamLeaveNoGapUncleared) {
  // The device tree first, the kernel last, one load ending exactly at the
  // end of RAM.
  static const uint8_t tail[] = {1, 2, 3, 4, 5, 6, 7, 8};
  image_.loads[0] = {Ipa(0x4020'0000), reinterpret_cast<const uint8_t*>(dtb_.data()), dtb_.size()};
  image_.loads[1] = {Ipa(0x4040'0000 - sizeof(tail)), tail, sizeof(tail)};
  image_.loads[2] = {Ipa(0x4000'0003), reinterpret_cast<const uint8_t*>(kernel_.data()), kernel_.size()};
  image_.load_count = 3;
  std::memset(arch::mm::phys_to_virt(ram_.base()), 0xee, ram_.pages() * kPageSize);
  Partition p;
  const char* why = "";
  ASSERT_EQ(create_partition(image_, 1, p, env_, why), Status::kOk) << why;
  ExpectImagesAndZeros(p, image_);
  ExpectMaintainedForAnUncachedStart(p);
}

}  // namespace
}  // namespace hyp
