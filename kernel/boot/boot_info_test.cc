#include "kernel/boot/boot_info.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace hyp {
namespace {

std::vector<char> load(const std::string& name) {
  const std::string path = "kernel/boot/testdata/" + name + ".dtb";
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// An 8-byte-aligned copy, as a device tree in memory always is.
struct Blob {
  explicit Blob(const std::vector<char>& bytes) : words((bytes.size() + 7) / 8) {
    std::memcpy(words.data(), bytes.data(), bytes.size());
    size = bytes.size();
  }
  void* data() { return words.data(); }
  char* bytes() { return reinterpret_cast<char*>(words.data()); }
  std::vector<uint64_t> words;
  size_t size;
};

struct Parsed {
  Result<BootInfo> result;
  DtbError error;
};

Parsed parse(const std::string& name) {
  Blob blob(load(name));
  DtbError error;
  Result<BootInfo> r = parse_boot_dtb(blob.data(), blob.size, error);
  return {r, error};
}

void expect_error(const std::string& name, Status status, const char* what) {
  Parsed p = parse(name);
  ASSERT_FALSE(p.result.ok()) << name;
  EXPECT_EQ(p.result.status(), status) << name;
  EXPECT_STREQ(p.error.what, what) << name;
}

TEST(BootInfo, ReadsQemuVirtMachine) {
  Parsed p = parse("qemu_virt");
  ASSERT_TRUE(p.result.ok()) << p.error.what;
  const BootInfo& info = *p.result;
  ASSERT_EQ(info.ram_count, 1u);
  EXPECT_EQ(info.ram[0].base, Pa(0x4000'0000));
  EXPECT_EQ(info.ram[0].size, 0x4000'0000u);
  ASSERT_EQ(info.cpu_count, 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(info.cpu_mpidr[i], i);
  EXPECT_EQ(info.cpus_ignored, 0u);
  EXPECT_EQ(info.gic_dist.base, Pa(0x800'0000));
  EXPECT_EQ(info.gic_dist.size, 0x1'0000u);
  EXPECT_EQ(info.gic_redist.base, Pa(0x80a'0000));
  EXPECT_EQ(info.gic_redist.size, 0xf6'0000u);
  EXPECT_EQ(info.uart.base, Pa(0x900'0000));
  EXPECT_EQ(info.psci, PsciConduit::kSmc);
  EXPECT_STREQ(info.bootargs.data(), "");
}

TEST(BootInfo, ReadsSeveralRamRangesBootargsAndAliasedStdout) {
  Parsed p = parse("multi_ram_bootargs");
  ASSERT_TRUE(p.result.ok()) << p.error.what;
  ASSERT_EQ(p.result->ram_count, 2u);
  EXPECT_EQ(p.result->ram[1].base, Pa(0x1'0000'0000));
  EXPECT_EQ(p.result->ram[1].size, 0x2000'0000u);
  EXPECT_EQ(p.result->uart.base, Pa(0x900'0000));
  EXPECT_STREQ(p.result->bootargs.data(), "hyp.fault_test quiet");
  EXPECT_EQ(p.result->package.base, Pa(0x4800'0000));
  EXPECT_EQ(p.result->package.size, 0x2710u);
}

TEST(BootInfo, ReadsThePackageRangeInEitherCellWidth) {
  Parsed p = parse("initrd_32bit");
  ASSERT_TRUE(p.result.ok()) << p.error.what;
  EXPECT_EQ(p.result->package.base, Pa(0x4800'0000));
  EXPECT_EQ(p.result->package.size, 0x2710u);
  EXPECT_EQ(parse("qemu_virt").result->package.size, 0u);
  expect_error("initrd_reversed", Status::kInvalidArgument, "malformed linux,initrd-start/end");
}

TEST(BootInfo, KeepsTheFirstEightCpusAndCountsTheRest) {
  Parsed p = parse("ten_cpus");
  ASSERT_TRUE(p.result.ok()) << p.error.what;
  EXPECT_EQ(p.result->cpu_count, kMaxCpus);
  EXPECT_EQ(p.result->cpus_ignored, 2u);  // the disabled one is not counted
  EXPECT_EQ(p.result->cpu_mpidr[7], 7u);
}

TEST(BootInfo, DanglingStdoutPathFallsBackToTheEnabledPl011) {
  Parsed p = parse("stdout_path_dangling");
  ASSERT_TRUE(p.result.ok()) << p.error.what;
  EXPECT_EQ(p.result->uart.base, Pa(0x900'0000));
}

TEST(BootInfo, PsciConduitFollowsTheMethodProperty) {
  EXPECT_EQ(parse("psci_hvc").result->psci, PsciConduit::kHvc);
  Parsed none = parse("no_psci");
  ASSERT_TRUE(none.result.ok());
  EXPECT_EQ(none.result->psci, PsciConduit::kNone);
  expect_error("psci_bad_method", Status::kInvalidArgument, "unknown psci method");
}

TEST(BootInfo, RejectsBadMemoryDescriptions) {
  expect_error("no_memory", Status::kNotFound, "no memory node");
  expect_error("memory_bad_reg", Status::kInvalidArgument, "malformed memory reg");
  expect_error("memory_overlap", Status::kInvalidArgument, "overlapping memory ranges");
  expect_error("memory_wraps", Status::kInvalidArgument, "malformed memory reg");
  expect_error("memory_unaligned", Status::kInvalidArgument, "memory range not page aligned");
  expect_error("bad_address_cells", Status::kInvalidArgument, "malformed memory reg");
}

TEST(BootInfo, RejectsBadCpuDescriptions) {
  expect_error("no_cpus", Status::kNotFound, "no /cpus node");
  expect_error("duplicate_cpu", Status::kInvalidArgument, "duplicate cpu MPIDR");
  expect_error("cpu_reg_not_mpidr", Status::kInvalidArgument, "cpu reg is not an MPIDR");
  expect_error("cpu_reg_too_short", Status::kInvalidArgument, "malformed cpu reg");
}

TEST(BootInfo, RejectsMissingOrIncompleteDevices) {
  expect_error("no_gic", Status::kNotFound, "no arm,gic-v3 node");
  expect_error("gic_one_region", Status::kInvalidArgument, "gic-v3 reg lacks distributor and redistributor");
  expect_error("no_uart", Status::kNotFound, "no arm,pl011 console");
  expect_error("bootargs_not_string", Status::kInvalidArgument, "bootargs not a string");
}

TEST(BootInfo, RejectsBadMagic) {
  Blob blob(load("qemu_virt"));
  blob.bytes()[0] ^= 0x01;
  DtbError error;
  EXPECT_EQ(parse_boot_dtb(blob.data(), blob.size, error).status(), Status::kInvalidArgument);
  EXPECT_STREQ(error.what, "bad device tree magic");
  EXPECT_EQ(dtb_total_size(blob.data()), 0u);
}

TEST(BootInfo, RejectsTruncatedBlob) {
  Blob blob(load("qemu_virt"));
  EXPECT_EQ(dtb_total_size(blob.data()), blob.size);
  DtbError error;
  EXPECT_EQ(parse_boot_dtb(blob.data(), blob.size - 1, error).status(), Status::kOutOfRange);
  EXPECT_STREQ(error.what, "device tree too large");
  EXPECT_EQ(parse_boot_dtb(blob.data(), 8, error).status(), Status::kInvalidArgument);
  EXPECT_EQ(parse_boot_dtb(nullptr, 0, error).status(), Status::kInvalidArgument);
}

TEST(BootInfo, RejectsCorruptedStructureBlock) {
  Blob blob(load("qemu_virt"));
  // The first structure token must be FDT_BEGIN_NODE; make it garbage.
  const auto be32 = [&](size_t off) {
    const auto* b = reinterpret_cast<const unsigned char*>(blob.bytes() + off);
    return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
  };
  const uint32_t off_struct = be32(8);
  std::memset(blob.bytes() + off_struct, 0x5a, 4);
  DtbError error;
  EXPECT_EQ(parse_boot_dtb(blob.data(), blob.size, error).status(), Status::kInvalidArgument);
  EXPECT_STREQ(error.what, "malformed device tree");
}

TEST(BootInfo, EveryTruncationOfTheHeaderSizeIsRejected) {
  // Claiming a smaller total size than the structure needs must fail cleanly
  // at every length, never read past the claim.
  const std::vector<char> original = load("qemu_virt");
  for (uint32_t claimed = 0; claimed < 512; claimed += 4) {
    Blob blob(original);
    blob.bytes()[4] = static_cast<char>(claimed >> 24);
    blob.bytes()[5] = static_cast<char>(claimed >> 16);
    blob.bytes()[6] = static_cast<char>(claimed >> 8);
    blob.bytes()[7] = static_cast<char>(claimed);
    std::vector<uint64_t> exact((claimed + 7) / 8 + 1);
    std::memcpy(exact.data(), blob.data(), claimed);
    DtbError error;
    EXPECT_FALSE(parse_boot_dtb(exact.data(), claimed, error).ok()) << claimed;
  }
}

TEST(Bootargs, MatchesWholeWordsOnly) {
  EXPECT_TRUE(bootargs_has("hyp.fault_test quiet", "hyp.fault_test"));
  EXPECT_TRUE(bootargs_has("quiet  hyp.fault_test", "hyp.fault_test"));
  EXPECT_FALSE(bootargs_has("hyp.fault_test_x", "hyp.fault_test"));
  EXPECT_FALSE(bootargs_has("hyp.fault", "hyp.fault_test"));
  EXPECT_FALSE(bootargs_has("", "x"));
  EXPECT_FALSE(bootargs_has("abc", ""));
}

}  // namespace
}  // namespace hyp
