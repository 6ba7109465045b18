#include "kernel/trap/dispatch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <cstring>
#include <string>
#include <thread>

#include "ipc/hypercall.h"
#include "kernel/arch/fake/fake.h"
#include "kernel/console.h"
#include "ipc/psci.h"
#include "kernel/trap/sysreg.h"

namespace hyp {
namespace {

constexpr uint64_t kRamIpa = 0x4000'0000;
constexpr uint64_t kUart = 0x900'0000;

uint64_t esr_of(Ec ec, uint32_t iss) { return (uint64_t{static_cast<uint8_t>(ec)} << 26) | (1u << 25) | iss; }

class DispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    arch::fake::reset();
    // The kernel console writes to a fake PL011 that collects the text.
    arch::fake::set_mmio([](Pa) -> uint32_t { return 0; },
                         [this](Pa reg, uint32_t value) {
                           if (reg == Pa(kUart)) console_ += static_cast<char>(value);
                         });
    console::init(Pa(kUart));
    pool_.add(pool_memory_.base(), pool_memory_.pages());
    auto table = PageTable::create(pool_, arch::mm::Regime::kStage2, 1);
    ASSERT_TRUE(table.ok());
    partition_.stage2 = *table;
    std::strcpy(partition_.name.data(), "vm0");
    ASSERT_EQ(partition_.stage2.map(kRamIpa, guest_ram_.base(), 2 * kPageSize,
                                    arch::mm::Attrs{.read = true, .write = true, .exec = true}),
              Status::kOk);
    vcpu_.partition = &partition_;
    vcpu_.ctx.pc = 0x4000'0100;
    vcpu_.ctx.pstate = kPstateEl1h;
    arch::fake::el1_regs().vbar_el1 = 0x4000'0800;
  }

  TrapAction hvc(uint64_t x0, uint64_t x1 = 0, uint64_t x2 = 0) {
    vcpu_.ctx.x[0] = x0;
    vcpu_.ctx.x[1] = x1;
    vcpu_.ctx.x[2] = x2;
    return handle_trap(vcpu_, {esr_of(Ec::kHvc64, 0), 0, 0});
  }

  char* guest_bytes(uint64_t offset) {
    return static_cast<char*>(arch::mm::phys_to_virt(guest_ram_.base().offset(offset)));
  }

  std::string console_;
  arch::fake::PhysMemory pool_memory_{8};
  arch::fake::PhysMemory guest_ram_{2};
  PagePool pool_;
  Partition partition_;
  Vcpu vcpu_;
};

