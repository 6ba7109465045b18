#include "kernel/ffa/calls.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "ffa/abi.h"
#include "kernel/arch/fake/fake.h"
#include "kernel/trap/dispatch.h"

namespace hyp {
namespace {

using ffa::Error;
namespace prop = ffa::properties;

constexpr uint64_t kRamIpa = 0x4000'0000;
constexpr size_t kRamPages = 16;
constexpr uint64_t kPage = ffa::kBufferPageSize;

uint64_t hvc_esr() { return (uint64_t{static_cast<uint8_t>(Ec::kHvc64)} << 26) | (1u << 25); }

// Three partitions as a package would give them: guest "a" (ID 1, two
// vCPUs), guest "b" (ID 2) and server "s" (ID 7, with a UUID), each with 16
// pages of RAM at 0x4000'0000.
class FfaTest : public ::testing::Test {
 protected:
  struct Node {
    arch::fake::PhysMemory ram{kRamPages};
    Partition p;
  };

  void SetUp() override {
    arch::fake::reset();
    pool_.add(pool_memory_.base(), pool_memory_.pages());
    add("a", 1, PartitionKind::kGuest, 2, prop::kDirectSend | prop::kIndirect | prop::kNotifications);
    add("b", 2, PartitionKind::kGuest, 1, prop::kDirectSend | prop::kIndirect | prop::kNotifications);
    add("s", 7, PartitionKind::kServer, 1, package::kFfaMessagingMask);
    ASSERT_TRUE(ffa::parse_uuid("486178e0-e7f8-11e3-bc5e-0002a5d5c51b", s().ffa.uuid));
    ffa_set_partitions(partitions_.get(), 3);
  }
  void TearDown() override { ffa_set_partitions(nullptr, 0); }

  void add(const char* name, uint16_t id, PartitionKind kind, size_t vcpus, uint32_t messaging) {
    if (!partitions_) partitions_ = std::make_unique<Partition[]>(3);
    const size_t i = nodes_.size();
    nodes_.push_back(std::make_unique<Node>());
    Partition& p = partitions_[i];
    auto table = PageTable::create(pool_, arch::mm::Regime::kStage2, static_cast<uint16_t>(i + 1));
    ASSERT_TRUE(table.ok());
    p.stage2 = *table;
    std::strcpy(p.name.data(), name);
    p.id = id;
    p.kind = kind;
    p.state = PartitionState::kRunning;
    p.vcpu_count = vcpus;
    p.memory[0] = {Ipa(kRamIpa), nodes_[i]->ram.base(), kRamPages * kPageSize};
    p.memory_count = 1;
    ASSERT_EQ(p.stage2.map(kRamIpa, nodes_[i]->ram.base(), kRamPages * kPageSize, kPartitionRam), Status::kOk);
    for (size_t v = 0; v < vcpus; ++v) {
      p.vcpus[v].partition = &p;
      p.vcpus[v].index = static_cast<uint16_t>(v);
    }
    if (kind == PartitionKind::kGuest) {
      p.vgic.init(static_cast<uint32_t>(vcpus), 4);
      // The notification pending SGI enabled on every vCPU.
      for (uint32_t v = 0; v < vcpus; ++v) {
        vgic::Kick kick;
        ASSERT_EQ(p.vgic.configure(v, kFfaNotificationPendingIntid,
                                   {.enabled = true, .group1 = true, .trigger = vgic::Trigger::kEdge, .priority = 0x80},
                                   kick),
                  Status::kOk);
      }
    }
    p.ffa.messaging = messaging;
  }

  Partition& a() { return partitions_[0]; }
  Partition& b() { return partitions_[1]; }
  Partition& s() { return partitions_[2]; }

  // An FF-A call from vCPU `v` with x1..x7 (the rest zero).
  TrapAction call(Vcpu& v, uint32_t fid, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0, uint64_t x4 = 0,
                  uint64_t x5 = 0, uint64_t x6 = 0, uint64_t x7 = 0) {
    const uint64_t x[8] = {fid, x1, x2, x3, x4, x5, x6, x7};
    for (size_t i = 0; i < 18; ++i) v.ctx.x[i] = i < 8 ? x[i] : 0xdead'0000 + i;
    return handle_trap(v, {hvc_esr(), 0, 0});
  }
  static bool ok(const Vcpu& v) { return v.ctx.x[0] == ffa::kSuccess32 || v.ctx.x[0] == ffa::kSuccess64; }
  // The error of the last call, or 0 if it succeeded.
  static int32_t err(const Vcpu& v) {
    if (ok(v)) return 0;
    EXPECT_EQ(v.ctx.x[0], ffa::kError);
    EXPECT_EQ(v.ctx.x[2] >> 32, 0u) << "w2 holds the code; the upper half is zero";
    return static_cast<int32_t>(v.ctx.x[2]);
  }
  static int32_t code(Error e) { return static_cast<int32_t>(e); }

  void negotiate(Vcpu& v, uint32_t version = ffa::kVersion1_2) {
    call(v, ffa::kVersion, version);
    ASSERT_EQ(v.ctx.x[0], kFfaVersion);
  }
  // Maps `pages` of TX at RAM + 0 and RX at RAM + 8 pages.
  void map(Vcpu& v, uint64_t pages = 1) {
    call(v, ffa::kRxtxMap64, kRamIpa, kRamIpa + 8 * kPage, pages);
    ASSERT_TRUE(ok(v)) << err(v);
  }
  uint8_t* tx(Partition& p) { return static_cast<uint8_t*>(arch::mm::phys_to_virt(p.memory[0].pa)); }
  uint8_t* rx(Partition& p) {
    return static_cast<uint8_t*>(arch::mm::phys_to_virt(p.memory[0].pa.offset(8 * kPage)));
  }
  // Puts a message for `to` with `payload` in the TX buffer of `p`.
  void write_message(Partition& p, uint16_t from, uint16_t to, const char* payload, uint32_t offset = 20) {
    ffa::MessageHeader h{.offset = offset, .sender = from, .receiver = to,
                         .size = static_cast<uint32_t>(std::strlen(payload))};
    ffa::write_message_header(h, tx(p));
    std::memcpy(tx(p) + offset, payload, h.size);
  }