TEST_F(DispatchTest, UnknownHvcFunctionReturnsSignExtendedNotSupported) {
  EXPECT_EQ(hvc(0x8600'00ff), TrapAction::kResume);
  EXPECT_EQ(vcpu_.ctx.x[0], ~0ull);
  EXPECT_EQ(hvc(0xC200'0001), TrapAction::kResume);  // a SiP call: nothing behind it
  EXPECT_EQ(vcpu_.ctx.x[0], ~0ull);
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0100u) << "HVC returns to ELR_EL2 as is";
}

TEST_F(DispatchTest, HvcWithNonZeroImmediateIsNotACall) {
  vcpu_.ctx.x[0] = psci::kVersion;
  handle_trap(vcpu_, {esr_of(Ec::kHvc64, 0x42), 0, 0});
  EXPECT_EQ(vcpu_.ctx.x[0], ~0ull);
}

TEST_F(DispatchTest, UpperHalfOfX0IsNotPartOfA32BitFunctionId) {
  hvc(0xffff'ffff'0000'0000 | psci::kVersion);
  EXPECT_EQ(vcpu_.ctx.x[0], 0x1'0001u);
}

TEST_F(DispatchTest, PsciVersionFeaturesAndPowerRequests) {
  hvc(psci::kVersion);
  EXPECT_EQ(vcpu_.ctx.x[0], 0x1'0001u);
  hvc(psci::kFeatures, psci::kSystemOff);
  EXPECT_EQ(vcpu_.ctx.x[0], 0u);
  hvc(psci::kFeatures, abi::kSmcccVersion);
  EXPECT_EQ(vcpu_.ctx.x[0], 0u);
  for (uint32_t fid : {psci::kCpuSuspend32, psci::kCpuSuspend64, psci::kCpuOff, psci::kCpuOn32, psci::kCpuOn64,
                       psci::kAffinityInfo32, psci::kAffinityInfo64}) {
    hvc(psci::kFeatures, fid);
    // 0 for CPU_SUSPEND too: the original power_state format, no OS-initiated mode.
    EXPECT_EQ(vcpu_.ctx.x[0], 0u) << std::hex << fid;
  }
  for (uint32_t fid : {0x8400'0005u /* CPU_FREEZE */, 0x8400'000Bu /* NODE_HW_STATE... */, 0x8400'0012u}) {
    hvc(psci::kFeatures, fid);
    EXPECT_EQ(static_cast<int64_t>(vcpu_.ctx.x[0]), -1) << std::hex << fid;
  }
  EXPECT_EQ(hvc(psci::kSystemOff), TrapAction::kPartitionOff);
  EXPECT_EQ(hvc(psci::kSystemReset), TrapAction::kPartitionReset);
}

// A two-vCPU partition whose vCPU 0 makes the calls.
class PsciDispatchTest : public DispatchTest {
 protected:
  void SetUp() override {
    DispatchTest::SetUp();
    partition_.vcpu_count = 2;
    for (uint16_t i = 0; i < 2; ++i) {
      partition_.vcpus[i].partition = &partition_;
      partition_.vcpus[i].index = i;
      partition_.vcpus[i].ctx.el2.vmpidr_el2 = (1ull << 31) | i;
    }
    partition_.vcpus[0].power.store(VcpuPower::kOn);
    partition_.vcpus[0].ctx.pc = 0x4000'0100;
    partition_.vcpus[0].ctx.pstate = kPstateEl1h;
  }

  Vcpu& caller() { return partition_.vcpus[0]; }
  Vcpu& target() { return partition_.vcpus[1]; }

  TrapAction call(uint64_t x0, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0) {
    caller().ctx.x[0] = x0;
    caller().ctx.x[1] = x1;
    caller().ctx.x[2] = x2;
    caller().ctx.x[3] = x3;
    return handle_trap(caller(), {esr_of(Ec::kHvc64, 0), 0, 0});
  }
  int64_t result() { return static_cast<int64_t>(caller().ctx.x[0]); }
};

TEST_F(PsciDispatchTest, CpuOnStartsTheTargetOnceAndAnswersEveryLaterCallPerSpec) {
  EXPECT_EQ(call(psci::kAffinityInfo64, 1, 0), TrapAction::kResume);
  EXPECT_EQ(result(), 1) << "OFF";
  EXPECT_EQ(call(psci::kCpuOn64, 1, kRamIpa + 0x80, 0xfeed), TrapAction::kCpuOn);
  EXPECT_EQ(result(), 0);
  EXPECT_EQ(caller().started, &target());
  EXPECT_EQ(target().ctx.pc, kRamIpa + 0x80);
  EXPECT_EQ(target().ctx.x[0], 0xfeedu);
  EXPECT_EQ(target().ctx.pstate, kPstateEl1h | kPstateDaif);
  EXPECT_EQ(target().ctx.el2.vmpidr_el2, (1ull << 31) | 1) << "EL2 controls survive the reset";
  call(psci::kAffinityInfo64, 1, 0);
  EXPECT_EQ(result(), 2) << "ON_PENDING";
  EXPECT_EQ(call(psci::kCpuOn64, 1, kRamIpa, 0), TrapAction::kResume);
  EXPECT_EQ(result(), static_cast<int64_t>(psci::Ret::kAlreadyOn)) << "started by another: on, as KVM says";
  target().power.store(VcpuPower::kOn);  // it ran
  EXPECT_EQ(call(psci::kCpuOn64, 1, kRamIpa, 0), TrapAction::kResume);
  EXPECT_EQ(result(), static_cast<int64_t>(psci::Ret::kAlreadyOn));
  call(psci::kAffinityInfo64, 1, 0);
  EXPECT_EQ(result(), 0) << "ON";
  EXPECT_EQ(call(psci::kCpuOn64, 0, kRamIpa, 0), TrapAction::kResume) << "the caller itself";
  EXPECT_EQ(result(), static_cast<int64_t>(psci::Ret::kAlreadyOn));
}

TEST_F(PsciDispatchTest, CpuOnRefusesUnknownTargetsAndEntryPointsOutsideRam) {
  for (uint64_t bad : {uint64_t{2}, uint64_t{0x100}, uint64_t{1} << 40, (uint64_t{1} << 31) | 1, ~uint64_t{0}}) {
    EXPECT_EQ(call(psci::kCpuOn64, bad, kRamIpa, 0), TrapAction::kResume) << bad;
    EXPECT_EQ(result(), static_cast<int64_t>(psci::Ret::kInvalidParameters)) << bad;
  }
  for (uint64_t entry : {uint64_t{0}, kRamIpa + 2, kRamIpa + 2 * kPageSize, ~uint64_t{3}, kUart}) {
    EXPECT_EQ(call(psci::kCpuOn64, 1, entry, 0), TrapAction::kResume) << std::hex << entry;
    EXPECT_EQ(result(), static_cast<int64_t>(psci::Ret::kInvalidAddress)) << std::hex << entry;
  }
  EXPECT_EQ(target().power.load(), VcpuPower::kOff) << "a refused call changes nothing";
}

TEST_F(PsciDispatchTest, Smc32FormsIgnoreTheUpperHalvesOfTheirArguments) {
  EXPECT_EQ(call(psci::kCpuOn32, 0xffff'ffff'0000'0001, 0xdead'0000'0000'0000 | (kRamIpa + 0x40), 0x1'0000'0007),
            TrapAction::kCpuOn);
  EXPECT_EQ(target().ctx.pc, kRamIpa + 0x40);
  EXPECT_EQ(target().ctx.x[0], 7u);
  call(psci::kAffinityInfo32, 0xffff'ffff'0000'0001, 0xffff'ffff'0000'0000);
  EXPECT_EQ(result(), 2);
}

TEST_F(PsciDispatchTest, AffinityInfoAggregatesAboveTheLowestLevelAndRefusesNonsense) {
  call(psci::kAffinityInfo64, 0, 1);  // cluster 0: vCPU 0 is on
  EXPECT_EQ(result(), 0);
  call(psci::kAffinityInfo64, 0, 4);
  EXPECT_EQ(result(), static_cast<int64_t>(psci::Ret::kInvalidParameters));
  call(psci::kAffinityInfo64, 0x100, 0);  // cluster 1: nobody
  EXPECT_EQ(result(), static_cast<int64_t>(psci::Ret::kInvalidParameters));
  call(psci::kAffinityInfo64, 1ull << 63, 0);
  EXPECT_EQ(result(), static_cast<int64_t>(psci::Ret::kInvalidParameters));
}

TEST_F(PsciDispatchTest, CpuOffAndSuspendAreForTheSchedulerAndSuspendChecksItsArgument) {
  EXPECT_EQ(call(psci::kCpuOff), TrapAction::kCpuOff);
  // Reserved bits: [23:17] and [63:26].
  EXPECT_EQ(call(psci::kCpuSuspend64, 1u << 17), TrapAction::kResume);
  EXPECT_EQ(result(), static_cast<int64_t>(psci::Ret::kInvalidParameters));
  EXPECT_EQ(call(psci::kCpuSuspend64, 1ull << 40), TrapAction::kResume);
  EXPECT_EQ(result(), static_cast<int64_t>(psci::Ret::kInvalidParameters));
  arch::fake::set_virtual_timer(1, 5000);  // enabled, not masked
  caller().ctx.el2.cntvoff_el2 = 100;
  EXPECT_EQ(call(psci::kCpuSuspend64, 1u << 16), TrapAction::kWaitForInterrupt);
  EXPECT_EQ(result(), 0);
  EXPECT_EQ(caller().wake_at, 5100u) << "CNTV_CVAL + CNTVOFF: the physical counter's value";
  arch::fake::set_virtual_timer(3, 5000);  // masked: wakes nobody
  EXPECT_EQ(call(psci::kCpuSuspend32, 0), TrapAction::kWaitForInterrupt);
  EXPECT_EQ(caller().wake_at, 0u);
}

TEST_F(PsciDispatchTest, WfiWaitsWfeDoesNotAndServersMayNotStartOrStopCpus) {
  EXPECT_EQ(handle_trap(caller(), {esr_of(Ec::kWfx, 0), 0, 0}), TrapAction::kWaitForInterrupt);
  EXPECT_EQ(caller().ctx.pc, 0x4000'0104u) << "past the WFI";
  EXPECT_EQ(handle_trap(caller(), {esr_of(Ec::kWfx, 1), 0, 0}), TrapAction::kResume) << "WFE";
  partition_.kind = PartitionKind::kServer;
  EXPECT_EQ(handle_trap(caller(), {esr_of(Ec::kWfx, 0), 0, 0}), TrapAction::kResume);
  for (uint32_t fid : {psci::kCpuOn64, psci::kCpuOff, psci::kCpuSuspend64}) {
    EXPECT_EQ(call(fid, 1, kRamIpa, 0), TrapAction::kResume) << std::hex << fid;
    EXPECT_EQ(caller().ctx.x[0], abi::kSmcccNotSupported) << std::hex << fid;
  }
}

TEST_F(DispatchTest, SmcccVersionAndNoWorkarounds) {
  hvc(abi::kSmcccVersion);
  EXPECT_EQ(vcpu_.ctx.x[0], 0x1'0001u);
  for (uint32_t fid : {abi::kSmcccArchWorkaround1, abi::kSmcccArchWorkaround2, abi::kSmcccArchWorkaround3,
                       abi::kSmcccArchSocId, 0xC500'0020u /* KVM's PV_TIME */}) {
    hvc(abi::kSmcccArchFeatures, fid);
    EXPECT_EQ(static_cast<int64_t>(vcpu_.ctx.x[0]), -1) << std::hex << fid;
  }
  hvc(abi::kSmcccArchFeatures, abi::kSmcccArchFeatures);
  EXPECT_EQ(vcpu_.ctx.x[0], 0u);
  hvc(abi::kSmcccArchFeatures, abi::kSmcccVersion);
  EXPECT_EQ(vcpu_.ctx.x[0], 0u);
}

TEST_F(DispatchTest, MigrateInfoTypeSaysNoTrustedOsToMigrate) {
  hvc(psci::kFeatures, psci::kMigrateInfoType);
  EXPECT_EQ(vcpu_.ctx.x[0], 0u);
  hvc(psci::kMigrateInfoType);
  EXPECT_EQ(vcpu_.ctx.x[0], 2u);
}

// A guest tells which hypervisor it runs on by the vendor-hypervisor UID;
// it must not be KVM's (28b46fb6-2ec5-11e9-a9ca-4b564d003a74), or Linux
// would use KVM's calls in this range, which are ours.
TEST_F(DispatchTest, VendorHypervisorQueriesAnswerWithOurUidCallCountAndRevision) {
  hvc(abi::kVendorHypUid);
  EXPECT_EQ(vcpu_.ctx.x[0], 0x7e0e'1c5cu);
  EXPECT_EQ(vcpu_.ctx.x[1], 0x2b4d'3a9fu);
  EXPECT_EQ(vcpu_.ctx.x[2], 0xe973'618au);
  EXPECT_EQ(vcpu_.ctx.x[3], 0x182c'0d4bu);
  EXPECT_NE(vcpu_.ctx.x[0], 0xb66f'b428u) << "KVM's first word";
  hvc(abi::kVendorHypCallCount);
  EXPECT_EQ(vcpu_.ctx.x[0], 12u);
  hvc(abi::kVendorHypRevision);
  EXPECT_EQ(vcpu_.ctx.x[0], 1u);
  EXPECT_EQ(vcpu_.ctx.x[1], 0u);
  hvc(0x8600'FF02);  // reserved in every range
  EXPECT_EQ(vcpu_.ctx.x[0], abi::kSmcccNotSupported);
}

class TrngTest : public DispatchTest {
 protected:
  void SetUp() override {
    DispatchTest::SetUp();
    arch::fake::set_id_register(sysreg::kIdAa64Isar0, uint64_t{1} << 60);  // RNDR
    arch::fake::set_random([this]() -> std::optional<uint64_t> {
      if (failures_ > 0) {
        --failures_;
        return std::nullopt;
      }
      return next_++;
    });
  }
  int failures_ = 0;
  uint64_t next_ = 0xffff'ffff'ffff'fff0;
};

TEST_F(TrngTest, VersionFeaturesAndUuid) {
  hvc(abi::kTrngVersion);
  EXPECT_EQ(vcpu_.ctx.x[0], 0x1'0000u);
  for (uint32_t fid : {abi::kTrngVersion, abi::kTrngFeatures, abi::kTrngGetUuid, abi::kTrngRnd32, abi::kTrngRnd64}) {
    hvc(abi::kTrngFeatures, fid);
    EXPECT_EQ(vcpu_.ctx.x[0], 0u) << std::hex << fid;
  }
  hvc(abi::kTrngFeatures, 0x8400'0054);
  EXPECT_EQ(static_cast<int64_t>(vcpu_.ctx.x[0]), -1);
  hvc(abi::kTrngGetUuid);
  EXPECT_EQ(vcpu_.ctx.x[0], 0x2e3c'7f0bu);
  EXPECT_EQ(vcpu_.ctx.x[3], 0x379c'1a8du);
}

TEST_F(TrngTest, RandomBitsAreRightAlignedAndNothingAboveTheRequest) {
  hvc(abi::kTrngRnd64, 100);
  EXPECT_EQ(vcpu_.ctx.x[0], 0u);
  EXPECT_EQ(vcpu_.ctx.x[3], 0xffff'ffff'ffff'fff0u) << "the low 64 bits first";
  EXPECT_EQ(vcpu_.ctx.x[2], 0xf'ffff'fff1u & ((uint64_t{1} << 36) - 1));
  EXPECT_EQ(vcpu_.ctx.x[1], 0u);
  hvc(abi::kTrngRnd64, 192);
  EXPECT_EQ(vcpu_.ctx.x[1], 0xffff'ffff'ffff'fff4u);
  // SMC32: 32-bit words only.
  hvc(abi::kTrngRnd32, 96);
  EXPECT_EQ(vcpu_.ctx.x[0], 0u);
  EXPECT_EQ(vcpu_.ctx.x[1] >> 32, 0u);
  EXPECT_EQ(vcpu_.ctx.x[2] >> 32, 0u);
  EXPECT_EQ(vcpu_.ctx.x[3] >> 32, 0u);
  hvc(abi::kTrngRnd32, 1);
  EXPECT_LE(vcpu_.ctx.x[3], 1u);
  EXPECT_EQ(vcpu_.ctx.x[2], 0u);
}

TEST_F(TrngTest, BadLengthsAreInvalidAndAnEmptySourceIsNoEntropy) {
  for (auto [fid, bits] : {std::pair{abi::kTrngRnd64, uint64_t{0}}, std::pair{abi::kTrngRnd64, uint64_t{193}},
                           std::pair{abi::kTrngRnd32, uint64_t{97}}, std::pair{abi::kTrngRnd64, ~uint64_t{0}}}) {
    hvc(fid, bits);
    EXPECT_EQ(static_cast<int64_t>(vcpu_.ctx.x[0]), -2) << bits;
  }
  failures_ = 1000;
  hvc(abi::kTrngRnd64, 64);
  EXPECT_EQ(static_cast<int64_t>(vcpu_.ctx.x[0]), -3);
  failures_ = 3;  // a few empty reads are retried
  hvc(abi::kTrngRnd64, 64);
  EXPECT_EQ(vcpu_.ctx.x[0], 0u);
}

TEST_F(DispatchTest, WithoutRndrNoTrngCallIsOffered) {
  for (uint32_t fid : {abi::kTrngVersion, abi::kTrngFeatures, abi::kTrngGetUuid, abi::kTrngRnd32, abi::kTrngRnd64}) {
    hvc(fid, 64);
    EXPECT_EQ(vcpu_.ctx.x[0], abi::kSmcccNotSupported) << std::hex << fid;
  }
}

TEST_F(DispatchTest, TrappedSmcIsRoutedLikeHvcAndSkipped) {
  vcpu_.ctx.x[0] = psci::kVersion;
  EXPECT_EQ(handle_trap(vcpu_, {esr_of(Ec::kSmc64, 0), 0, 0}), TrapAction::kResume);
  EXPECT_EQ(vcpu_.ctx.x[0], 0x1'0001u);
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0104u);
}

TEST_F(DispatchTest, DebugPutcAssemblesLinesPrefixedWithThePartition) {
  for (char c : std::string("hi\tthere\x01\n")) hvc(abi::kHypDebugPutc, static_cast<uint8_t>(c));
  EXPECT_EQ(console_, "vm0| hi\tthere?\r\n");
}

TEST_F(DispatchTest, DebugWritePrintsGuestMemoryAcrossPages) {
  std::memcpy(guest_bytes(kPageSize - 3), "abcdef\n", 7);
  hvc(abi::kHypDebugWrite, kRamIpa + kPageSize - 3, 7);
  EXPECT_EQ(vcpu_.ctx.x[0], 0u);
  EXPECT_EQ(console_, "vm0| abcdef\r\n");
}

TEST_F(DispatchTest, DebugWriteRefusesUnbackedTooLongAndWrappingBuffers) {
  hvc(abi::kHypDebugWrite, kRamIpa + 2 * kPageSize - 2, 4);  // runs into unbacked IPA
  EXPECT_EQ(static_cast<int64_t>(vcpu_.ctx.x[0]), -static_cast<int64_t>(Status::kDenied));
  hvc(abi::kHypDebugWrite, 0x4020'0000, 1);  // the kernel's own address: not in the IPA space
  EXPECT_EQ(static_cast<int64_t>(vcpu_.ctx.x[0]), -static_cast<int64_t>(Status::kDenied));
  hvc(abi::kHypDebugWrite, kRamIpa, 257);
  EXPECT_EQ(static_cast<int64_t>(vcpu_.ctx.x[0]), -static_cast<int64_t>(Status::kOutOfRange));
  hvc(abi::kHypDebugWrite, ~0ull - 1, 4);
  EXPECT_EQ(static_cast<int64_t>(vcpu_.ctx.x[0]), -static_cast<int64_t>(Status::kInvalidArgument));
  EXPECT_EQ(console_, "");
}

TEST_F(DispatchTest, UnbackedDataAccessGetsAnExternalAbortAtTheCurrentVector) {
  // LDR w3, [x1] at pc 0x4000'0100 touching IPA 0x5000'0010.
  const uint32_t iss = (1u << 24) | (2u << 22) | (3u << 16) | 0x07;
  EXPECT_EQ(handle_trap(vcpu_, {esr_of(Ec::kDataAbortLower, iss), 0xffff'0000'0000'0010, 0x5000'0000 >> 8}),
            TrapAction::kResume);
  const El1ExceptionRegs& el1 = arch::fake::el1_regs();
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0800u + 0x200);
  EXPECT_EQ(vcpu_.ctx.pstate, kPstateEl1h | kPstateDaif);
  EXPECT_EQ(el1.elr_el1, 0x4000'0100u);
  EXPECT_EQ(el1.esr_el1, (0x25ull << 26) | (1u << 25) | 0x10);
  EXPECT_EQ(el1.far_el1, 0xffff'0000'0000'0010u);
  EXPECT_NE(console_.find("read of 4 bytes at IPA 0x50000010"), std::string::npos) << console_;
}

// An ISV=1 load of `sas` (0: byte .. 3: doubleword) into w3 at `ipa`.
uint64_t load_esr(uint32_t sas) { return esr_of(Ec::kDataAbortLower, (1u << 24) | (sas << 22) | (3u << 16) | 0x07); }

TEST_F(DispatchTest, AnAlignedAccessInsideAServersRangeIsForwarded) {
  Partition server;
  partition_.routes[0] = {Ipa(0x0900'0000), 0x1000, &server, 2};
  partition_.route_count = 1;
  const uint64_t ipa = 0x0900'0fe0;
  EXPECT_EQ(handle_trap(vcpu_, {load_esr(2), ipa, ipa >> 12 << 4}), TrapAction::kForward);
  EXPECT_EQ(vcpu_.forwarded.ipa, Ipa(ipa));
  EXPECT_EQ(vcpu_.forwarded.bytes, 4u);
  EXPECT_FALSE(vcpu_.forwarded.write);
  EXPECT_EQ(vcpu_.forwarded.reg, 3u);
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0100u) << "completed later, from the server's answer";
  EXPECT_EQ(console_, "");
}

TEST_F(DispatchTest, MisalignedOrStraddlingAccessesToAServerAreAborted) {
  Partition server;
  partition_.routes[0] = {Ipa(0x0900'0000), 0x1000, &server, 0};
  partition_.route_count = 1;
  const uint64_t misaligned = 0x0900'0002;
  EXPECT_EQ(handle_trap(vcpu_, {load_esr(2), misaligned, misaligned >> 12 << 4}), TrapAction::kResume);
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0800u + 0x200) << "external abort at the vector";
  vcpu_.ctx.pc = 0x4000'0100;
  vcpu_.ctx.pstate = kPstateEl1h;
  const uint64_t last = 0x0900'0ff8;  // a doubleword at the window's end fits; one beyond does not
  EXPECT_EQ(handle_trap(vcpu_, {load_esr(3), last, last >> 12 << 4}), TrapAction::kForward);
  const uint64_t beyond = 0x0900'1000;
  EXPECT_EQ(handle_trap(vcpu_, {load_esr(3), beyond, beyond >> 12 << 4}), TrapAction::kResume);
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0800u + 0x200);
  // Straddling: a doubleword that starts in the window and ends past it,
  // into nothing and into a second server window right behind it. Neither
  // half is forwarded, whichever window it starts in.
  Partition other;
  for (size_t routes : {size_t{1}, size_t{2}}) {
    partition_.routes[1] = {Ipa(0x0900'1000), 0x1000, &other, 0};
    partition_.route_count = routes;
    for (uint64_t straddling : {0x0900'0ffcull, 0x0900'0ff9ull, 0x0900'0fffull}) {
      vcpu_.ctx.pc = 0x4000'0100;
      vcpu_.ctx.pstate = kPstateEl1h;
      EXPECT_EQ(handle_trap(vcpu_, {load_esr(3), straddling, straddling >> 12 << 4}), TrapAction::kResume)
          << std::hex << straddling << " with " << routes << " windows";
      EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0800u + 0x200);
    }
    vcpu_.ctx.pc = 0x4000'0100;
    vcpu_.ctx.pstate = kPstateEl1h;
    const uint64_t halfword = 0x0900'0fff;  // two bytes across the boundary
    EXPECT_EQ(handle_trap(vcpu_, {load_esr(1), halfword, halfword >> 12 << 4}), TrapAction::kResume);
    EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0800u + 0x200);
  }
}

TEST_F(DispatchTest, ServerCallsNeedTheRightKindOfPartition) {
  EXPECT_EQ(hvc(abi::kHypServerWait), TrapAction::kResume);
  EXPECT_EQ(vcpu_.ctx.x[0], abi::kSmcccNotSupported) << "a guest cannot wait as a server";
  EXPECT_EQ(hvc(abi::kHypServerRestart, 1), TrapAction::kResume);
  EXPECT_EQ(static_cast<int64_t>(vcpu_.ctx.x[0]), -static_cast<int64_t>(Status::kDenied)) << "no control right";
  partition_.control = true;
  EXPECT_EQ(hvc(abi::kHypServerRestart, 1), TrapAction::kServerRestart);
  partition_.control = false;
  partition_.kind = PartitionKind::kServer;
  EXPECT_EQ(hvc(abi::kHypServerWait), TrapAction::kServerWait);
  EXPECT_EQ(vcpu_.ctx.x[0], 0u);
}

TEST_F(DispatchTest, IsvZeroWriteFromEl0IsAbortedToo) {
  vcpu_.ctx.pstate = kPstateEl0t;
  handle_trap(vcpu_, {esr_of(Ec::kDataAbortLower, (1u << 6) | 0x07), 0x1234, 0x6000'0000 >> 8});
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0800u + 0x400);
  EXPECT_EQ(arch::fake::el1_regs().esr_el1, (0x24ull << 26) | (1u << 25) | (1u << 6) | 0x10);
}

TEST_F(DispatchTest, InstructionFetchFromNothingIsAborted) {
  handle_trap(vcpu_, {esr_of(Ec::kInstAbortLower, 0x07), 0x7000'0000, 0x7000'0000 >> 8});
  EXPECT_EQ(arch::fake::el1_regs().esr_el1 >> 26, 0x21u);
  EXPECT_EQ(arch::fake::el1_regs().far_el1, 0x7000'0000u);
}

TEST_F(DispatchTest, IdRegisterReadsHideSveSmeAndPmu) {
  arch::fake::set_id_register(sysreg::kIdAa64Pfr0, 0x1'0000'0011);   // SVE = 1, EL0/EL1 = 1
  arch::fake::set_id_register(sysreg::kIdAa64Pfr1, 0x0100'0000);     // SME = 1
  arch::fake::set_id_register(sysreg::kIdAa64Dfr0, 0x0000'0716);     // PMUVer = 7, DebugVer = 6
  arch::fake::set_id_register(sysreg::kIdAa64Isar1, 0x0111'0111);    // PAuth etc: passed through
  const struct {
    uint32_t key;
    uint64_t expect;
  } cases[] = {{sysreg::kIdAa64Pfr0, 0x11}, {sysreg::kIdAa64Pfr1, 0}, {sysreg::kIdAa64Dfr0, 0x06},
               {sysreg::kIdAa64Isar1, 0x0111'0111}, {sysreg::kIdAa64Zfr0, 0}};
  for (const auto& c : cases) {
    vcpu_.ctx.x[7] = 0xbad;
    handle_trap(vcpu_, {esr_of(Ec::kSysreg, c.key | (7u << 5) | 1u), 0, 0});
    EXPECT_EQ(vcpu_.ctx.x[7], c.expect) << std::hex << c.key;
  }
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0100u + 4 * 5);
}

TEST_F(DispatchTest, DebugRegistersReadAsZeroAndIgnoreWrites) {
  vcpu_.ctx.x[2] = 0xbad;
  handle_trap(vcpu_, {esr_of(Ec::kSysreg, sysreg::kMdscrEl1 | (2u << 5) | 1u), 0, 0});
  EXPECT_EQ(vcpu_.ctx.x[2], 0u);
  handle_trap(vcpu_, {esr_of(Ec::kSysreg, sysreg::kOslarEl1 | (2u << 5)), 0, 0});
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0108u);
}

TEST_F(DispatchTest, OtherTrappedRegistersAndIdWritesAreUndefined) {
  handle_trap(vcpu_, {esr_of(Ec::kSysreg, sysreg::kPmcrEl0 | (1u << 5) | 1u), 0, 0});
  EXPECT_EQ(arch::fake::el1_regs().esr_el1, 1u << 25);
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0a00u);
  vcpu_.ctx.pc = 0x4000'0100;
  handle_trap(vcpu_, {esr_of(Ec::kSysreg, sysreg::kIdAa64Pfr0 | (1u << 5)), 0, 0});
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0a00u);
}

TEST_F(DispatchTest, IdRegistersHideEveryFeatureWhoseRegistersTrap) {
  // QEMU 10.0's -cpu max shapes: everything set in the fields that go.
  arch::fake::set_id_register(sysreg::kIdAa64Pfr0, 0x1200'0000'0000'0011);  // CSV3 = 1, CSV2 = 2, EL0/EL1 = 1
  arch::fake::set_id_register(sysreg::kIdAa64Pfr1, 0xffff'ffff'0000'0021);  // GCS, THE, NMI... all set
  arch::fake::set_id_register(sysreg::kIdAa64Mmfr3, 0x1111'1111);           // TCRX, SCTLRX, S1PIE, S1POE...
  arch::fake::set_id_register(sysreg::kIdAa64Isar2, 0x0000'0011'0001'0000);  // MOPS, SYSREG_128
  arch::fake::set_id_register(sysreg::kIdAa64Mmfr1, 0x0000'0100'0000'0000);  // HCX
  arch::fake::set_id_register(sysreg::kIdAa64Mmfr0, 0x0100'0000'0000'0005);  // FGT
  arch::fake::set_id_register(sysreg::kIdAa64Pfr2, 0x1'0000'0011);           // FPMR, MTE store-only
  const struct {
    uint32_t key;
    uint64_t expect;
  } cases[] = {{sysreg::kIdAa64Pfr0, 0x1100'0000'0000'0011}, {sysreg::kIdAa64Pfr1, 0x21},
               {sysreg::kIdAa64Mmfr3, 0},  {sysreg::kIdAa64Isar2, 0},
               {sysreg::kIdAa64Mmfr1, 0},  {sysreg::kIdAa64Mmfr0, 0x5},
               {sysreg::kIdAa64Pfr2, 0}};
  for (const auto& c : cases) {
    vcpu_.ctx.x[3] = 0xbad;
    handle_trap(vcpu_, {esr_of(Ec::kSysreg, c.key | (3u << 5) | 1u), 0, 0});
    EXPECT_EQ(vcpu_.ctx.x[3], c.expect) << std::hex << c.key;
  }
}

TEST_F(DispatchTest, IccSreEl1ReadsAsSystemRegistersOnlyAndIgnoresWrites) {
  vcpu_.ctx.x[4] = 0;
  handle_trap(vcpu_, {esr_of(Ec::kSysreg, sysreg::kIccSreEl1 | (4u << 5)), 0, 0});  // MSR ICC_SRE_EL1, x4
  vcpu_.ctx.x[4] = 0xbad;
  handle_trap(vcpu_, {esr_of(Ec::kSysreg, sysreg::kIccSreEl1 | (4u << 5) | 1u), 0, 0});
  EXPECT_EQ(vcpu_.ctx.x[4], 0x7u);
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0108u);
}

TEST_F(DispatchTest, RasErrorRecordsReadAsNoneAndIgnoreWrites) {
  for (uint32_t key : {sysreg::kErridrEl1, sysreg::kErxctlrEl1}) {
    vcpu_.ctx.x[5] = 0xbad;
    handle_trap(vcpu_, {esr_of(Ec::kSysreg, key | (5u << 5) | 1u), 0, 0});
    EXPECT_EQ(vcpu_.ctx.x[5], 0u);
    handle_trap(vcpu_, {esr_of(Ec::kSysreg, key | (5u << 5)), 0, 0});
  }
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0110u);
}

TEST_F(DispatchTest, RegistersOfFeaturesPartitionsDoNotGetAreUndefined) {
  // LORegions (HCR_EL2.TLOR), SCXTNUM_EL1 (EnSCXT clear), TCR2_EL1
  // (HCRX_EL2.TCR2En clear): EL1 takes an UNDEFINED exception.
  for (uint32_t key : {sysreg::kLorcEl1, sysreg::kScxtnumEl1, sysreg::kTcr2El1}) {
    vcpu_.ctx.pc = 0x4000'0100;
    vcpu_.ctx.pstate = kPstateEl1h;
    handle_trap(vcpu_, {esr_of(Ec::kSysreg, key | (1u << 5) | 1u), 0, 0});
    EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0a00u) << std::hex << key;
    EXPECT_EQ(arch::fake::el1_regs().esr_el1, 1u << 25);
  }
}

// Two vCPUs of one partition write to its debug console at once, on two
// CPUs: the line being assembled is shared, and neither may write past it
// or lose the other's characters. (Run under ThreadSanitizer as well:
// dispatch_test_tsan.)
TEST_F(DispatchTest, TwoVcpusWritingTheConsoleAtOnceLoseNothingAndStayInTheLine) {
  constexpr int kPerVcpu = 20000;
  Vcpu second;
  second.partition = &partition_;
  second.index = 1;
  auto writer = [](Vcpu* v, char c) {
    for (int i = 0; i < kPerVcpu; ++i) {
      v->ctx.x[0] = abi::kHypDebugPutc;
      v->ctx.x[1] = static_cast<uint64_t>(c);
      handle_trap(*v, {esr_of(Ec::kHvc64, 0), 0, 0});
    }
  };
  std::thread other(writer, &second, 'b');
  writer(&vcpu_, 'a');
  other.join();
  hvc(abi::kHypDebugPutc, '\n');
  size_t a = 0, b = 0, longest = 0, line = 0;
  for (size_t i = 0; i < console_.size(); ++i) {
    const char c = console_[i];
    if (c == '\n') {
      longest = std::max(longest, line);
      line = 0;
      continue;
    }
    if (c == '\r') continue;  // the console's line ending
    ++line;
    a += c == 'a';
    b += c == 'b';
  }
  EXPECT_EQ(a, size_t{kPerVcpu});
  EXPECT_EQ(b, size_t{kPerVcpu});
  EXPECT_LE(longest, std::strlen("vm0| ") + 159) << "a line longer than its buffer";
  EXPECT_EQ(std::strcmp(partition_.name.data(), "vm0"), 0);
}

TEST_F(DispatchTest, AVcpuStuckFaultingCannotFloodTheConsole) {
  for (int i = 0; i < 100; ++i) {
    vcpu_.ctx.pc = 0x200;
    handle_trap(vcpu_, {esr_of(Ec::kInstAbortLower, 0x07), 0x200, 0});
  }
  size_t lines = 0;
  for (size_t at = console_.find("instruction fetch"); at != std::string::npos;
       at = console_.find("instruction fetch", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 16u);
  EXPECT_NE(console_.find("16 faults reported; further ones are answered without a log line"), std::string::npos);
  EXPECT_EQ(vcpu_.ctx.pc, 0x4000'0800u + 0x200) << "still answered";
}

TEST_F(DispatchTest, EveryExceptionClassHasADefinedAnswer) {
  // Classes without a handler inject UNDEFINED and resume; none crashes.
  // Each exit is counted under its class.
  for (uint32_t ec = 0; ec < 64; ++ec) {
    vcpu_.ctx.pc = 0x4000'0100;
    vcpu_.ctx.pstate = kPstateEl1h;
    vcpu_.ctx.x[0] = psci::kVersion;
    const TrapAction a = handle_trap(vcpu_, {(uint64_t{ec} << 26) | (1u << 25), 0x4000'0000, 0x4000'0000 >> 8});
    // A guest's WFI may block it; everything else resumes.
    EXPECT_EQ(a, ec == static_cast<uint32_t>(Ec::kWfx) ? TrapAction::kWaitForInterrupt : TrapAction::kResume) << ec;
    EXPECT_EQ(vcpu_.exits[ec].value(), 1u) << ec;
  }
  EXPECT_EQ(vcpu_.exits[kExitIrq].value(), 0u);
}

// ---- Virtual interrupts through a server's kernel calls ----

// A guest with two vCPUs, served by an interrupt controller server (its
// device 0) and a UART server's device whose interrupt is SPI 33 (device 1
// of the same server here, which the checks treat apart).
class IrqCallTest : public DispatchTest {
 protected:
  void SetUp() override {
    DispatchTest::SetUp();
    partition_.kind = PartitionKind::kGuest;
    partition_.vcpu_count = 2;
    partition_.vgic.init(2, 4);
    partition_.routes[0] = {Ipa(0x800'0000), 0x5'0000, &server_, 0, 0, true};
    partition_.routes[1] = {Ipa(0x900'0000), 0x1000, &server_, 1, 33, false};
    partition_.route_count = 2;
    server_.kind = PartitionKind::kServer;
    server_.clients[0] = server_.clients[1] = &partition_;
    server_.client_routes[0] = &partition_.routes[0];
    server_.client_routes[1] = &partition_.routes[1];
    sv_.partition = &server_;
  }
  TrapAction call(Vcpu& v, uint64_t fid, uint64_t device, uint64_t vcpu, uint64_t intid, uint64_t x4) {
    v.ctx.x[0] = fid;
    v.ctx.x[1] = device;
    v.ctx.x[2] = vcpu;
    v.ctx.x[3] = intid;
    v.ctx.x[4] = x4;
    return handle_trap(v, {esr_of(Ec::kHvc64, 0), 0, 0});
  }
  int64_t result(const Vcpu& v) { return static_cast<int64_t>(v.ctx.x[0]); }
  static constexpr int64_t kInvalid = -static_cast<int64_t>(Status::kInvalidArgument);
  static constexpr int64_t kDenied = -static_cast<int64_t>(Status::kDenied);
  // Enabled, group 1, level, priority 0x80, target vCPU 1.
  static constexpr uint64_t kWord = abi::irq::kEnabled | abi::irq::kGroup1 | (0x80u << 8) | (1u << 16);

  Partition server_;
  Vcpu sv_;
};

TEST_F(IrqCallTest, AGuestOrAnUnservedDeviceCannotUseTheCalls) {
  vcpu_.partition = &partition_;
  EXPECT_EQ(call(vcpu_, abi::kHypIrqConfig, 0, 0, 40, kWord), TrapAction::kResume);
  EXPECT_EQ(result(vcpu_), kInvalid) << "a guest has no devices to serve";
  for (uint64_t device : {uint64_t{2}, uint64_t{3}, uint64_t{4}, uint64_t{1} << 40, ~uint64_t{0}}) {
    EXPECT_EQ(call(sv_, abi::kHypIrqSignal, device, 0, 33, 1), TrapAction::kResume);
    EXPECT_EQ(result(sv_), kInvalid) << device;
  }
}

TEST_F(IrqCallTest, TheInterruptControllerConfiguresAndQueriesAnyInterruptOfItsGuest) {
  ASSERT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, 40, kWord), TrapAction::kResume);
  EXPECT_EQ(result(sv_), 0);
  ASSERT_EQ(call(sv_, abi::kHypIrqQuery, 0, 0, 40, 0), TrapAction::kResume);
  EXPECT_EQ(result(sv_), 0);
  EXPECT_EQ(sv_.ctx.x[1], kWord);
  EXPECT_EQ(sv_.ctx.x[2], 0u) << "not pending, not active";
  // PPI 20 of vCPU 1: its own bank.
  ASSERT_EQ(call(sv_, abi::kHypIrqConfig, 0, 1, 20, abi::irq::kEnabled | (0x10u << 8)), TrapAction::kResume);
  EXPECT_EQ(result(sv_), 0);
  ASSERT_EQ(call(sv_, abi::kHypIrqQuery, 0, 0, 20, 0), TrapAction::kResume);
  EXPECT_EQ(sv_.ctx.x[1] & abi::irq::kEnabled, 0u) << "vCPU 0's PPI 20 is another";
}

TEST_F(IrqCallTest, OutOfRangeArgumentsAndReservedBitsAreRefused) {
  const uint64_t huge = uint64_t{1} << 63;
  EXPECT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, 96, kWord), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kInvalid);
  EXPECT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, huge | 40, kWord), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kInvalid) << "the upper bits are not dropped";
  EXPECT_EQ(call(sv_, abi::kHypIrqConfig, 0, 2, 20, kWord), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kInvalid) << "no vCPU 2";
  EXPECT_EQ(call(sv_, abi::kHypIrqConfig, 0, huge, 20, kWord), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kInvalid);
  EXPECT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, 40, kWord | (1u << 24)), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kInvalid) << "bits above the target";
  EXPECT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, 40, kWord | 0x8), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kInvalid) << "a reserved low bit";
  EXPECT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, 40, (kWord & ~(0xffu << 16)) | (2u << 16)), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kInvalid) << "target vCPU 2 of 2";
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 0, 0, 40, 6), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kInvalid) << "no signal 6";
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 0, 0, 40, huge), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kInvalid);
}

// A device server signals its own device's SPI and nothing else; it may
// not configure, query or clear.
TEST_F(IrqCallTest, ADeviceServerSignalsOnlyItsOwnInterrupt) {
  ASSERT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, 33, kWord), TrapAction::kResume);
  ASSERT_EQ(result(sv_), 0);
  EXPECT_EQ(call(sv_, abi::kHypIrqConfig, 1, 0, 33, kWord), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kDenied);
  EXPECT_EQ(call(sv_, abi::kHypIrqQuery, 1, 0, 33, 0), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kDenied);
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 1, 0, 34, 1), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kDenied) << "another SPI";
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 1, 0, 27, 2), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kDenied) << "a PPI";
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 1, 0, 33, 3), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kDenied) << "clearing is the interrupt controller's";
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 1, 0, 33, 4), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kDenied) << "so is the active state";
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 1, 0, 33, 5), TrapAction::kResume);
  EXPECT_EQ(result(sv_), kDenied);
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 1, 0, 33, 1), TrapAction::kSendInterrupts);
  EXPECT_EQ(result(sv_), 0);
  EXPECT_EQ(sv_.sent_to, 0b10u) << "SPI 33 targets vCPU 1";
  EXPECT_EQ(sv_.sent_in, &partition_);
  sv_.sent_to = 0;
  ASSERT_EQ(call(sv_, abi::kHypIrqQuery, 0, 0, 33, 0), TrapAction::kResume);
  EXPECT_EQ(sv_.ctx.x[2], abi::irq::kPending | abi::irq::kLineHigh);
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 1, 0, 33, 0), TrapAction::kResume);
  ASSERT_EQ(call(sv_, abi::kHypIrqQuery, 0, 0, 33, 0), TrapAction::kResume);
  EXPECT_EQ(sv_.ctx.x[2], 0u) << "a level interrupt whose line fell is not pending";
}

TEST_F(IrqCallTest, TheInterruptControllerSetsAndClearsPendingStates) {
  ASSERT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, 45, kWord & ~abi::irq::kEnabled), TrapAction::kResume);
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 0, 0, 45, 2), TrapAction::kResume) << "disabled: nobody to tell";
  ASSERT_EQ(call(sv_, abi::kHypIrqQuery, 0, 0, 45, 0), TrapAction::kResume);
  EXPECT_EQ(sv_.ctx.x[2], abi::irq::kPending);
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 0, 0, 45, 3), TrapAction::kResume);
  ASSERT_EQ(call(sv_, abi::kHypIrqQuery, 0, 0, 45, 0), TrapAction::kResume);
  EXPECT_EQ(sv_.ctx.x[2], 0u);
}

// A restarted GIC server serves the request in flight again: its signals
// carry the request's number (x5), and one already applied is not applied
// twice (an SPI set pending once, and taken meanwhile, is not owed again).
TEST_F(IrqCallTest, ASignalOfARequestServedAgainIsNotAppliedTwice) {
  ASSERT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, 47, kWord & ~abi::irq::kEnabled), TrapAction::kResume);
  auto signal = [&](uint64_t op, uint64_t request) {
    sv_.ctx.x[5] = request;
    const TrapAction a = call(sv_, abi::kHypIrqSignal, 0, 0, 47, op);
    sv_.ctx.x[5] = 0;
    return a;
  };
  auto pending = [&] {
    EXPECT_EQ(call(sv_, abi::kHypIrqQuery, 0, 0, 47, 0), TrapAction::kResume);
    return (sv_.ctx.x[2] & abi::irq::kPending) != 0;
  };
  signal(2, 7);
  EXPECT_TRUE(pending());
  vgic::Kick taken;  // the guest took it meanwhile
  ASSERT_EQ(partition_.vgic.clear_pending(0, 47, taken), Status::kOk);
  EXPECT_FALSE(pending());
  EXPECT_EQ(signal(2, 7), TrapAction::kResume);
  EXPECT_EQ(result(sv_), 0) << "answered as done";
  EXPECT_FALSE(pending()) << "request 7 served again: not applied twice";
  signal(2, 9);
  EXPECT_TRUE(pending()) << "a new request is";
  signal(3, 0);
  signal(2, 0);
  signal(3, 0);
  signal(2, 0);
  EXPECT_TRUE(pending()) << "without a number, every signal applies";
}