  arch::fake::PhysMemory pool_memory_{64};
  PagePool pool_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unique_ptr<Partition[]> partitions_;
};

// ---- FFA_VERSION ----------------------------------------------------------

TEST_F(FfaTest, NothingButVersionBeforeAVersionIsAskedFor) {
  Vcpu& v = a().vcpus[0];
  call(v, ffa::kIdGet);
  EXPECT_EQ(err(v), code(Error::kNotSupported));
  call(v, ffa::kVersion, ffa::kVersion1_1);
  EXPECT_EQ(v.ctx.x[0], ffa::kVersion1_2) << "the kernel's own version, in w0";
  EXPECT_EQ(v.ctx.x[1], 0u);
  call(v, ffa::kIdGet);
  ASSERT_TRUE(ok(v));
  EXPECT_EQ(v.ctx.x[2], 1u);
  EXPECT_EQ(v.ctx.x[3], 0u) << "unused result registers are zero";
}

TEST_F(FfaTest, VersionsTheKernelCannotServeAreRefusedInW0) {
  Vcpu& v = a().vcpus[0];
  for (uint32_t asked : {ffa::make_version(1, 3), ffa::make_version(2, 0), ffa::make_version(0, 1), 0x8001'0001u}) {
    call(v, ffa::kVersion, asked);
    EXPECT_EQ(v.ctx.x[0], ffa::kVersionNotSupported) << std::hex << asked;
  }
  call(v, ffa::kIdGet);
  EXPECT_EQ(err(v), code(Error::kNotSupported)) << "a refused version is no version";
}

TEST_F(FfaTest, TheFirstOtherCallFixesTheVersion) {
  Vcpu& v = a().vcpus[0];
  negotiate(v, ffa::kVersion1_0);
  negotiate(v, ffa::kVersion1_1);  // not fixed yet: may change
  call(v, ffa::kIdGet);
  call(v, ffa::kVersion, ffa::kVersion1_2);
  EXPECT_EQ(v.ctx.x[0], ffa::kVersionNotSupported) << "another version once fixed";
  call(v, ffa::kVersion, ffa::kVersion1_1);
  EXPECT_EQ(v.ctx.x[0], ffa::kVersion1_2) << "the same version again";
  // Per partition: b is not fixed by a's calls.
  negotiate(b().vcpus[0], ffa::kVersion1_0);
}

TEST_F(FfaTest, AResetPartitionNegotiatesAgain) {
  Vcpu& v = a().vcpus[0];
  negotiate(v, ffa::kVersion1_1);
  map(v);
  call(v, ffa::kNotificationBind, ffa::pack_ids(2, 1), 0, 1);
  ASSERT_TRUE(ok(v));
  a().reset_ffa();
  call(v, ffa::kIdGet);
  EXPECT_EQ(err(v), code(Error::kNotSupported));
  negotiate(v, ffa::kVersion1_0);
  const auto t = a().stage2.translate(kRamIpa + 8 * kPage);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->attrs.write) << "the RX page is plain RAM again";
  map(v);
  negotiate(v, ffa::kVersion1_0);
  call(v, ffa::kVersion, ffa::kVersion1_2);
  EXPECT_EQ(v.ctx.x[0], ffa::kVersionNotSupported);
  a().reset_ffa();
  negotiate(v, ffa::kVersion1_1);
  call(v, ffa::kNotificationBind, ffa::pack_ids(2, 1), 0, 1);
  EXPECT_TRUE(ok(v)) << "bindings went with the reset";
}

// ---- The range and FFA_FEATURES ---------------------------------------------

TEST_F(FfaTest, EveryOtherIdInTheRangeIsNotSupported) {
  Vcpu& v = a().vcpus[0];
  negotiate(v);
  for (uint32_t fid = 0x60; fid <= 0xEF; ++fid) {
    for (uint32_t base : {ffa::kSmc32, ffa::kSmc64}) {
      const uint32_t id = base | fid;
      call(v, id, 0, 0, 0, 0, 0, 0, 0);
      const bool known = id == ffa::kFeatures || id == ffa::kIdGet || id == ffa::kRxRelease || id == ffa::kRxtxMap32 ||
                         id == ffa::kRxtxMap64 || id == ffa::kRxtxUnmap || id == ffa::kPartitionInfoGet ||
                         id == ffa::kPartitionInfoGetRegs || id == ffa::kMsgSend2 || id == ffa::kNotificationBind ||
                         id == ffa::kNotificationUnbind || id == ffa::kNotificationSet || id == ffa::kNotificationGet ||
                         id == ffa::kMsgSendDirectReq32 || id == ffa::kMsgSendDirectReq64 ||
                         id == ffa::kMsgSendDirectResp32 || id == ffa::kMsgSendDirectResp64 || id == ffa::kMsgWait ||
                         id == ffa::kYield || id == ffa::kMemShare32 || id == ffa::kMemShare64 ||
                         id == ffa::kMemLend32 || id == ffa::kMemLend64 || id == ffa::kMemDonate32 ||
                         id == ffa::kMemDonate64 || id == ffa::kMemRetrieveReq32 || id == ffa::kMemRetrieveReq64 ||
                         id == ffa::kMemRelinquish || id == ffa::kMemReclaim || id == ffa::kMemFragTx ||
                         id == ffa::kMemFragRx;
      if (id == ffa::kVersion || known) continue;
      EXPECT_EQ(v.ctx.x[0], ffa::kError) << std::hex << id;
      EXPECT_EQ(err(v), code(Error::kNotSupported)) << std::hex << id;
    }
  }
  call(v, 0x8400'00F0);
  EXPECT_EQ(v.ctx.x[0], ~uint64_t{0}) << "past FF-A's range: SMCCC's unknown function";
}

TEST_F(FfaTest, TheSveHintIsNoPartOfTheId) {
  Vcpu& v = a().vcpus[0];
  call(v, ffa::kVersion | ffa::kSveHint, ffa::kVersion1_1);
  EXPECT_EQ(v.ctx.x[0], ffa::kVersion1_2);
  call(v, ffa::kIdGet | ffa::kSveHint);
  ASSERT_TRUE(ok(v));
  EXPECT_EQ(v.ctx.x[2], 1u);
}

TEST_F(FfaTest, FeaturesTellWhatIsImplementedForTheCallersVersion) {
  Vcpu& v = a().vcpus[0];
  negotiate(v, ffa::kVersion1_2);
  call(v, ffa::kFeatures, ffa::kRxtxMap64);
  ASSERT_TRUE(ok(v));
  EXPECT_EQ(v.ctx.x[2], uint64_t{kFfaMaxBufferPages} << 16) << "4 KiB minimum, the maximum for FF-A 1.2";
  for (uint32_t fid : {ffa::kPartitionInfoGet, ffa::kPartitionInfoGetRegs, ffa::kMsgSend2, ffa::kNotificationSet,
                       ffa::kMemShare32, ffa::kMemLend64, ffa::kMemRetrieveReq32, ffa::kMemReclaim,
                       ffa::kMemFragTx, ffa::kMemFragRx}) {
    call(v, ffa::kFeatures, fid);
    EXPECT_TRUE(ok(v)) << std::hex << fid;
  }
  for (uint32_t fid : {ffa::kNotificationInfoGet64, ffa::kSpmIdGet, ffa::kRxAcquire,
                       ffa::kNotificationBitmapCreate, ffa::kMsgSend, 0x8400'00EFu, 0x8400'0000u}) {
    call(v, ffa::kFeatures, fid);
    EXPECT_EQ(err(v), code(Error::kNotSupported)) << std::hex << fid;
  }
  call(v, ffa::kFeatures, ffa::kRxtxMap64, 1);
  EXPECT_EQ(err(v), code(Error::kNotSupported)) << "input properties must be zero";
  call(v, ffa::kFeatures, 1);
  ASSERT_TRUE(ok(v));
  EXPECT_EQ(v.ctx.x[2], kFfaNotificationPendingIntid);
  for (uint64_t feature : {2u, 3u, 0u, 0x101u}) {
    call(v, ffa::kFeatures, feature);
    EXPECT_EQ(err(v), code(Error::kNotSupported)) << feature;
  }
  // A server has no virtual interrupts; an FF-A 1.0 caller none of 1.1's calls.
  Vcpu& sv = s().vcpus[0];
  negotiate(sv, ffa::kVersion1_0);
  call(sv, ffa::kFeatures, 1);
  EXPECT_EQ(err(sv), code(Error::kNotSupported));
  call(sv, ffa::kFeatures, ffa::kMsgSend2);
  EXPECT_EQ(err(sv), code(Error::kNotSupported));
  call(sv, ffa::kMsgSend2);
  EXPECT_EQ(err(sv), code(Error::kNotSupported));
  call(sv, ffa::kFeatures, ffa::kRxtxMap32);
  ASSERT_TRUE(ok(sv));
  EXPECT_EQ(sv.ctx.x[2], 0u) << "no maximum told before FF-A 1.2";
}

// ---- RX/TX buffers -----------------------------------------------------------

TEST_F(FfaTest, MappedBuffersMakeTheRxPagesReadOnlyToTheirOwner) {
  Vcpu& v = a().vcpus[0];
  negotiate(v);
  map(v, 2);
  for (uint64_t page : {8u, 9u}) {
    const auto t = a().stage2.translate(kRamIpa + page * kPage);
    ASSERT_TRUE(t);
    EXPECT_TRUE(t->attrs.read);
    EXPECT_FALSE(t->attrs.write) << page;
    EXPECT_FALSE(t->attrs.exec) << page;
  }
  const auto tx_page = a().stage2.translate(kRamIpa);
  ASSERT_TRUE(tx_page);
  EXPECT_TRUE(tx_page->attrs.write);
  const auto after = a().stage2.translate(kRamIpa + 10 * kPage);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->attrs.write) << "only the buffer's pages";
  call(v, ffa::kRxtxMap64, kRamIpa + 2 * kPage, kRamIpa + 4 * kPage, 1);
  EXPECT_EQ(err(v), code(Error::kDenied)) << "mapped already";
  call(v, ffa::kRxtxUnmap, uint64_t{1} << 16);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << "an ID is for a hypervisor forwarding the call";
  call(v, ffa::kRxtxUnmap);
  ASSERT_TRUE(ok(v));
  const auto back = a().stage2.translate(kRamIpa + 9 * kPage);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->attrs, kPartitionRam);
  call(v, ffa::kRxtxUnmap);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << "nothing mapped";
  map(v);  // again, after the unmap
}

TEST_F(FfaTest, BuffersMustBeAlignedDistinctOwnedRam) {
  Vcpu& v = a().vcpus[0];
  negotiate(v);
  const uint64_t r = kRamIpa;
  const struct {
    const char* what;
    uint64_t tx, rx, count;
  } bad[] = {
      {"no pages", r, r + 8 * kPage, 0},
      {"more pages than the kernel takes", r, r + 8 * kPage, kFfaMaxBufferPages + 1},
      {"bits above the count", r, r + 8 * kPage, 1 | (1u << 6)},
      {"an unaligned TX", r + 0x800, r + 8 * kPage, 1},
      {"an unaligned RX", r, r + 8 * kPage + 8, 1},
      {"one page for both", r, r, 1},
      {"overlapping buffers", r, r + kPage, 2},
      {"TX outside RAM", 0x900'0000, r + 8 * kPage, 1},
      {"RX running past RAM", r, r + (kRamPages - 1) * kPage, 2},
      {"RX below RAM", r, r - kPage, 1},
      {"an address that wraps", r, ~uint64_t{0} & ~(kPage - 1), 1},
  };
  for (const auto& c : bad) {
    call(v, ffa::kRxtxMap64, c.tx, c.rx, c.count);
    EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << c.what;
  }
  // Memory that is not the partition's own any more (lent away, say).
  ASSERT_EQ(a().stage2.protect(r + 12 * kPage, kPage,
                               {.read = false, .write = false, .exec = false, .state = arch::mm::PageState::kLent}),
            Status::kOk);
  call(v, ffa::kRxtxMap64, r, r + 12 * kPage, 1);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << "not owned";
  // Nothing was changed by the refusals.
  for (uint64_t page = 0; page < 12; ++page) {
    const auto t = a().stage2.translate(r + page * kPage);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->attrs, kPartitionRam) << page;
  }
  // The SMC32 form takes 32-bit addresses: the upper halves are no part.
  call(v, ffa::kRxtxMap32, (uint64_t{0xffff} << 32) | r, (uint64_t{1} << 40) | (r + 8 * kPage), 1);
  EXPECT_TRUE(ok(v)) << err(v);
}

TEST_F(FfaTest, RxReleaseNeedsAFullBuffer) {
  Vcpu& v = a().vcpus[0];
  negotiate(v);
  call(v, ffa::kRxRelease);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << "no buffer";
  map(v);
  call(v, ffa::kRxRelease);
  EXPECT_EQ(err(v), code(Error::kDenied)) << "empty: the kernel's already";
  call(v, ffa::kPartitionInfoGet);
  ASSERT_TRUE(ok(v));
  call(v, ffa::kRxRelease, 1);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << "an ID is for a hypervisor forwarding the call";
  call(v, ffa::kRxRelease);
  EXPECT_TRUE(ok(v));
  call(v, ffa::kRxRelease);
  EXPECT_EQ(err(v), code(Error::kDenied));
}

// ---- Partition information ---------------------------------------------------

TEST_F(FfaTest, PartitionInfoListsEveryPartitionInTheRxBuffer) {
  Vcpu& v = a().vcpus[1];
  negotiate(v, ffa::kVersion1_1);
  call(v, ffa::kPartitionInfoGet, 0, 0, 0, 0, ffa::kInfoCountOnly);
  ASSERT_TRUE(ok(v));
  EXPECT_EQ(v.ctx.x[2], 3u) << "counting needs no buffer";
  call(v, ffa::kPartitionInfoGet);
  EXPECT_EQ(err(v), code(Error::kBusy)) << "no RX buffer";
  map(v);
  std::memset(rx(a()), 0xee, kPage);
  call(v, ffa::kPartitionInfoGet);
  ASSERT_TRUE(ok(v));
  EXPECT_EQ(v.ctx.x[2], 3u);
  EXPECT_EQ(v.ctx.x[3], 24u);
  const ffa::PartitionInfo first = ffa::read_partition_info(rx(a()), 24);
  EXPECT_EQ(first.id, 1);
  EXPECT_EQ(first.contexts, 2);
  EXPECT_EQ(first.properties, prop::kDirectSend | prop::kIndirect | prop::kNotifications | prop::kAarch64);
  const ffa::PartitionInfo server = ffa::read_partition_info(rx(a()) + 48, 24);
  EXPECT_EQ(server.id, 7);
  EXPECT_EQ(server.properties, package::kFfaMessagingMask | prop::kAarch64);
  EXPECT_EQ(server.uuid, s().ffa.uuid);
  EXPECT_EQ(rx(a())[72], 0xee) << "nothing past the descriptors";
  call(v, ffa::kPartitionInfoGet);
  EXPECT_EQ(err(v), code(Error::kBusy)) << "the RX buffer is the caller's until released";
  call(v, ffa::kRxRelease);
  // By UUID: the server alone, its UUID not repeated.
  const ffa::Uuid& u = s().ffa.uuid;
  call(v, ffa::kPartitionInfoGet, u.words[0], u.words[1], u.words[2], u.words[3]);
  ASSERT_TRUE(ok(v));
  EXPECT_EQ(v.ctx.x[2], 1u);
  const ffa::PartitionInfo only = ffa::read_partition_info(rx(a()), 24);
  EXPECT_EQ(only.id, 7);
  EXPECT_TRUE(only.uuid.is_nil());
  call(v, ffa::kRxRelease);
  call(v, ffa::kPartitionInfoGet, u.words[0] ^ 1, u.words[1], u.words[2], u.words[3]);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << "nobody has that UUID";
  call(v, ffa::kPartitionInfoGet, 0, 0, 0, 0, 2);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << "unknown flags";
}

TEST_F(FfaTest, AnFfa10CallerGetsTheShortDescriptor) {
  Vcpu& v = b().vcpus[0];
  negotiate(v, ffa::kVersion1_0);
  map(v);
  std::memset(rx(b()), 0xee, kPage);
  call(v, ffa::kPartitionInfoGet);
  ASSERT_TRUE(ok(v));
  EXPECT_EQ(v.ctx.x[3], 8u);
  const ffa::PartitionInfo server = ffa::read_partition_info(rx(b()) + 16, 8);
  EXPECT_EQ(server.id, 7);
  EXPECT_EQ(server.properties, prop::kDirectReceive | prop::kDirectSend | prop::kIndirect);
  EXPECT_EQ(rx(b())[24], 0xee);
}

TEST_F(FfaTest, PartitionInfoInRegistersForFfa12Callers) {
  Vcpu& v = s().vcpus[0];
  negotiate(v, ffa::kVersion1_2);
  call(v, ffa::kPartitionInfoGetRegs, 0, 0, 0);
  ASSERT_EQ(v.ctx.x[0], ffa::kSuccess64);
  EXPECT_EQ(v.ctx.x[2], 2u | (2u << 16) | (uint64_t{24} << 48)) << "last 2, current 2, size 24";
  EXPECT_EQ(v.ctx.x[3], 1u | (2u << 16) | (uint64_t{prop::kDirectSend | prop::kIndirect | prop::kNotifications |
                                                      prop::kAarch64}
                                             << 32));
  EXPECT_EQ(v.ctx.x[9] & 0xffff, 7u);
  EXPECT_EQ(v.ctx.x[10], s().ffa.uuid.low64());
  EXPECT_EQ(v.ctx.x[11], s().ffa.uuid.high64());
  EXPECT_EQ(v.ctx.x[12], 0u) << "registers past the last descriptor are zero";
  EXPECT_EQ(v.ctx.x[17], 0u);
  call(v, ffa::kPartitionInfoGetRegs, 0, 0, 2);
  ASSERT_EQ(v.ctx.x[0], ffa::kSuccess64);
  EXPECT_EQ(v.ctx.x[3] & 0xffff, 7u) << "from index 2";
  call(v, ffa::kPartitionInfoGetRegs, 0, 0, 3);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << "past the last";
  call(v, ffa::kPartitionInfoGetRegs, 0, 0, 1u << 16);
  EXPECT_EQ(err(v), code(Error::kRetry)) << "a tag the kernel never gave";
  call(v, ffa::kPartitionInfoGetRegs, s().ffa.uuid.low64(), s().ffa.uuid.high64(), 0);
  ASSERT_EQ(v.ctx.x[0], ffa::kSuccess64);
  EXPECT_EQ(v.ctx.x[2] & 0xffff, 0u);
  EXPECT_EQ(v.ctx.x[4], 0u) << "no UUID told to a query by UUID";
  Vcpu& older = a().vcpus[0];
  negotiate(older, ffa::kVersion1_1);
  call(older, ffa::kPartitionInfoGetRegs);
  EXPECT_EQ(err(older), code(Error::kNotSupported));
}

// ---- Notifications -------------------------------------------------------------

TEST_F(FfaTest, ABoundNotificationSetReachesItsReceiverWithAnInterrupt) {
  Vcpu& va = a().vcpus[0];
  Vcpu& vb = b().vcpus[0];
  negotiate(va);
  negotiate(vb);
  // b lets a set notifications 3 and 40.
  const uint64_t bits = (uint64_t{1} << 3) | (uint64_t{1} << 40);
  call(vb, ffa::kNotificationBind, ffa::pack_ids(1, 2), 0, bits & 0xffff'ffff, bits >> 32);
  ASSERT_TRUE(ok(vb)) << err(vb);
  EXPECT_EQ(call(va, ffa::kNotificationSet, ffa::pack_ids(1, 2), 0, 0, 1u << 8), TrapAction::kSendInterrupts);
  ASSERT_TRUE(ok(va)) << err(va);
  EXPECT_EQ(va.sent_in, &b());
  EXPECT_EQ(va.sent_to, 1u) << "the pending interrupt for b's vCPU 0";
  call(vb, ffa::kNotificationGet, ffa::pack_ids(0, 2), ffa::kGetFromVms | ffa::kGetFromSps | ffa::kGetFromSpm);
  ASSERT_TRUE(ok(vb));
  EXPECT_EQ(vb.ctx.x[2], 0u);
  EXPECT_EQ(vb.ctx.x[3], 0u);
  EXPECT_EQ(vb.ctx.x[4], 0u);
  EXPECT_EQ(vb.ctx.x[5], 1u << 8) << "ID 40";
  call(vb, ffa::kNotificationGet, ffa::pack_ids(0, 2), ffa::kGetFromVms);
  ASSERT_TRUE(ok(vb));
  EXPECT_EQ(vb.ctx.x[5], 0u) << "taken";
}

TEST_F(FfaTest, AServerIsRunForWhatItIsSentInsteadOfInterrupted) {
  Vcpu& vb = b().vcpus[0];
  Vcpu& vs = s().vcpus[0];
  negotiate(vb);
  negotiate(vs);
  call(vs, ffa::kNotificationBind, ffa::pack_ids(2, 7), 0, 1);
  ASSERT_TRUE(ok(vs));
  EXPECT_EQ(call(vb, ffa::kNotificationSet, ffa::pack_ids(2, 7), 0, 1), TrapAction::kSendInterrupts);
  EXPECT_EQ(vb.sent_in, &s()) << "the run loop runs the server for it";
  call(vs, ffa::kFeatures, 1);
  EXPECT_EQ(err(vs), code(Error::kNotSupported)) << "no pending interrupt to tell a server of";
  map(vs);
  map(vb);
  write_message(b(), 2, 7, "for the server");
  EXPECT_EQ(call(vb, ffa::kMsgSend2), TrapAction::kSendInterrupts);
  EXPECT_EQ(vb.sent_in, &s());
}

TEST_F(FfaTest, BindRefusesWhatIsNotTheReceiversToBind) {
  Vcpu& vb = b().vcpus[0];
  negotiate(vb);
  const struct {
    const char* what;
    uint64_t w1, flags, low, high;
    Error e;
  } bad[] = {
      {"receiver not the caller", ffa::pack_ids(1, 7), 0, 1, 0, Error::kInvalidParameters},
      {"sender the receiver", ffa::pack_ids(2, 2), 0, 1, 0, Error::kInvalidParameters},
      {"sender unknown", ffa::pack_ids(5, 2), 0, 1, 0, Error::kInvalidParameters},
      {"the hypervisor as sender", ffa::pack_ids(0, 2), 0, 1, 0, Error::kInvalidParameters},
      {"an empty bitmap", ffa::pack_ids(1, 2), 0, 0, 0, Error::kInvalidParameters},
      {"unknown flags", ffa::pack_ids(1, 2), 2, 1, 0, Error::kInvalidParameters},
  };
  for (const auto& c : bad) {
    call(vb, ffa::kNotificationBind, c.w1, c.flags, c.low, c.high);
    EXPECT_EQ(err(vb), code(c.e)) << c.what;
  }
  call(vb, ffa::kNotificationBind, ffa::pack_ids(1, 2), 0, 0b11);
  ASSERT_TRUE(ok(vb));
  call(vb, ffa::kNotificationBind, ffa::pack_ids(1, 2), 0, 0b10);
  EXPECT_EQ(err(vb), code(Error::kDenied)) << "bound already, even to the same sender";
  call(vb, ffa::kNotificationBind, ffa::pack_ids(7, 2), 0, 0b110);
  EXPECT_EQ(err(vb), code(Error::kDenied)) << "one of them bound already";
  call(vb, ffa::kNotificationBind, ffa::pack_ids(7, 2), 0, 0b100);
  EXPECT_TRUE(ok(vb));
  // A partition that does not take notifications cannot bind them.
  b().ffa.messaging &= ~prop::kNotifications;
  call(vb, ffa::kNotificationBind, ffa::pack_ids(1, 2), 0, 0b1000);
  EXPECT_EQ(err(vb), code(Error::kNotSupported));
}

TEST_F(FfaTest, SetRefusesUnboundIdsOtherSendersAndBadFlags) {
  Vcpu& va = a().vcpus[0];
  Vcpu& vb = b().vcpus[0];
  Vcpu& vs = s().vcpus[0];
  negotiate(va);
  negotiate(vb);
  negotiate(vs);
  call(vb, ffa::kNotificationBind, ffa::pack_ids(1, 2), 0, 0b1);                          // global, from a
  call(vb, ffa::kNotificationBind, ffa::pack_ids(1, 2), ffa::kNotificationPerVcpu, 0b10);  // per-vCPU, from a
  const struct {
    const char* what;
    Vcpu* from;
    uint64_t w1, flags, low, high;
    Error e;
  } bad[] = {
      {"an unbound ID", &va, ffa::pack_ids(1, 2), 0, 0b100, 0, Error::kDenied},
      {"bound and unbound together", &va, ffa::pack_ids(1, 2), 0, 0b101, 0, Error::kDenied},
      {"another sender's ID", &vs, ffa::pack_ids(7, 2), 0, 0b1, 0, Error::kDenied},
      {"a sender that is not the caller", &vs, ffa::pack_ids(1, 2), 0, 0b1, 0, Error::kInvalidParameters},
      {"to itself", &va, ffa::pack_ids(1, 1), 0, 0b1, 0, Error::kInvalidParameters},
      {"to nobody", &va, ffa::pack_ids(1, 9), 0, 0b1, 0, Error::kInvalidParameters},
      {"an empty bitmap", &va, ffa::pack_ids(1, 2), 0, 0, 0, Error::kInvalidParameters},
      {"a reserved flag", &va, ffa::pack_ids(1, 2), 1u << 4, 0b1, 0, Error::kInvalidParameters},
      {"delaying the schedule receiver interrupt", &va, ffa::pack_ids(1, 2), ffa::kNotificationDelaySri, 0b1, 0,
       Error::kInvalidParameters},
      {"a vCPU for a global ID", &va, ffa::pack_ids(1, 2), 1u << 16, 0b1, 0, Error::kInvalidParameters},
      {"a global ID set per-vCPU", &va, ffa::pack_ids(1, 2), ffa::kNotificationPerVcpu, 0b1, 0,
       Error::kInvalidParameters},
      {"a per-vCPU ID set globally", &va, ffa::pack_ids(1, 2), 0, 0b10, 0, Error::kInvalidParameters},
      {"a vCPU the receiver lacks", &va, ffa::pack_ids(1, 2), ffa::kNotificationPerVcpu | (1u << 16), 0b10, 0,
       Error::kInvalidParameters},
  };
  for (const auto& c : bad) {
    call(*c.from, ffa::kNotificationSet, c.w1, c.flags, c.low, c.high);
    EXPECT_EQ(err(*c.from), code(c.e)) << c.what;
  }
  call(vb, ffa::kNotificationGet, ffa::pack_ids(0, 2), ffa::kGetFromVms);
  ASSERT_TRUE(ok(vb));
  EXPECT_EQ(vb.ctx.x[4], 0u) << "nothing refused was set";
  call(va, ffa::kNotificationSet, ffa::pack_ids(1, 2), ffa::kNotificationPerVcpu, 0b10);
  EXPECT_TRUE(ok(va)) << err(va);
  // A receiver that takes no notifications.
  b().ffa.messaging &= ~prop::kNotifications;
  call(va, ffa::kNotificationSet, ffa::pack_ids(1, 2), 0, 0b1);
  EXPECT_EQ(err(va), code(Error::kDenied));
}

TEST_F(FfaTest, PerVcpuNotificationsGoToTheirVcpuOnly) {
  Vcpu& a0 = a().vcpus[0];
  Vcpu& a1 = a().vcpus[1];
  Vcpu& vb = b().vcpus[0];
  negotiate(a0);
  negotiate(vb);
  call(a0, ffa::kNotificationBind, ffa::pack_ids(2, 1), ffa::kNotificationPerVcpu, 1u << 5);
  ASSERT_TRUE(ok(a0));
  EXPECT_EQ(call(vb, ffa::kNotificationSet, ffa::pack_ids(2, 1), ffa::kNotificationPerVcpu | (1u << 16), 1u << 5),
            TrapAction::kSendInterrupts);
  ASSERT_TRUE(ok(vb)) << err(vb);
  EXPECT_EQ(vb.sent_to, 0b10u) << "vCPU 1's interrupt";
  call(a0, ffa::kNotificationGet, ffa::pack_ids(0, 1), ffa::kGetFromVms);
  ASSERT_TRUE(ok(a0));
  EXPECT_EQ(a0.ctx.x[4], 0u) << "not vCPU 0's";
  call(a0, ffa::kNotificationGet, ffa::pack_ids(1, 1), ffa::kGetFromVms);
  EXPECT_EQ(err(a0), code(Error::kInvalidParameters)) << "a vCPU takes only its own";
  call(a1, ffa::kNotificationGet, ffa::pack_ids(1, 1), ffa::kGetFromVms);
  ASSERT_TRUE(ok(a1));
  EXPECT_EQ(a1.ctx.x[4], 1u << 5);
  call(a1, ffa::kNotificationGet, ffa::pack_ids(1, 1), 1u << 4);
  EXPECT_EQ(err(a1), code(Error::kInvalidParameters)) << "unknown flags";
  call(a1, ffa::kNotificationGet, ffa::pack_ids(1, 2), ffa::kGetFromVms);
  EXPECT_EQ(err(a1), code(Error::kInvalidParameters)) << "another's notifications";
}

TEST_F(FfaTest, UnbindOnlyWhatTheSenderHoldsAndNothingPending) {
  Vcpu& va = a().vcpus[0];
  Vcpu& vb = b().vcpus[0];
  negotiate(va);
  negotiate(vb);
  call(vb, ffa::kNotificationBind, ffa::pack_ids(1, 2), 0, 0b11);
  call(vb, ffa::kNotificationBind, ffa::pack_ids(7, 2), 0, 0b100);
  call(vb, ffa::kNotificationUnbind, ffa::pack_ids(1, 2), 0, 0b110);
  EXPECT_EQ(err(vb), code(Error::kDenied)) << "ID 2 is the server's";
  call(vb, ffa::kNotificationUnbind, ffa::pack_ids(1, 2), 0, 0b1000);
  EXPECT_EQ(err(vb), code(Error::kDenied)) << "ID 3 is nobody's";
  call(vb, ffa::kNotificationUnbind, ffa::pack_ids(1, 2), 1, 0b1);
  EXPECT_EQ(err(vb), code(Error::kInvalidParameters)) << "no flags";
  call(va, ffa::kNotificationSet, ffa::pack_ids(1, 2), 0, 0b1);
  ASSERT_TRUE(ok(va));
  call(vb, ffa::kNotificationUnbind, ffa::pack_ids(1, 2), 0, 0b1);
  EXPECT_EQ(err(vb), code(Error::kDenied)) << "pending";
  call(vb, ffa::kNotificationGet, ffa::pack_ids(0, 2), ffa::kGetFromVms);
  call(vb, ffa::kNotificationUnbind, ffa::pack_ids(1, 2), 0, 0b11);
  EXPECT_TRUE(ok(vb));
  call(va, ffa::kNotificationSet, ffa::pack_ids(1, 2), 0, 0b1);
  EXPECT_EQ(err(va), code(Error::kDenied)) << "unbound now";
  call(vb, ffa::kNotificationBind, ffa::pack_ids(7, 2), 0, 0b1);
  EXPECT_TRUE(ok(vb)) << "free for another sender";
}

// ---- Indirect messages ---------------------------------------------------------

TEST_F(FfaTest, AMessageLandsInTheReceiversRxBufferWithItsHeader) {
  Vcpu& va = a().vcpus[0];
  Vcpu& vb = b().vcpus[0];
  negotiate(va);
  negotiate(vb);
  map(va);
  map(vb);
  std::memset(rx(b()), 0xee, kPage);
  write_message(a(), 1, 2, "hello, b", 64);
  std::memset(tx(a()) + 40, 0x55, 24);  // whatever lies between header and payload
  EXPECT_EQ(call(va, ffa::kMsgSend2), TrapAction::kSendInterrupts);
  ASSERT_TRUE(ok(va)) << err(va);
  EXPECT_EQ(va.sent_in, &b());
  ffa::MessageHeader h;
  ASSERT_TRUE(ffa::parse_message_header(rx(b()), kPage, h));
  EXPECT_EQ(h.sender, 1);
  EXPECT_EQ(h.receiver, 2);
  EXPECT_EQ(h.offset, 64u);
  EXPECT_EQ(std::memcmp(rx(b()) + 64, "hello, b", 8), 0);
  EXPECT_EQ(rx(b())[40], 0) << "nothing of the sender's but the header and payload";
  EXPECT_EQ(rx(b())[72], 0xee) << "nothing past the payload";
  // b learns of it through the framework's "RX buffer full".
  call(vb, ffa::kNotificationGet, ffa::pack_ids(0, 2), ffa::kGetFromHypervisor);
  ASSERT_TRUE(ok(vb));
  EXPECT_EQ(vb.ctx.x[7], ffa::kFrameworkRxFull);
  // Until b releases its buffer, nothing more reaches it.
  write_message(a(), 1, 2, "again");
  call(va, ffa::kMsgSend2);
  EXPECT_EQ(err(va), code(Error::kBusy));
  call(vb, ffa::kRxRelease);
  ASSERT_TRUE(ok(vb));
  call(va, ffa::kMsgSend2);
  EXPECT_TRUE(ok(va)) << err(va);
  EXPECT_EQ(std::memcmp(rx(b()) + 20, "again", 5), 0);
}

TEST_F(FfaTest, MessagesThatLieOrCannotBeDeliveredAreRefused) {
  Vcpu& va = a().vcpus[0];
  Vcpu& vb = b().vcpus[0];
  Vcpu& vs = s().vcpus[0];
  negotiate(va);
  negotiate(vb);
  negotiate(vs);
  write_message(a(), 1, 2, "x");
  call(va, ffa::kMsgSend2);
  EXPECT_EQ(err(va), code(Error::kDenied)) << "no TX buffer";
  map(va);
  write_message(a(), 1, 2, "x");
  call(va, ffa::kMsgSend2);
  EXPECT_EQ(err(va), code(Error::kBusy)) << "the receiver has no RX buffer";
  map(vb);
  const struct {
    const char* what;
    uint16_t from, to;
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint64_t w1, w2;
    Error e;
  } bad[] = {
      {"a forged sender", 7, 2, 20, 1, 0, 0, 0, Error::kInvalidParameters},
      {"to itself", 1, 1, 20, 1, 0, 0, 0, Error::kInvalidParameters},
      {"to nobody", 1, 9, 20, 1, 0, 0, 0, Error::kInvalidParameters},
      {"header flags", 1, 2, 20, 1, 1, 0, 0, Error::kInvalidParameters},
      {"a payload past the buffer", 1, 2, 20, 4096 - 19, 0, 0, 0, Error::kInvalidParameters},
      {"an offset inside the header", 1, 2, 12, 1, 0, 0, 0, Error::kInvalidParameters},
      {"a sender in w1", 1, 2, 20, 1, 0, uint64_t{1} << 16, 0, Error::kInvalidParameters},
      {"flags in w2", 1, 2, 20, 1, 0, 0, 2, Error::kInvalidParameters},
  };
  for (const auto& c : bad) {
    ffa::MessageHeader h{.flags = c.flags, .offset = c.offset, .sender = c.from, .receiver = c.to, .size = c.size};
    ffa::write_message_header(h, tx(a()));
    call(va, ffa::kMsgSend2, c.w1, c.w2);
    EXPECT_EQ(err(va), code(c.e)) << c.what;
  }
  // The receiver's RX buffer is smaller than the sender's TX buffer.
  call(va, ffa::kRxtxUnmap);
  map(va, 2);
  ffa::MessageHeader big{.offset = 20, .sender = 1, .receiver = 2, .size = 5000};
  ffa::write_message_header(big, tx(a()));
  call(va, ffa::kMsgSend2);
  EXPECT_EQ(err(va), code(Error::kInvalidParameters)) << "does not fit the receiver's buffer";
  // A receiver that takes no indirect messages; a sender that sends none.
  s().ffa.messaging &= ~prop::kIndirect;
  write_message(a(), 1, 7, "x");
  call(va, ffa::kMsgSend2);
  EXPECT_EQ(err(va), code(Error::kDenied));
  a().ffa.messaging &= ~prop::kIndirect;
  write_message(a(), 1, 2, "x");
  call(va, ffa::kMsgSend2);
  EXPECT_EQ(err(va), code(Error::kDenied));
  SpinLockGuard guard(b().ffa.lock);
  EXPECT_FALSE(b().ffa.mailbox.rx_full) << "nothing refused was delivered";
}

// Two partitions send to each other on two CPUs at once, each taking what
// it receives: the buffers' locks are taken in one order, so neither waits
// for the other forever, and every message sent is received whole.
TEST_F(FfaTest, TwoPartitionsSendingToEachOtherAtOnce) {
  negotiate(a().vcpus[0]);
  negotiate(b().vcpus[0]);
  map(a().vcpus[0]);
  map(b().vcpus[0]);
  constexpr int kMessages = 500;
  auto run = [&](Partition& self, Partition& peer, std::atomic<int>& received) {
    Vcpu& v = self.vcpus[0];
    int sent = 0;
    while (sent < kMessages || received.load() < kMessages) {
      if (sent < kMessages) {
        const std::string text = "message " + std::to_string(sent);
        write_message(self, self.id, peer.id, text.c_str());
        call(v, ffa::kMsgSend2);
        if (ok(v)) ++sent;
        else ASSERT_EQ(err(v), code(Error::kBusy));
      }
      call(v, ffa::kNotificationGet, ffa::pack_ids(0, self.id), ffa::kGetFromHypervisor);
      if (ok(v) && v.ctx.x[7] == ffa::kFrameworkRxFull) {
        ffa::MessageHeader h;
        ASSERT_TRUE(ffa::parse_message_header(rx(self), kPage, h));
        ASSERT_EQ(h.sender, peer.id);
        const std::string expected = "message " + std::to_string(received.load());
        ASSERT_EQ(std::string(reinterpret_cast<const char*>(rx(self)) + h.offset, h.size), expected);
        ++received;
        call(v, ffa::kRxRelease);
        ASSERT_TRUE(ok(v));
      }
    }
  };
  std::atomic<int> got_a{0};
  std::atomic<int> got_b{0};
  std::thread ta([&] { run(a(), b(), got_a); });
  std::thread tb([&] { run(b(), a(), got_b); });
  ta.join();
  tb.join();
  EXPECT_EQ(got_a.load(), kMessages);
  EXPECT_EQ(got_b.load(), kMessages);
}

// A partition that maps and unmaps its buffers on one CPU while its other
// vCPU asks for partition information and releases it, and another
// partition sends to it on a third: every call answers FF-A's way, and at
// the end the RX pages are read-only exactly while a pair is mapped.
TEST_F(FfaTest, BuffersRemappedWhileOthersUseThem) {
  Vcpu& a0 = a().vcpus[0];
  Vcpu& a1 = a().vcpus[1];
  Vcpu& vb = b().vcpus[0];
  negotiate(a0);
  negotiate(vb);
  map(vb);
  std::atomic<bool> done{false};
  auto answered = [](const Vcpu& v) { return ok(v) || v.ctx.x[0] == ffa::kError; };
  std::thread remapper([&] {
    for (int i = 0; i < 2000; ++i) {
      const uint64_t tx = kRamIpa + uint64_t(i % 4) * kPage;
      call(a0, ffa::kRxtxMap64, tx, kRamIpa + 8 * kPage + uint64_t(i % 3) * kPage, 1);
      ASSERT_TRUE(answered(a0));
      call(a0, ffa::kRxtxUnmap);
      ASSERT_TRUE(answered(a0));
    }
    done.store(true);
  });
  std::thread reader([&] {
    while (!done.load()) {
      call(a1, ffa::kPartitionInfoGet);
      ASSERT_TRUE(answered(a1));
      call(a1, ffa::kRxRelease);
      ASSERT_TRUE(answered(a1));
    }
  });
  std::thread sender([&] {
    while (!done.load()) {
      write_message(b(), 2, 1, "racing");
      call(vb, ffa::kMsgSend2);
      ASSERT_TRUE(ok(vb) || err(vb) == code(Error::kBusy)) << err(vb);
    }
  });
  remapper.join();
  reader.join();
  sender.join();
  for (uint64_t page = 0; page < kRamPages; ++page) {
    const auto t = a().stage2.translate(kRamIpa + page * kPage);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->attrs, kPartitionRam) << "unmapped at the end: page " << page;
  }
}

// ---- Direct messages ---------------------------------------------------------

// b's request registers for a direct request to `to`, payload 10..14.
void request_regs(Vcpu& v, uint32_t fid, uint16_t from, uint16_t to) {
  v.ctx.x[0] = fid;
  v.ctx.x[1] = ffa::pack_ids(from, to);
  v.ctx.x[2] = 0;
  for (size_t i = 3; i <= 7; ++i) v.ctx.x[i] = 7 + i;
}

TEST_F(FfaTest, ADirectRequestIsCheckedBeforeTheRunLoopSeesIt) {
  Vcpu& vb = b().vcpus[0];
  Vcpu& vs = s().vcpus[0];
  negotiate(vb);
  negotiate(vs);
  const struct {
    const char* what;
    uint64_t w1, w2;
    Error e;
  } bad[] = {
      {"a forged sender", ffa::pack_ids(1, 7), 0, Error::kInvalidParameters},
      {"to itself", ffa::pack_ids(2, 2), 0, Error::kInvalidParameters},
      {"to nobody", ffa::pack_ids(2, 9), 0, Error::kInvalidParameters},
      {"a framework message", ffa::pack_ids(2, 7), ffa::kFrameworkMessage, Error::kInvalidParameters},
      {"flags", ffa::pack_ids(2, 7), 1, Error::kInvalidParameters},
      {"upper bits of x1 in SMC64", (uint64_t{1} << 40) | ffa::pack_ids(2, 7), 0, Error::kInvalidParameters},
      {"a receiver that takes none", ffa::pack_ids(2, 1), 0, Error::kDenied},
  };
  for (const auto& c : bad) {
    EXPECT_EQ(call(vb, ffa::kMsgSendDirectReq64, c.w1, c.w2, 1, 2, 3, 4, 5), TrapAction::kResume) << c.what;
    EXPECT_EQ(err(vb), code(c.e)) << c.what;
  }
  EXPECT_EQ(call(vb, ffa::kMsgSendDirectReq64, ffa::pack_ids(2, 7), 0, 1, 2, 3, 4, 5), TrapAction::kDirectRequest);
  EXPECT_EQ(vb.direct.target, &s().vcpus[0]);
  EXPECT_EQ(vb.ctx.x[3], 1u) << "the request's registers are left for the run loop";
  // The SMC32 form ignores the upper halves.
  EXPECT_EQ(call(vb, ffa::kMsgSendDirectReq32, (uint64_t{0xffff} << 32) | ffa::pack_ids(2, 7)),
            TrapAction::kDirectRequest);
  // A server cannot wait for an answer; a sender only to its targets.
  EXPECT_EQ(call(vs, ffa::kMsgSendDirectReq32, ffa::pack_ids(7, 2)), TrapAction::kResume);
  EXPECT_EQ(err(vs), code(Error::kDenied));
  b().ffa.targets[0] = 1;
  b().ffa.target_count = 1;
  call(vb, ffa::kMsgSendDirectReq32, ffa::pack_ids(2, 7));
  EXPECT_EQ(err(vb), code(Error::kDenied)) << "not among its targets";
  b().ffa.target_count = 0;
  b().ffa.messaging &= ~prop::kDirectSend;
  call(vb, ffa::kMsgSendDirectReq32, ffa::pack_ids(2, 7));
  EXPECT_EQ(err(vb), code(Error::kDenied)) << "sends none";
}

TEST_F(FfaTest, AMultiVcpuReceiverTakesRequestsOnTheSendersIndex) {
  negotiate(a().vcpus[1]);
  negotiate(b().vcpus[0]);
  b().ffa.messaging |= prop::kDirectReceive;
  a().ffa.messaging |= prop::kDirectReceive;
  EXPECT_EQ(call(b().vcpus[0], ffa::kMsgSendDirectReq32, ffa::pack_ids(2, 1)), TrapAction::kDirectRequest);
  EXPECT_EQ(b().vcpus[0].direct.target, &a().vcpus[0]);
  EXPECT_EQ(call(a().vcpus[1], ffa::kMsgSendDirectReq32, ffa::pack_ids(1, 2)), TrapAction::kDirectRequest);
  EXPECT_EQ(a().vcpus[1].direct.target, &b().vcpus[0]) << "one vCPU takes them all";
}

TEST_F(FfaTest, ARequestReachesAWaitingReceiverAndItsResponseComesBack) {
  Vcpu& vb = b().vcpus[0];
  Vcpu& vs = s().vcpus[0];
  negotiate(vb);
  negotiate(vs);
  request_regs(vb, ffa::kMsgSendDirectReq64, 2, 7);
  EXPECT_FALSE(ffa_deliver_request(vb, vs)) << "the server does not wait for messages yet";
  EXPECT_EQ(call(vs, ffa::kMsgWait), TrapAction::kMessageWait);
  EXPECT_EQ(vs.direct.state.load(), MsgState::kWaiting);
  request_regs(vb, ffa::kMsgSendDirectReq64, 2, 7);
  vb.ctx.x[7] = 0x1234'5678'9abc'def0;
  ASSERT_TRUE(ffa_deliver_request(vb, vs));
  EXPECT_FALSE(vb.direct.ready.load());
  EXPECT_EQ(vs.direct.state.load(), MsgState::kServing);
  EXPECT_EQ(vs.ctx.x[0], ffa::kMsgSendDirectReq64);
  EXPECT_EQ(vs.ctx.x[1], ffa::pack_ids(2, 7));
  EXPECT_EQ(vs.ctx.x[3], 10u);
  EXPECT_EQ(vs.ctx.x[7], 0x1234'5678'9abc'def0u);
  EXPECT_FALSE(ffa_deliver_request(a().vcpus[0], vs)) << "one request at a time";
  // The server may not wait or ask while it serves, and answers the sender only.
  call(vs, ffa::kMsgWait);
  EXPECT_EQ(err(vs), code(Error::kDenied));
  call(vs, ffa::kMsgSendDirectResp64, ffa::pack_ids(7, 1));
  EXPECT_EQ(err(vs), code(Error::kInvalidParameters));
  call(vs, ffa::kMsgSendDirectResp64, ffa::pack_ids(2, 2));
  EXPECT_EQ(err(vs), code(Error::kInvalidParameters));
  EXPECT_EQ(call(vs, ffa::kMsgSendDirectResp64, ffa::pack_ids(7, 2), 0, 21, 22, 23, 24, 25),
            TrapAction::kDirectResponse);
  EXPECT_EQ(ffa_respond(vs), &vb);
  EXPECT_TRUE(vb.direct.ready.load());
  EXPECT_EQ(vb.ctx.x[0], ffa::kMsgSendDirectResp64);
  EXPECT_EQ(vb.ctx.x[1], ffa::pack_ids(7, 2));
  EXPECT_EQ(vb.ctx.x[2], 0u);
  EXPECT_EQ(vb.ctx.x[3], 21u);
  EXPECT_EQ(vb.ctx.x[7], 25u);
  EXPECT_EQ(vs.direct.state.load(), MsgState::kWaiting) << "the response waits for the next";
  // Run for anything but a request, its wait returns FFA_RUN.
  ffa_server_resumed(vs);
  EXPECT_EQ(vs.direct.state.load(), MsgState::kNone);
  EXPECT_EQ(vs.ctx.x[0], ffa::kRun) << "a server woken for anything else sees FFA_RUN";
  EXPECT_EQ(vs.ctx.x[1], uint64_t{7} << 16);
  for (size_t i = 2; i <= 7; ++i) EXPECT_EQ(vs.ctx.x[i], 0u) << i;
  call(vs, ffa::kMsgSendDirectResp64, ffa::pack_ids(7, 2));
  EXPECT_EQ(err(vs), code(Error::kDenied)) << "nothing to answer";
}

TEST_F(FfaTest, TheSmc32ConventionCarries32BitValuesBothWays) {
  Vcpu& vb = b().vcpus[0];
  Vcpu& vs = s().vcpus[0];
  negotiate(vb);
  negotiate(vs);
  call(vs, ffa::kMsgWait);
  request_regs(vb, ffa::kMsgSendDirectReq32, 2, 7);
  vb.ctx.x[1] |= uint64_t{0xabcd} << 32;
  vb.ctx.x[3] = 0xffff'ffff'0000'0001;
  ASSERT_TRUE(ffa_deliver_request(vb, vs));
  EXPECT_EQ(vs.ctx.x[1], ffa::pack_ids(2, 7));
  EXPECT_EQ(vs.ctx.x[3], 1u);
  // A 64-bit response to a 32-bit request reaches it as 32 bits.
  vs.ctx.x[0] = ffa::kMsgSendDirectResp64;
  vs.ctx.x[1] = ffa::pack_ids(7, 2);
  vs.ctx.x[3] = 0x5555'5555'0000'0002;
  EXPECT_EQ(ffa_respond(vs), &vb);
  EXPECT_EQ(vb.ctx.x[3], 2u);
}

TEST_F(FfaTest, MsgWaitChecksItsArgumentsAndGivesBackTheRxBuffer) {
  Vcpu& va = a().vcpus[0];
  negotiate(va, ffa::kVersion1_1);
  map(va);
  call(va, ffa::kPartitionInfoGet);
  ASSERT_TRUE(ok(va));
  call(va, ffa::kMsgWait, 1);
  EXPECT_EQ(err(va), code(Error::kInvalidParameters));
  call(va, ffa::kMsgWait, 0, ffa::kWaitRetainRx);
  EXPECT_EQ(err(va), code(Error::kInvalidParameters)) << "keeping the buffer is FF-A 1.2's";
  call(va, ffa::kMsgWait, 0, 0, 0, 0, 0, 0, 1);
  EXPECT_EQ(err(va), code(Error::kInvalidParameters));
  EXPECT_EQ(call(va, ffa::kMsgWait), TrapAction::kMessageWait);
  call(va, ffa::kRxRelease);
  EXPECT_EQ(err(va), code(Error::kDenied)) << "the wait gave it back";
  // An interrupt ends the wait: INTERRUPTED, and it waits no more.
  EXPECT_FALSE(ffa_end_message_wait(va));
  EXPECT_EQ(err(va), code(Error::kInterrupted));
  request_regs(b().vcpus[0], ffa::kMsgSendDirectReq32, 2, 1);
  EXPECT_FALSE(ffa_deliver_request(b().vcpus[0], va));
  // FF-A 1.2 may keep the buffer through the wait.
  Vcpu& vb = b().vcpus[0];
  negotiate(vb, ffa::kVersion1_2);
  map(vb);
  call(vb, ffa::kPartitionInfoGet);
  EXPECT_EQ(call(vb, ffa::kMsgWait, 0, ffa::kWaitRetainRx), TrapAction::kMessageWait);
  call(vb, ffa::kRxRelease);
  EXPECT_TRUE(ok(vb)) << "kept";
}

TEST_F(FfaTest, ARequestWhoseReceiverGoesAwayIsAborted) {
  Vcpu& vb = b().vcpus[0];
  Vcpu& vs = s().vcpus[0];
  negotiate(vs);
  call(vs, ffa::kMsgWait);
  request_regs(vb, ffa::kMsgSendDirectReq64, 2, 7);
  ASSERT_TRUE(ffa_deliver_request(vb, vs));
  EXPECT_EQ(ffa_abort_request(vs), &vb);
  EXPECT_TRUE(vb.direct.ready.load());
  EXPECT_EQ(err(vb), code(Error::kAborted));
  EXPECT_EQ(vs.direct.state.load(), MsgState::kNone);
  EXPECT_EQ(ffa_abort_request(vs), nullptr) << "nothing left to abort";
}

TEST_F(FfaTest, AResponseToARequesterResetSinceIsDropped) {
  Vcpu& vb = b().vcpus[0];
  Vcpu& vs = s().vcpus[0];
  negotiate(vs);
  call(vs, ffa::kMsgWait);
  request_regs(vb, ffa::kMsgSendDirectReq64, 2, 7);
  ASSERT_TRUE(ffa_deliver_request(vb, vs));
  b().reset_ffa();
  vb.ctx.x[3] = 99;
  vs.ctx.x[0] = ffa::kMsgSendDirectResp64;
  vs.ctx.x[1] = ffa::pack_ids(7, 2);
  vs.ctx.x[3] = 1;
  EXPECT_EQ(ffa_respond(vs), nullptr);
  EXPECT_EQ(vb.ctx.x[3], 99u) << "its new life's registers are its own";
  EXPECT_FALSE(vb.direct.ready.load());
  EXPECT_EQ(vs.direct.state.load(), MsgState::kWaiting);
}

// A sender delivering requests while the receiver, on another CPU, waits,
// gives up waiting (as an interrupt would end its wait) and answers: every
// request delivered is answered once, with its own payload, and none is
// delivered to a receiver that stopped waiting.
TEST_F(FfaTest, RequestsRacingTheEndOfAWait) {
  Vcpu& vb = b().vcpus[0];
  Vcpu& vs = s().vcpus[0];
  constexpr uint64_t kRequests = 2000;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> answered{0};
  std::thread receiver([&] {
    uint64_t round = 0;
    while (!done.load()) {
      // As FFA_MSG_WAIT leaves it (a response leaves it waiting already).
      if (vs.direct.state.load() == MsgState::kNone) vs.direct.state.store(MsgState::kWaiting);
      if (++round % 3 == 0) {
        if (!ffa_end_message_wait(vs)) continue;  // interrupted first
      } else {
        while (vs.direct.state.load(std::memory_order_acquire) != MsgState::kServing && !done.load()) {
        }
        if (done.load()) break;
      }
      // Serving: answer with the payload plus one.
      ASSERT_EQ(vs.direct.state.load(), MsgState::kServing);
      vs.ctx.x[0] = ffa::kMsgSendDirectResp64;
      vs.ctx.x[1] = ffa::pack_ids(7, 2);
      vs.ctx.x[3] = vs.ctx.x[3] + 1;
      Vcpu* q = ffa_respond(vs);
      ASSERT_EQ(q, &vb);
      answered.fetch_add(1);
    }
  });
  for (uint64_t n = 0; n < kRequests;) {
    request_regs(vb, ffa::kMsgSendDirectReq64, 2, 7);
    vb.ctx.x[3] = n * 10;
    if (!ffa_deliver_request(vb, vs)) continue;
    while (!vb.direct.ready.load(std::memory_order_acquire)) {
    }
    ASSERT_EQ(vb.ctx.x[0], ffa::kMsgSendDirectResp64);
    ASSERT_EQ(vb.ctx.x[3], n * 10 + 1);
    ++n;
  }
  done.store(true);
  receiver.join();
  EXPECT_EQ(answered.load(), kRequests);
}

}  // namespace
}  // namespace hyp