// The GIC server, standing in for guest vCPU 0 on its CPU, is asked about
// an SGI vCPU 0 has acknowledged (active in the live list registers, not
// yet in the vGIC's record): the answer is exact, and the server keeps its
// own virtual CPU interface controls (loading the guest's list registers
// would have loaded the guest's ICH_HCR_EL2 under the server).
TEST_F(IrqCallTest, AQueryAboutTheStoodInGuestSyncsItsLiveLrsAndLeavesTheServersInterface) {
  constexpr uint64_t kSgiWord = abi::irq::kEnabled | abi::irq::kGroup1 | abi::irq::kEdge | (0x40u << 8);
  ASSERT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, 3, kSgiWord), TrapAction::kResume);
  ASSERT_EQ(result(sv_), 0);
  Vcpu& g = partition_.vcpus[0];
  g.partition = &partition_;
  g.state = VcpuState::kRunning;
  g.home = g.cpu = 0;
  sv_.cpu = 0;
  (void)call(sv_, abi::kHypIrqSignal, 0, 0, 3, 2);  // pending
  partition_.vgic.flush(0, g.ctx.lrs);
  ListRegisters& hw = arch::fake::hardware_lrs();
  hw = g.ctx.lrs;  // loaded: the guest runs
  ASSERT_NE(hw.lr[0], 0u);
  hw.lr[0] = (hw.lr[0] & ~vgic::lr::kStateMask) | vgic::lr::kActive;  // acknowledged
  sv_.ctx.el2.ich_hcr_el2 = 0x7c00;  // the server's traps (TALL0, TALL1, TC, ...)
  arch::vcpu_load(sv_.ctx, arch::Scope::kServer);
  const uint64_t server_ich_hcr = arch::fake::ich_hcr();
  ASSERT_EQ(call(sv_, abi::kHypIrqQuery, 0, 0, 3, 0), TrapAction::kSendInterrupts);
  EXPECT_EQ(sv_.ctx.x[2], abi::irq::kActive) << "active, as the live LR says; not pending";
  EXPECT_EQ(arch::fake::ich_hcr(), server_ich_hcr) << "the server's interface controls stay";
  EXPECT_TRUE(g.irqs_changed.load()) << "vCPU 0 refills before it runs on";
  g.state = VcpuState::kOff;
}

TEST_F(IrqCallTest, TheInterruptControllerSetsAndClearsActiveStates) {
  ASSERT_EQ(call(sv_, abi::kHypIrqConfig, 0, 0, 46, kWord), TrapAction::kResume);
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 0, 0, 46, 4), TrapAction::kResume) << "active: nothing to deliver";
  ASSERT_EQ(call(sv_, abi::kHypIrqQuery, 0, 0, 46, 0), TrapAction::kResume);
  EXPECT_EQ(sv_.ctx.x[2], abi::irq::kActive);
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 0, 0, 46, 2), TrapAction::kResume) << "pending and active: still nothing";
  EXPECT_EQ(call(sv_, abi::kHypIrqSignal, 0, 0, 46, 5), TrapAction::kSendInterrupts) << "deactivated: delivered";
  EXPECT_EQ(sv_.sent_to, 0b10u) << "to its target, vCPU 1";
  ASSERT_EQ(call(sv_, abi::kHypIrqQuery, 0, 0, 46, 0), TrapAction::kResume);
  EXPECT_EQ(sv_.ctx.x[2], abi::irq::kPending);
}

TEST_F(IrqCallTest, SgiRegistersAreUndefinedForServers) {
  const uint32_t iss = (3u << 20) | (5u << 17) | (0u << 14) | (12u << 10) | (1u << 5) | (11u << 1);  // ICC_SGI1R_EL1, x1
  sv_.ctx.pc = 0x4000'0100;
  sv_.ctx.pstate = kPstateEl1h;
  sv_.ctx.x[1] = uint64_t{1} << 40;
  EXPECT_EQ(handle_trap(sv_, {esr_of(Ec::kSysreg, iss), 0, 0}), TrapAction::kResume);
  EXPECT_EQ(sv_.ctx.pc, 0x4000'0800u + 0x200) << "taken to its vector as UNDEFINED";
}

}  // namespace
}  // namespace hyp
