// FF-A memory sharing on the host: partitions with real Stage-2 tables over
// fake memory, descriptors written into their TX buffers as a partition
// would, every call's effect read back from the tables and the buffers.
#include "kernel/ffa/sharing.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ffa/memory.h"
#include "kernel/arch/fake/fake.h"
#include "kernel/ffa/calls.h"
#include "kernel/ffa/ownership.h"

namespace hyp {
namespace {

namespace mm = arch::mm;
using ffa::Error;
using ffa::Transfer;
using ownership::Op;

constexpr uint64_t kRamIpa = 0x4000'0000;
constexpr size_t kRamPages = 32;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kTx = kRamIpa;               // page 0
constexpr uint64_t kRx = kRamIpa + 8 * kPage;   // page 8
constexpr uint64_t kFree = kRamIpa + 16 * kPage;  // pages 16.. are the tests' to give

uint64_t hvc_esr() { return (uint64_t{static_cast<uint8_t>(Ec::kHvc64)} << 26) | (1u << 25); }

// Guests "a" (ID 1), "b" (ID 2) and "c" (ID 3), each with 32 pages of RAM at
// 0x4000'0000, FF-A 1.2 negotiated and RX/TX buffers mapped.
class SharingTest : public ::testing::Test {
 protected:
  struct Node {
    arch::fake::PhysMemory ram{kRamPages};
  };

  void SetUp() override {
    arch::fake::reset();
    pool_.add(pool_memory_.base(), pool_memory_.pages());
    partitions_ = std::make_unique<Partition[]>(3);
    for (uint16_t i = 0; i < 3; ++i) {
      nodes_.push_back(std::make_unique<Node>());
      Partition& p = partitions_[i];
      auto table = PageTable::create(pool_, mm::Regime::kStage2, static_cast<uint16_t>(i + 1));
      ASSERT_TRUE(table.ok());
      p.stage2 = *table;
      p.id = static_cast<uint16_t>(i + 1);
      p.vmid = static_cast<uint16_t>(i + 1);
      p.kind = PartitionKind::kGuest;
      p.state = PartitionState::kRunning;
      p.vcpu_count = 1;
      p.vcpus[0].partition = &p;
      p.memory[0] = {Ipa(kRamIpa), nodes_[i]->ram.base(), kRamPages * kPageSize};
      p.memory_count = 1;
      ASSERT_EQ(p.stage2.map(kRamIpa, nodes_[i]->ram.base(), kRamPages * kPageSize, kPartitionRam), Status::kOk);
    }
    ffa_set_partitions(partitions_.get(), 3);
    for (uint16_t i = 0; i < 3; ++i) {
      Vcpu& v = partitions_[i].vcpus[0];
      call(v, ffa::kVersion, ffa::kVersion1_2);
      call(v, ffa::kRxtxMap64, kTx, kRx, 1);
      ASSERT_EQ(v.ctx.x[0], ffa::kSuccess32);
    }
  }
  void TearDown() override { ffa_set_partitions(nullptr, 0); }

  Partition& a() { return partitions_[0]; }
  Partition& b() { return partitions_[1]; }
  Partition& c() { return partitions_[2]; }

  void call(Vcpu& v, uint32_t fid, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0, uint64_t x4 = 0) {
    const uint64_t x[8] = {fid, x1, x2, x3, x4, 0, 0, 0};
    for (size_t i = 0; i < 8; ++i) v.ctx.x[i] = x[i];
    (void)handle_trap(v, {hvc_esr(), 0, 0});
  }
  static int32_t err(const Vcpu& v) { return v.ctx.x[0] == ffa::kError ? static_cast<int32_t>(v.ctx.x[2]) : 0; }
  static int32_t code(Error e) { return static_cast<int32_t>(e); }

  uint8_t* ram(Partition& p, uint64_t ipa) {
    return static_cast<uint8_t*>(mm::phys_to_virt(p.memory[0].pa.offset(ipa - kRamIpa)));
  }
  uint8_t* tx(Partition& p) { return ram(p, kTx); }
  uint8_t* rx(Partition& p) { return ram(p, kRx); }

  // `from` sends `ranges` to `to` (each with `data` access) by `transfer`:
  // the error, or 0 with the handle in `handle`.
  int32_t send(Partition& from, Transfer transfer, std::vector<uint16_t> to, std::vector<ffa::Range> ranges,
               uint64_t& handle, uint32_t flags = 0, ffa::DataAccess data = ffa::DataAccess::kReadWrite) {
    ffa::Transaction t;
    t.sender = from.id;
    t.flags = flags;
    const bool shared = transfer == Transfer::kShare || to.size() > 1;
    t.attributes = shared ? ffa::encode_attributes(ffa::kNormalMemory) : 0;
    std::vector<ffa::Access> receivers;
    for (uint16_t id : to) {
      ffa::Access acc;
      acc.receiver = id;
      acc.permissions = ffa::encode_permissions(transfer == Transfer::kDonate ? ffa::DataAccess::kUnspecified : data,
                                                ffa::InstructionAccess::kUnspecified);
      receivers.push_back(acc);
    }
    const uint32_t n = ffa::write_descriptor(t, receivers.data(), static_cast<uint32_t>(receivers.size()),
                                             ranges.data(), static_cast<uint32_t>(ranges.size()), tx(from), 4096);
    EXPECT_NE(n, 0u);
    Vcpu& v = from.vcpus[0];
    v.ctx.x[0] = transfer == Transfer::kShare ? ffa::kMemShare32 : transfer == Transfer::kLend ? ffa::kMemLend32 : ffa::kMemDonate32;
    v.ctx.x[1] = n;
    v.ctx.x[2] = n;
    v.ctx.x[3] = 0;
    v.ctx.x[4] = 0;
    (void)ffa_mem_send(v, static_cast<uint32_t>(v.ctx.x[0]), transfer);
    if (err(v) != 0) return err(v);
    EXPECT_EQ(v.ctx.x[0], ffa::kSuccess32);
    handle = ffa::handle_of(v.ctx.x[2], v.ctx.x[3]);
    return 0;
  }

  // `r` retrieves `handle` from `sender`, asking for `data` and `x`.
  int32_t retrieve(Partition& r, uint64_t handle, uint16_t sender, Transfer transfer,
                   ffa::DataAccess data = ffa::DataAccess::kReadWrite,
                   ffa::InstructionAccess x = ffa::InstructionAccess::kUnspecified, uint32_t flags = 0,
                   uint64_t tag = 0) {
    ffa::Transaction t;
    t.sender = sender;
    t.handle = handle;
    t.tag = tag;
    t.flags = flags | ffa::transfer_flags(transfer);
    ffa::Access acc;
    acc.receiver = r.id;
    acc.permissions = ffa::encode_permissions(data, x);
    const uint32_t n = ffa::write_retrieve_request(t, acc, tx(r));
    Vcpu& v = r.vcpus[0];
    v.ctx.x[0] = ffa::kMemRetrieveReq32;
    v.ctx.x[1] = n;
    v.ctx.x[2] = n;
    v.ctx.x[3] = 0;
    v.ctx.x[4] = 0;
    (void)ffa_mem_retrieve(v, ffa::kMemRetrieveReq32);
    if (err(v) != 0) return err(v);
    EXPECT_EQ(v.ctx.x[0], ffa::kMemRetrieveResp);
    return 0;
  }

  void release_rx(Partition& p) {
    call(p.vcpus[0], ffa::kRxRelease);
    ASSERT_EQ(p.vcpus[0].ctx.x[0], ffa::kSuccess32);
  }

  int32_t relinquish(Partition& r, uint64_t handle, uint32_t flags = 0) {
    ffa::write_relinquish({handle, flags, r.id}, tx(r));
    Vcpu& v = r.vcpus[0];
    for (size_t i = 1; i < 8; ++i) v.ctx.x[i] = 0;
    v.ctx.x[0] = ffa::kMemRelinquish;
    (void)ffa_mem_relinquish(v);
    return err(v);
  }

  int32_t reclaim(Partition& p, uint64_t handle, uint32_t flags = 0) {
    Vcpu& v = p.vcpus[0];
    v.ctx.x[0] = ffa::kMemReclaim;
    v.ctx.x[1] = handle & 0xffff'ffff;
    v.ctx.x[2] = handle >> 32;
    v.ctx.x[3] = flags;
    for (size_t i = 4; i < 8; ++i) v.ctx.x[i] = 0;
    (void)ffa_mem_reclaim(v);
    return err(v);
  }

  std::optional<PageTable::Translation> at(Partition& p, uint64_t ipa) { return p.stage2.translate(ipa); }

  arch::fake::PhysMemory pool_memory_{96};
  PagePool pool_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unique_ptr<Partition[]> partitions_;
};

TEST_F(SharingTest, ShareRetrieveRelinquishReclaim) {
  uint64_t h = 0;
  ASSERT_EQ(send(a(), Transfer::kShare, {2}, {{kFree, 2}}, h), 0);
  EXPECT_NE(h & ffa::kHandleHypervisor, 0u) << "the hypervisor's handle";
  EXPECT_EQ(ffa_mem_transactions(), 1u);
  // The owner keeps its access, in the shared state.
  ASSERT_TRUE(at(a(), kFree));
  EXPECT_EQ(at(a(), kFree)->attrs.state, mm::PageState::kSharedOwned);
  EXPECT_TRUE(at(a(), kFree + kPage)->attrs.write);
  // The receiver maps it in its window for a, at the same physical pages.
  ASSERT_EQ(retrieve(b(), h, 1, Transfer::kShare), 0);
  const uint64_t window = borrowed_ipa(a(), kFree);
  ASSERT_TRUE(at(b(), window + kPage));
  EXPECT_EQ(at(b(), window + kPage)->pa, at(a(), kFree + kPage)->pa);
  EXPECT_EQ(at(b(), window)->attrs.state, mm::PageState::kSharedBorrowed);
  EXPECT_TRUE(at(b(), window)->attrs.write);
  EXPECT_FALSE(at(b(), window)->attrs.exec) << "shared memory is not executable";
  // The answer in b's RX buffer: the transaction at b's addresses.
  ffa::Transaction t;
  ASSERT_EQ(ffa::read_transaction(rx(b()), 4096, ffa::kVersion1_2, t), ffa::kNoError);
  EXPECT_EQ(t.handle, h);
  EXPECT_EQ(t.sender, 1);
  EXPECT_EQ(ffa::transfer_of(t.flags), Transfer::kShare);
  ffa::Access acc;
  ASSERT_EQ(ffa::read_access(rx(b()), 4096, t, 0, acc), ffa::kNoError);
  EXPECT_EQ(acc.receiver, 2);
  ffa::Composite comp;
  ASSERT_EQ(ffa::read_composite(rx(b()), 4096, acc.composite_offset, comp), ffa::kNoError);
  EXPECT_EQ(comp.total_pages, 2u);
  ffa::Range r;
  ASSERT_EQ(ffa::read_range(rx(b()), acc.composite_offset, 0, r), ffa::kNoError);
  EXPECT_EQ(r.address, window);
  // Writes meet.
  ram(a(), kFree)[5] = 0x5a;
  EXPECT_EQ(static_cast<uint8_t*>(mm::phys_to_virt(at(b(), window)->pa))[5], 0x5a);
  // Not reclaimed while b holds it; relinquished, then reclaimed.
  EXPECT_EQ(reclaim(a(), h), code(Error::kDenied));
  EXPECT_EQ(relinquish(b(), h), 0);
  EXPECT_FALSE(at(b(), window)) << "gone from the receiver";
  EXPECT_EQ(reclaim(a(), h), 0);
  EXPECT_EQ(at(a(), kFree)->attrs, kPartitionRam) << "the owner's exact attributes back";
  EXPECT_EQ(ffa_mem_transactions(), 0u);
  EXPECT_EQ(reclaim(a(), h), code(Error::kInvalidParameters)) << "the handle is gone";
}

TEST_F(SharingTest, LendTakesTheOwnersAccessAndGivesOneBorrowerItsOwnChoiceOfExecution) {
  uint64_t h = 0;
  std::memset(ram(a(), kFree), 0x77, kPage);
  ASSERT_EQ(send(a(), Transfer::kLend, {2}, {{kFree, 1}}, h, ffa::kMemClear), 0);
  EXPECT_EQ(at(a(), kFree)->attrs.state, mm::PageState::kLent);
  EXPECT_FALSE(at(a(), kFree)->attrs.read) << "a lent page faults for its owner";
  EXPECT_EQ(ram(a(), kFree)[100], 0) << "cleared, as asked";
  EXPECT_EQ(retrieve(b(), h, 1, Transfer::kLend), code(Error::kInvalidParameters))
      << "one borrower says whether it executes";
  ASSERT_EQ(retrieve(b(), h, 1, Transfer::kLend, ffa::DataAccess::kReadOnly, ffa::InstructionAccess::kExecutable), 0);
  const uint64_t window = borrowed_ipa(a(), kFree);
  EXPECT_EQ(at(b(), window)->attrs.state, mm::PageState::kBorrowed);
  EXPECT_FALSE(at(b(), window)->attrs.write) << "read-only, as it asked";
  EXPECT_TRUE(at(b(), window)->attrs.exec);
  EXPECT_EQ(relinquish(b(), h), 0);
  EXPECT_EQ(reclaim(a(), h), 0);
  EXPECT_EQ(at(a(), kFree)->attrs, kPartitionRam);
}

TEST_F(SharingTest, DonateMovesOwnership) {
  uint64_t h = 0;
  ASSERT_EQ(send(a(), Transfer::kDonate, {3}, {{kFree, 2}}, h), 0);
  EXPECT_EQ(at(a(), kFree)->attrs.state, mm::PageState::kDonated);
  const Pa pa = at(a(), kFree)->pa;
  ASSERT_EQ(retrieve(c(), h, 1, Transfer::kDonate, ffa::DataAccess::kUnspecified,
                     ffa::InstructionAccess::kNotExecutable),
            0);
  EXPECT_FALSE(at(a(), kFree)) << "the donor's pages are gone";
  const uint64_t window = borrowed_ipa(a(), kFree);
  EXPECT_EQ(at(c(), window)->pa, pa);
  EXPECT_EQ(at(c(), window)->attrs, kPartitionRam) << "owned by the receiver now";
  EXPECT_EQ(ffa_mem_transactions(), 0u) << "a donation ends when taken";
  EXPECT_EQ(reclaim(a(), h), code(Error::kInvalidParameters));
  // It is the new owner's, but at an address no window reaches: it cannot
  // give it on (docs/ffa.md).
  release_rx(c());
  uint64_t h2 = 0;
  EXPECT_EQ(send(c(), Transfer::kShare, {2}, {{window, 1}}, h2), code(Error::kDenied));
}

TEST_F(SharingTest, ADonationNotYetTakenIsReclaimed) {
  uint64_t h = 0;
  ASSERT_EQ(send(a(), Transfer::kDonate, {3}, {{kFree, 1}}, h), 0);
  EXPECT_EQ(reclaim(a(), h), 0);
  EXPECT_EQ(at(a(), kFree)->attrs, kPartitionRam);
  EXPECT_EQ(retrieve(c(), h, 1, Transfer::kDonate, ffa::DataAccess::kUnspecified,
                     ffa::InstructionAccess::kNotExecutable),
            code(Error::kInvalidParameters));
}

// Each refusal leaves every table as it was.
TEST_F(SharingTest, InvalidTransitionsAreRefusedWithNothingChanged) {
  uint64_t h = 0;
  ASSERT_EQ(send(a(), Transfer::kShare, {2}, {{kFree, 2}}, h), 0);
  uint64_t h2 = 0;
  EXPECT_EQ(send(a(), Transfer::kShare, {3}, {{kFree + kPage, 1}}, h2), code(Error::kDenied)) << "shared already";
  EXPECT_EQ(send(a(), Transfer::kLend, {3}, {{kFree, 1}}, h2), code(Error::kDenied)) << "lent while shared";
  // All or nothing: the first range could go, the second cannot.
  EXPECT_EQ(send(a(), Transfer::kLend, {3}, {{kFree + 4 * kPage, 1}, {kFree + kPage, 1}}, h2), code(Error::kDenied));
  EXPECT_EQ(at(a(), kFree + 4 * kPage)->attrs, kPartitionRam) << "the first range unchanged";
  // The buffers, and what is not RAM the caller owns.
  EXPECT_EQ(send(a(), Transfer::kShare, {2}, {{kTx, 1}}, h2), code(Error::kDenied)) << "the TX buffer";
  EXPECT_EQ(send(a(), Transfer::kShare, {2}, {{kRx, 1}}, h2), code(Error::kDenied)) << "the RX buffer";
  EXPECT_EQ(send(a(), Transfer::kShare, {2}, {{kRamIpa + kRamPages * kPage, 1}}, h2), code(Error::kDenied))
      << "past the end of its RAM";
  // An owned page the kernel keeps read-only (as an RX buffer is) is not
  // owned RAM as memory calls see it.
  mm::Attrs read_only = kPartitionRam;
  read_only.write = false;
  ASSERT_EQ(a().stage2.protect(kFree + 6 * kPage, kPage, read_only), Status::kOk);
  EXPECT_EQ(send(a(), Transfer::kShare, {2}, {{kFree + 6 * kPage, 1}}, h2), code(Error::kDenied)) << "read-only";
  EXPECT_EQ(send(a(), Transfer::kShare, {2}, {{kFree + 4 * kPage + 8, 1}}, h2), code(Error::kInvalidParameters))
      << "unaligned";
  EXPECT_EQ(send(a(), Transfer::kShare, {2}, {{kFree + 4 * kPage, 2}, {kFree + 5 * kPage, 1}}, h2),
            code(Error::kInvalidParameters))
      << "overlapping ranges";
  EXPECT_EQ(send(a(), Transfer::kShare, {9}, {{kFree + 4 * kPage, 1}}, h2), code(Error::kInvalidParameters))
      << "nobody";
  // b's borrowed pages are not b's to give.
  ASSERT_EQ(retrieve(b(), h, 1, Transfer::kShare), 0);
  release_rx(b());
  EXPECT_EQ(send(b(), Transfer::kDonate, {3}, {{borrowed_ipa(a(), kFree), 1}}, h2), code(Error::kDenied))
      << "donate a borrowed page";
  // Retrievals that may not be.
  EXPECT_EQ(retrieve(b(), h, 1, Transfer::kShare), code(Error::kDenied)) << "twice";
  EXPECT_EQ(retrieve(c(), h, 1, Transfer::kShare), code(Error::kInvalidParameters)) << "not a receiver";
  EXPECT_EQ(retrieve(c(), h ^ (uint64_t{1} << 16), 1, Transfer::kShare), code(Error::kInvalidParameters))
      << "a stale handle";
  EXPECT_EQ(retrieve(c(), 5, 1, Transfer::kShare), code(Error::kInvalidParameters)) << "not the hypervisor's";
  // Relinquish and reclaim by the wrong partition.
  EXPECT_EQ(relinquish(c(), h), code(Error::kInvalidParameters));
  EXPECT_EQ(reclaim(b(), h), code(Error::kInvalidParameters));
  EXPECT_EQ(reclaim(a(), h), code(Error::kDenied)) << "reclaim while retrieved";
  EXPECT_EQ(ffa_mem_transactions(), 1u);
  EXPECT_EQ(at(a(), kFree)->attrs.state, mm::PageState::kSharedOwned);
}

// The registers that carry a descriptor: its length within the TX buffer,
// no other buffer (fragments: FragmentTest).
TEST_F(SharingTest, DescriptorRegistersAreChecked) {
  uint64_t h = 0;
  ASSERT_EQ(send(a(), Transfer::kShare, {2}, {{kFree, 1}}, h), 0);  // a valid descriptor in a's TX now
  ASSERT_EQ(reclaim(a(), h), 0);
  Vcpu& v = a().vcpus[0];
  const uint64_t n = ffa::kTransactionSize + ffa::kAccessSize1_1 + ffa::kCompositeSize + ffa::kRangeSize;
  auto share = [&](uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4) {
    v.ctx.x[0] = ffa::kMemShare64;
    v.ctx.x[1] = x1;
    v.ctx.x[2] = x2;
    v.ctx.x[3] = x3;
    v.ctx.x[4] = x4;
    (void)ffa_mem_send(v, ffa::kMemShare64, Transfer::kShare);
    return err(v);
  };
  EXPECT_EQ(share(n, n + 16, 0, 0), code(Error::kInvalidParameters)) << "a fragment longer than the whole";
  EXPECT_EQ(share(4096 + 16, 4096 + 16, 0, 0), code(Error::kInvalidParameters)) << "longer than the TX buffer";
  EXPECT_EQ(share(0, 0, 0, 0), code(Error::kInvalidParameters)) << "empty";
  EXPECT_EQ(share(n, n, kFree, 1), code(Error::kInvalidParameters)) << "another buffer";
  EXPECT_EQ(share(n, n, 0, 1), code(Error::kInvalidParameters)) << "pages of another buffer";
  EXPECT_EQ(share(n - 16, n - 16, 0, 0), code(Error::kInvalidParameters)) << "shorter than the descriptor";
  EXPECT_EQ(share(n | (uint64_t{1} << 32), n | (uint64_t{1} << 32), 0, 0), 0) << "w registers: the upper halves are not read";
  EXPECT_EQ(ffa_mem_transactions(), 1u);
}

// A length past the TX buffer is refused before anything is read: with the
// buffer at the end of RAM, reading on would leave the partition's memory
// (which AddressSanitizer reports here).
TEST_F(SharingTest, NothingPastTheTxBufferIsRead) {
  Vcpu& v = a().vcpus[0];
  call(v, ffa::kRxtxUnmap);
  ASSERT_EQ(v.ctx.x[0], ffa::kSuccess32);
  const uint64_t last = kRamIpa + (kRamPages - 1) * kPage;
  call(v, ffa::kRxtxMap64, last, last - kPage, 1);
  ASSERT_EQ(v.ctx.x[0], ffa::kSuccess32);
  std::memset(ram(a(), last), 0, kPage);
  v.ctx.x[0] = ffa::kMemShare32;
  v.ctx.x[1] = 2 * kPage;
  v.ctx.x[2] = 2 * kPage;
  v.ctx.x[3] = 0;
  v.ctx.x[4] = 0;
  (void)ffa_mem_send(v, ffa::kMemShare32, Transfer::kShare);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters));
}

TEST_F(SharingTest, ARetrieveAskingMoreThanGivenOrAnotherTagIsRefused) {
  uint64_t h = 0;
  ASSERT_EQ(send(a(), Transfer::kShare, {2}, {{kFree, 1}}, h, 0, ffa::DataAccess::kReadOnly), 0);
  EXPECT_EQ(retrieve(b(), h, 1, Transfer::kShare), code(Error::kDenied)) << "read-write for read-only";
  EXPECT_EQ(retrieve(b(), h, 1, Transfer::kLend, ffa::DataAccess::kReadOnly), code(Error::kInvalidParameters))
      << "another kind of transaction";
  EXPECT_EQ(retrieve(b(), h, 1, Transfer::kShare, ffa::DataAccess::kReadOnly, ffa::InstructionAccess::kUnspecified,
                     0, 99),
            code(Error::kInvalidParameters))
      << "another tag";
  EXPECT_EQ(retrieve(b(), h, 3, Transfer::kShare, ffa::DataAccess::kReadOnly), code(Error::kDenied))
      << "another sender";
  EXPECT_EQ(retrieve(b(), h, 1, Transfer::kShare, ffa::DataAccess::kReadOnly, ffa::InstructionAccess::kExecutable),
            code(Error::kInvalidParameters))
      << "execution of shared memory";
  ASSERT_EQ(retrieve(b(), h, 1, Transfer::kShare, ffa::DataAccess::kReadOnly), 0);
  EXPECT_FALSE(at(b(), borrowed_ipa(a(), kFree))->attrs.write);
}

TEST_F(SharingTest, ARetrieveNeedsRoomForItsAnswer) {
  uint64_t h = 0;
  ASSERT_EQ(send(a(), Transfer::kShare, {2}, {{kFree, 1}}, h), 0);
  call(b().vcpus[0], ffa::kPartitionInfoGet);  // fills b's RX buffer
  ASSERT_EQ(b().vcpus[0].ctx.x[0], ffa::kSuccess32);
  EXPECT_EQ(retrieve(b(), h, 1, Transfer::kShare), code(Error::kBusy));
  EXPECT_FALSE(at(b(), borrowed_ipa(a(), kFree))) << "nothing mapped";
  release_rx(b());
  EXPECT_EQ(retrieve(b(), h, 1, Transfer::kShare), 0);
}

TEST_F(SharingTest, ALoanToSeveralIsSharedByTheBorrowers) {
  uint64_t h = 0;
  ASSERT_EQ(send(a(), Transfer::kLend, {2, 3}, {{kFree, 1}}, h), 0);
  ASSERT_EQ(retrieve(b(), h, 1, Transfer::kLend), 0);
  ASSERT_EQ(retrieve(c(), h, 1, Transfer::kLend), 0);
  EXPECT_EQ(at(b(), borrowed_ipa(a(), kFree))->attrs.state, mm::PageState::kSharedBorrowed);
  EXPECT_EQ(at(c(), borrowed_ipa(a(), kFree))->attrs.state, mm::PageState::kSharedBorrowed);
  EXPECT_EQ(relinquish(b(), h), 0);
  EXPECT_EQ(reclaim(a(), h), code(Error::kDenied)) << "c still has it";
  EXPECT_EQ(relinquish(c(), h), 0);
  EXPECT_EQ(reclaim(a(), h), 0);
}

// A partition that stops or resets: what it gave is its own again and gone
// from its borrowers; what it borrowed goes back.
TEST_F(SharingTest, ASenderThatResetsTakesEverythingBack) {
  uint64_t share = 0;
  uint64_t lend = 0;
  ASSERT_EQ(send(a(), Transfer::kShare, {2, 3}, {{kFree, 1}}, share), 0);
  ASSERT_EQ(send(a(), Transfer::kLend, {2}, {{kFree + kPage, 1}}, lend), 0);
  ASSERT_EQ(retrieve(b(), share, 1, Transfer::kShare), 0);
  release_rx(b());
  ASSERT_EQ(retrieve(b(), lend, 1, Transfer::kLend, ffa::DataAccess::kReadWrite,
                     ffa::InstructionAccess::kNotExecutable),
            0);
  ffa_memory_release(a());
  EXPECT_EQ(ffa_mem_transactions(), 0u);
  EXPECT_EQ(at(a(), kFree)->attrs, kPartitionRam);
  EXPECT_EQ(at(a(), kFree + kPage)->attrs, kPartitionRam);
  EXPECT_FALSE(at(b(), borrowed_ipa(a(), kFree)));
  EXPECT_FALSE(at(b(), borrowed_ipa(a(), kFree + kPage)));
  EXPECT_EQ(relinquish(b(), share), code(Error::kInvalidParameters)) << "the transaction is gone";
}

TEST_F(SharingTest, ABorrowerThatResetsGivesBackWhatItBorrowed) {
  uint64_t h = 0;
  ASSERT_EQ(send(a(), Transfer::kShare, {2, 3}, {{kFree, 1}}, h), 0);
  ASSERT_EQ(retrieve(b(), h, 1, Transfer::kShare), 0);
  ASSERT_EQ(retrieve(c(), h, 1, Transfer::kShare), 0);
  ffa_memory_release(b());
  EXPECT_FALSE(at(b(), borrowed_ipa(a(), kFree)));
  EXPECT_TRUE(at(c(), borrowed_ipa(a(), kFree))) << "the other borrower keeps it";
  EXPECT_EQ(reclaim(a(), h), code(Error::kDenied)) << "c still holds it";
  EXPECT_EQ(relinquish(c(), h), 0);
  EXPECT_EQ(reclaim(a(), h), 0);
}

// ---- Fragments -------------------------------------------------------------------------

class FragmentTest : public SharingTest {
 protected:
  // a's share of `ranges` with b, its descriptor written whole into a's
  // TX buffer; returns its length and where the ranges start.
  uint32_t describe(std::vector<ffa::Range> ranges, uint32_t& ranges_at) {
    ffa::Transaction t;
    t.sender = a().id;
    t.attributes = ffa::encode_attributes(ffa::kNormalMemory);
    ffa::Access acc;
    acc.receiver = b().id;
    acc.permissions = ffa::encode_permissions(ffa::DataAccess::kReadWrite, ffa::InstructionAccess::kUnspecified);
    const uint32_t n = ffa::write_descriptor(t, &acc, 1, ranges.data(), static_cast<uint32_t>(ranges.size()),
                                             whole_, sizeof(whole_));
    ranges_at = n - static_cast<uint32_t>(ranges.size()) * ffa::kRangeSize;
    return n;
  }
  // FFA_MEM_SHARE with the first `first` bytes of the descriptor in TX.
  void start(uint32_t length, uint32_t first) {
    std::memcpy(tx(a()), whole_, first);
    Vcpu& v = a().vcpus[0];
    call(v, ffa::kMemShare32, length, first);
  }
  // FFA_MEM_FRAG_TX of `n` bytes of the descriptor from `from`.
  void next(Partition& p, uint64_t handle, uint32_t from, uint32_t n, uint64_t w4 = 0) {
    std::memcpy(tx(p), whole_ + from, n);
    call(p.vcpus[0], ffa::kMemFragTx, handle & 0xffff'ffff, handle >> 32, n, w4);
  }
  static uint64_t handle_in(const Vcpu& v) { return ffa::handle_of(v.ctx.x[1], v.ctx.x[2]); }

  uint8_t whole_[4096] = {};
};

// A share whose descriptor comes in three fragments: the kernel asks for
// each next one by offset under the handle it gives at the start, and the
// last makes the transaction under that handle, as if it had come whole.
TEST_F(FragmentTest, ASendInFragmentsIsMadeWhenTheLastArrives) {
  uint32_t off = 0;
  const uint32_t n = describe({{kFree, 1}, {kFree + 2 * kPage, 2}, {kFree + 5 * kPage, 1}}, off);
  Vcpu& v = a().vcpus[0];
  start(n, off + ffa::kRangeSize);
  ASSERT_EQ(v.ctx.x[0], ffa::kMemFragRx) << err(v);
  const uint64_t h = handle_in(v);
  EXPECT_NE(h & ffa::kHandleHypervisor, 0u);
  EXPECT_EQ(v.ctx.x[3], off + ffa::kRangeSize) << "the offset of the next fragment";
  EXPECT_EQ(v.ctx.x[4], 0u);
  EXPECT_EQ(at(a(), kFree)->attrs, kPartitionRam) << "nothing changes before the last fragment";
  EXPECT_EQ(retrieve(b(), h, 1, Transfer::kShare), code(Error::kInvalidParameters)) << "not there yet";
  EXPECT_EQ(reclaim(a(), h), code(Error::kInvalidParameters));
  // Another partition's send meanwhile gets a transaction of its own.
  uint64_t other = 0;
  ASSERT_EQ(send(c(), Transfer::kShare, {2}, {{kFree, 1}}, other), 0);
  EXPECT_NE(other & 0xffff, h & 0xffff) << "not the slot kept for a's fragments";
  next(a(), h, off + ffa::kRangeSize, ffa::kRangeSize);
  ASSERT_EQ(v.ctx.x[0], ffa::kMemFragRx) << err(v);
  EXPECT_EQ(handle_in(v), h);
  EXPECT_EQ(v.ctx.x[3], off + 2 * ffa::kRangeSize);
  next(a(), h, off + 2 * ffa::kRangeSize, ffa::kRangeSize);
  ASSERT_EQ(v.ctx.x[0], ffa::kSuccess32) << err(v);
  EXPECT_EQ(ffa::handle_of(v.ctx.x[2], v.ctx.x[3]), h) << "the handle given at the start";
  for (const uint64_t page : {kFree, kFree + 2 * kPage, kFree + 3 * kPage, kFree + 5 * kPage}) {
    EXPECT_EQ(at(a(), page)->attrs.state, mm::PageState::kSharedOwned) << std::hex << page;
  }
  EXPECT_EQ(at(a(), kFree + kPage)->attrs, kPartitionRam);
  ASSERT_EQ(retrieve(b(), h, 1, Transfer::kShare), 0);
  EXPECT_TRUE(at(b(), borrowed_ipa(a(), kFree + 5 * kPage)));
  EXPECT_EQ(relinquish(b(), h), 0);
  EXPECT_EQ(reclaim(a(), h), 0);
  EXPECT_EQ(reclaim(c(), other), 0);
  EXPECT_EQ(ffa_mem_transactions(), 0u);
  // The finished send leaves nothing behind: the next one starts afresh.
  start(n, off + ffa::kRangeSize);
  EXPECT_EQ(v.ctx.x[0], ffa::kMemFragRx) << err(v);
}

// Every wrong fragment: a fragment that does not fit ends the send (the
// sender starts again, nothing having changed); a call naming another
// handle, or from another partition, leaves it be.
TEST_F(FragmentTest, WrongFragmentsAreRefused) {
  uint32_t off = 0;
  const uint32_t n = describe({{kFree, 1}, {kFree + 2 * kPage, 1}, {kFree + 4 * kPage, 1}}, off);
  Vcpu& v = a().vcpus[0];
  auto begin = [&]() {
    start(n, off + ffa::kRangeSize);
    EXPECT_EQ(v.ctx.x[0], ffa::kMemFragRx) << err(v);
    return handle_in(v);
  };
  uint64_t h = begin();
  start(n, off + ffa::kRangeSize);
  EXPECT_EQ(err(v), code(Error::kBusy)) << "one send in fragments at a time";
  next(a(), h ^ 1, off + ffa::kRangeSize, ffa::kRangeSize);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << "another handle";
  next(b(), h, off + ffa::kRangeSize, ffa::kRangeSize);
  EXPECT_EQ(err(b().vcpus[0]), code(Error::kInvalidParameters)) << "another partition";
  next(a(), h, off + ffa::kRangeSize, ffa::kRangeSize);
  ASSERT_EQ(v.ctx.x[0], ffa::kMemFragRx) << "the send went on: " << err(v);
  // Each of these ends it.
  const struct {
    uint32_t length;
    uint64_t w4;
    const char* what;
  } wrong[] = {{8, 0, "half a range"}, {3 * ffa::kRangeSize, 0, "more than is left"}, {0, 0, "empty"},
               {ffa::kRangeSize, uint64_t{a().id} << 16, "a sender ID"}};
  for (const auto& w : wrong) {
    next(a(), h, off + 2 * ffa::kRangeSize, w.length, w.w4);
    EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << w.what;
    next(a(), h, off + 2 * ffa::kRangeSize, ffa::kRangeSize);
    EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << w.what << ": the send is over";
    EXPECT_EQ(ffa_mem_transactions(), 0u) << w.what;
    EXPECT_EQ(at(a(), kFree)->attrs, kPartitionRam) << w.what;
    h = begin();
    next(a(), h, off + ffa::kRangeSize, ffa::kRangeSize);
  }
  ffa_memory_release(a());
  EXPECT_EQ(ffa_mem_transactions(), 0u) << "a reset ends it";
  next(a(), h, off + 2 * ffa::kRangeSize, ffa::kRangeSize);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters));
}

// What the fragments add up to is checked as a whole descriptor is, and a
// first fragment that ends inside a range is refused at the end.
TEST_F(FragmentTest, TheWholeIsCheckedWhenItIsComplete) {
  uint32_t off = 0;
  const uint32_t n = describe({{kFree, 1}, {kFree + 2 * kPage, 1}}, off);
  Vcpu& v = a().vcpus[0];
  // The first fragment without the composite descriptor: the rest comes
  // in whole ranges' worth, but the first must hold everything up to them.
  start(n, off - ffa::kCompositeSize);
  ASSERT_EQ(v.ctx.x[0], ffa::kMemFragRx);
  for (uint32_t from = off - ffa::kCompositeSize; from < n - ffa::kRangeSize; from += ffa::kRangeSize) {
    next(a(), handle_in(v), from, ffa::kRangeSize);
    ASSERT_EQ(v.ctx.x[0], ffa::kMemFragRx) << from;
  }
  next(a(), handle_in(v), n - ffa::kRangeSize, ffa::kRangeSize);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters)) << "the first fragment ends before the ranges";
  EXPECT_EQ(ffa_mem_transactions(), 0u);
  // A first fragment that ends inside a range leaves a part of one for
  // the next.
  start(n, off + 8);
  ASSERT_EQ(v.ctx.x[0], ffa::kMemFragRx);
  next(a(), handle_in(v), off + 8, ffa::kRangeSize);
  ASSERT_EQ(v.ctx.x[0], ffa::kMemFragRx);
  next(a(), handle_in(v), off + 8 + ffa::kRangeSize, 8);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters));
  EXPECT_EQ(ffa_mem_transactions(), 0u);
  // A retrieve request comes whole.
  call(b().vcpus[0], ffa::kMemRetrieveReq32, 2 * ffa::kRangeSize, ffa::kRangeSize);
  EXPECT_EQ(err(b().vcpus[0]), code(Error::kInvalidParameters));
  // Overlapping ranges across two fragments.
  const uint32_t overlapping = describe({{kFree, 2}, {kFree + kPage, 1}}, off);
  start(overlapping, off + ffa::kRangeSize);
  ASSERT_EQ(v.ctx.x[0], ffa::kMemFragRx);
  next(a(), handle_in(v), off + ffa::kRangeSize, ffa::kRangeSize);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters));
  // The second fragment names a page a does not own.
  const uint32_t foreign = describe({{kFree, 1}, {kRamIpa + kRamPages * kPage, 1}}, off);
  start(foreign, off + ffa::kRangeSize);
  ASSERT_EQ(v.ctx.x[0], ffa::kMemFragRx);
  next(a(), handle_in(v), off + ffa::kRangeSize, ffa::kRangeSize);
  EXPECT_EQ(err(v), code(Error::kDenied));
  EXPECT_EQ(at(a(), kFree)->attrs, kPartitionRam) << "all or nothing";
  EXPECT_EQ(ffa_mem_transactions(), 0u);
  // Longer than any descriptor the kernel takes, or a first fragment
  // longer than the TX buffer.
  start(kMaxFragmentedDescriptor + ffa::kRangeSize, off);
  EXPECT_EQ(err(v), code(Error::kNoMemory));
  call(v, ffa::kMemShare32, 3 * 4096, 4096 + 16);
  EXPECT_EQ(err(v), code(Error::kInvalidParameters));
  // FFA_MEM_FRAG_RX: retrieve responses are never in fragments.
  call(b().vcpus[0], ffa::kMemFragRx, 0, 0, 0);
  EXPECT_EQ(err(b().vcpus[0]), code(Error::kInvalidParameters));
  EXPECT_EQ(ffa_mem_transactions(), 0u);
}

// Two vCPUs of one partition on two CPUs: one sends in fragments, the
// other (hostile, or just confused) sends FFA_MEM_FRAG_TX for the same
// handle with lengths of its own, while a third partition sends in
// fragments of its own. Every answer is one FF-A allows, a send is made at
// most once (each SUCCESS handle reclaims exactly once), nothing else
// changes, and everything is home at the end.
TEST_F(FragmentTest, FragmentsRacingFromTwoVcpus) {
  Vcpu& second = a().vcpus[1];
  second.partition = &a();
  second.index = 1;
  a().vcpu_count = 2;
  uint32_t off = 0;
  const uint32_t n = describe({{kFree, 1}, {kFree + 2 * kPage, 1}, {kFree + 4 * kPage, 1}}, off);
  std::atomic<uint64_t> current{0};
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::mutex made_lock;
  std::vector<uint64_t> made;
  auto answer = [&](const Vcpu& v) {
    const uint64_t x0 = v.ctx.x[0];
    if (x0 == ffa::kSuccess32) {
      std::lock_guard<std::mutex> guard(made_lock);
      made.push_back(ffa::handle_of(v.ctx.x[2], v.ctx.x[3]));
    } else if (x0 != ffa::kMemFragRx &&
               !(x0 == ffa::kError && (err(v) == code(Error::kInvalidParameters) || err(v) == code(Error::kBusy) ||
                                       err(v) == code(Error::kDenied)))) {
      ++bad;
    }
  };
  // The guest's writes to its TX buffer race the kernel's copy of it by
  // design (the kernel copies once and checks the copy); here they are
  // ordered by the buffer's lock only so that the ThreadSanitizer run looks
  // at the kernel's own state.
  auto write_tx = [&](const uint8_t* from, uint32_t bytes) {
    SpinLockGuard guard(a().ffa.lock);
    std::memcpy(tx(a()), from, bytes);
  };
  std::thread sender([&] {
    Vcpu& v = a().vcpus[0];
    for (int round = 0; round < 300; ++round) {
      write_tx(whole_, off);
      call(v, ffa::kMemShare32, n, off);
      if (v.ctx.x[0] != ffa::kMemFragRx) {  // its own send: never BUSY, whatever the other vCPU did
        ++bad;
        continue;
      }
      const uint64_t h = handle_in(v);
      current.store(h);
      for (uint32_t from = off; v.ctx.x[0] == ffa::kMemFragRx && from < n; from += ffa::kRangeSize) {
        write_tx(whole_ + from, ffa::kRangeSize);
        call(v, ffa::kMemFragTx, h & 0xffff'ffff, h >> 32, ffa::kRangeSize);
        answer(v);
      }
      current.store(0);
      // Whatever was made, a reclaims it before the next round (its pages
      // are needed again).
      std::lock_guard<std::mutex> guard(made_lock);
      for (uint64_t m : made) {
        if (reclaim(a(), m) != 0) ++bad;
      }
      made.clear();
    }
    stop.store(true);
  });
  std::thread meddler([&] {
    uint32_t length = 8;
    while (!stop.load()) {
      const uint64_t h = current.load();
      if (h == 0) continue;
      length = length == 8 ? 16 : length == 16 ? 32 : 8;
      call(second, ffa::kMemFragTx, h & 0xffff'ffff, h >> 32, length);
      answer(second);
    }
  });
  std::thread other([&] {
    uint8_t desc[4096];
    ffa::Transaction t;
    t.sender = c().id;
    t.attributes = ffa::encode_attributes(ffa::kNormalMemory);
    ffa::Access acc;
    acc.receiver = b().id;
    acc.permissions = ffa::encode_permissions(ffa::DataAccess::kReadWrite, ffa::InstructionAccess::kUnspecified);
    const ffa::Range ranges[2] = {{kFree, 1}, {kFree + kPage, 1}};
    const uint32_t len = ffa::write_descriptor(t, &acc, 1, ranges, 2, desc, sizeof(desc));
    Vcpu& v = c().vcpus[0];
    while (!stop.load()) {
      std::memcpy(tx(c()), desc, len - ffa::kRangeSize);
      call(v, ffa::kMemShare32, len, len - ffa::kRangeSize);
      if (v.ctx.x[0] != ffa::kMemFragRx) {
        ++bad;
        continue;
      }
      const uint64_t h = handle_in(v);
      std::memcpy(tx(c()), desc + len - ffa::kRangeSize, ffa::kRangeSize);
      call(v, ffa::kMemFragTx, h & 0xffff'ffff, h >> 32, ffa::kRangeSize);
      if (v.ctx.x[0] != ffa::kSuccess32 || ffa::handle_of(v.ctx.x[2], v.ctx.x[3]) != h || reclaim(c(), h) != 0) ++bad;
    }
  });
  sender.join();
  meddler.join();
  other.join();
  EXPECT_EQ(bad.load(), 0);
  for (uint64_t m : made) EXPECT_EQ(reclaim(a(), m), 0);
  ffa_memory_release(a());  // a send the meddler left half done
  EXPECT_EQ(ffa_mem_transactions(), 0u);
  for (uint64_t page = kFree; page < kFree + 8 * kPage; page += kPage) {
    EXPECT_EQ(at(a(), page)->attrs, kPartitionRam) << std::hex << page;
    EXPECT_EQ(at(c(), page)->attrs, kPartitionRam) << std::hex << page;
  }
}

// ---- Boot grants ---------------------------------------------------------------------

// a's pages 16..23 granted to b and c, as the package's memory grants are
// at boot: both have them in their windows from the start, read-write and
// not executable; the pages are a's in the shared state.
TEST_F(SharingTest, ABootGrantIsAShareTheServersHoldFromTheStart) {
  Partition* servers[] = {&b(), &c()};
  uint64_t h = 0;
  ASSERT_EQ(ffa_memory_grant(a(), servers, 2, kFree, 8 * kPage, h), ffa::kNoError);
  EXPECT_NE(h & ffa::kHandleHypervisor, 0u);
  EXPECT_EQ(ffa_mem_transactions(), 1u);
  for (uint64_t page = kFree; page < kFree + 8 * kPage; page += kPage) {
    ASSERT_TRUE(at(a(), page));
    EXPECT_EQ(at(a(), page)->attrs.state, mm::PageState::kSharedOwned);
    EXPECT_TRUE(at(a(), page)->attrs.write) << "the owner keeps its access";
    for (Partition* s : servers) {
      const auto w = at(*s, borrowed_ipa(a(), page));
      ASSERT_TRUE(w);
      EXPECT_EQ(w->pa, at(a(), page)->pa);
      EXPECT_EQ(w->attrs.state, mm::PageState::kSharedBorrowed);
      EXPECT_TRUE(w->attrs.write);
      EXPECT_FALSE(w->attrs.exec);
    }
  }
  EXPECT_FALSE(at(b(), borrowed_ipa(a(), kFree + 8 * kPage))) << "no more than granted";
  EXPECT_FALSE(at(b(), borrowed_ipa(a(), kFree - kPage)));
  // As a server sees it.
  MemoryGrant g[2];
  ASSERT_EQ(ffa_memory_grants_to(b(), g, 2), 1u);
  EXPECT_EQ(g[0].owner, &a());
  EXPECT_EQ(g[0].handle, h);
  EXPECT_EQ(g[0].ipa, kFree);
  EXPECT_EQ(g[0].size, 8 * kPage);
  EXPECT_EQ(g[0].window + kFree, borrowed_ipa(a(), kFree));
  EXPECT_EQ(ffa_memory_grants_to(a(), g, 2), 0u) << "the owner receives nothing";
}

// Neither side undoes a grant, no FF-A call gives its pages on, and
// neither restarting the servers nor resetting the owner ends it.
TEST_F(SharingTest, ABootGrantLastsWhateverThePartitionsDo) {
  Partition* servers[] = {&b()};
  uint64_t h = 0;
  ASSERT_EQ(ffa_memory_grant(a(), servers, 1, kFree, 4 * kPage, h), ffa::kNoError);
  const uint64_t window = borrowed_ipa(a(), kFree);
  EXPECT_EQ(relinquish(b(), h), code(Error::kDenied)) << "the server cannot give it back";
  EXPECT_EQ(reclaim(a(), h), code(Error::kDenied)) << "the owner cannot take it back";
  EXPECT_EQ(retrieve(b(), h, 1, Transfer::kShare), code(Error::kDenied)) << "held already";
  EXPECT_EQ(retrieve(c(), h, 1, Transfer::kShare), code(Error::kInvalidParameters)) << "not a receiver";
  uint64_t h2 = 0;
  EXPECT_EQ(send(a(), Transfer::kShare, {3}, {{kFree + kPage, 1}}, h2), code(Error::kDenied)) << "shared again";
  EXPECT_EQ(send(a(), Transfer::kLend, {3}, {{kFree, 1}}, h2), code(Error::kDenied)) << "lent";
  EXPECT_EQ(send(a(), Transfer::kDonate, {3}, {{kFree, 1}}, h2), code(Error::kDenied)) << "donated";
  EXPECT_EQ(send(b(), Transfer::kShare, {3}, {{window, 1}}, h2), code(Error::kDenied)) << "passed on by the server";
  call(a().vcpus[0], ffa::kRxtxUnmap);
  call(a().vcpus[0], ffa::kRxtxMap64, kFree, kFree + kPage, 1);
  EXPECT_EQ(err(a().vcpus[0]), code(Error::kInvalidParameters)) << "buffers are memory the owner has alone";
  call(a().vcpus[0], ffa::kRxtxMap64, kTx, kRx, 1);
  ASSERT_EQ(a().vcpus[0].ctx.x[0], ffa::kSuccess32);
  // A server restarted, the owner reset: still in place.
  ffa_memory_release(b());
  ffa_memory_release(a());
  EXPECT_EQ(ffa_mem_transactions(), 1u);
  ASSERT_TRUE(at(b(), window));
  EXPECT_TRUE(at(b(), window)->attrs.write);
  EXPECT_EQ(at(a(), kFree)->attrs.state, mm::PageState::kSharedOwned);
  MemoryGrant g;
  ASSERT_EQ(ffa_memory_grants_to(b(), &g, 1), 1u);
  EXPECT_EQ(g.handle, h);
  // Other transactions of the same partitions still end as before.
  ASSERT_EQ(send(a(), Transfer::kShare, {2}, {{kFree + 8 * kPage, 1}}, h2), 0);
  ASSERT_EQ(retrieve(b(), h2, 1, Transfer::kShare), 0);
  ffa_memory_release(b());
  EXPECT_FALSE(at(b(), borrowed_ipa(a(), kFree + 8 * kPage)));
  EXPECT_TRUE(at(b(), window));
}

// A grant the kernel cannot make changes nothing.
TEST_F(SharingTest, ABootGrantIsCheckedAndAllOrNothing) {
  Partition* one[] = {&b()};
  Partition* twice[] = {&b(), &b()};
  Partition* self[] = {&a()};
  Partition* none[] = {nullptr};
  uint64_t h = 0;
  EXPECT_EQ(ffa_memory_grant(a(), one, 0, kFree, kPage, h), Error::kInvalidParameters) << "no server";
  EXPECT_EQ(ffa_memory_grant(a(), twice, 2, kFree, kPage, h), Error::kInvalidParameters) << "one server twice";
  EXPECT_EQ(ffa_memory_grant(a(), self, 1, kFree, kPage, h), Error::kInvalidParameters) << "to itself";
  EXPECT_EQ(ffa_memory_grant(a(), none, 1, kFree, kPage, h), Error::kInvalidParameters);
  EXPECT_EQ(ffa_memory_grant(a(), one, 1, kFree + 8, kPage, h), Error::kInvalidParameters) << "unaligned";
  EXPECT_EQ(ffa_memory_grant(a(), one, 1, kFree, 0, h), Error::kInvalidParameters) << "empty";
  EXPECT_EQ(ffa_memory_grant(a(), one, 1, kBorrowWindow - kPage, 2 * kPage, h), Error::kInvalidParameters)
      << "past what a window holds";
  EXPECT_EQ(ffa_memory_grant(a(), one, 1, kFree, 17 * kPage, h), Error::kDenied) << "past the owner's RAM";
  EXPECT_EQ(ffa_memory_grant(a(), one, 1, kRx, kPage, h), Error::kDenied) << "its RX buffer";
  EXPECT_EQ(ffa_memory_grant(a(), one, 1, kTx, kPage, h), Error::kDenied) << "its TX buffer";
  // Something in the way in the second server's window: the first gets
  // nothing either, and the owner's pages stay its own alone.
  ASSERT_EQ(c().stage2.map(borrowed_ipa(a(), kFree + 2 * kPage), c().memory[0].pa, kPage, kPartitionRam), Status::kOk);
  Partition* both[] = {&b(), &c()};
  EXPECT_EQ(ffa_memory_grant(a(), both, 2, kFree, 4 * kPage, h), Error::kDenied) << "c's window is taken";
  uint64_t shared = 0;
  ASSERT_EQ(send(a(), Transfer::kShare, {3}, {{kFree + 7 * kPage, 1}}, shared), 0);
  EXPECT_EQ(ffa_memory_grant(a(), one, 1, kFree, 8 * kPage, h), Error::kDenied) << "a's last page is shared already";
  EXPECT_EQ(at(a(), kFree)->attrs, kPartitionRam);
  EXPECT_FALSE(at(b(), borrowed_ipa(a(), kFree)));
  EXPECT_EQ(ffa_mem_transactions(), 1u);
  MemoryGrant g;
  EXPECT_EQ(ffa_memory_grants_to(b(), &g, 1), 0u);
}

// Three partitions' vCPUs on three CPUs at once: a shares and reclaims
// while b retrieves and relinquishes the same transactions, and c remaps
// its buffers and shares its own page meanwhile. Each call answers as FF-A
// says, the sanitizers (the _tsan run) see no race, and everything is home
// at the end.
TEST_F(SharingTest, CallsOnSeveralCpusAtOnce) {
  std::atomic<uint64_t> offered{0};  // a's live handle for b, 0 if none
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  constexpr int kRounds = 400;
  std::thread sender([&] {
    for (int round = 0; round < kRounds; ++round) {
      uint64_t h = 0;
      if (send(a(), Transfer::kShare, {2}, {{kFree, 2}}, h) != 0) {
        ++bad;
        continue;
      }
      offered.store(h);
      // Reclaim until b has let go (DENIED while it holds it).
      for (;;) {
        const int32_t e = reclaim(a(), h);
        if (e == 0) break;
        if (e != code(Error::kDenied)) {
          ++bad;
          break;
        }
        std::this_thread::yield();
      }
      offered.store(0);
    }
    stop.store(true);
  });
  std::thread borrower([&] {
    while (!stop.load()) {
      const uint64_t h = offered.load();
      if (h == 0) continue;
      const int32_t e = retrieve(b(), h, 1, Transfer::kShare);
      if (e == 0) {
        call(b().vcpus[0], ffa::kRxRelease);
        if (relinquish(b(), h) != 0) ++bad;
      } else if (e != code(Error::kInvalidParameters) && e != code(Error::kDenied)) {
        ++bad;  // a handle reclaimed meanwhile is unknown; one retrieved already is DENIED
      }
    }
  });
  std::thread other([&] {
    int round = 0;
    while (!stop.load()) {
      uint64_t h = 0;
      // Its own page, to a, while a and b are busy with a's.
      if (send(c(), Transfer::kLend, {1}, {{kFree + 8 * kPage, 1}}, h) != 0 || reclaim(c(), h) != 0) ++bad;
      if (++round % 8 == 0) {
        call(c().vcpus[0], ffa::kRxtxUnmap);
        call(c().vcpus[0], ffa::kRxtxMap64, kTx, kRx, 1);
        if (c().vcpus[0].ctx.x[0] != ffa::kSuccess32) ++bad;
      }
    }
  });
  sender.join();
  borrower.join();
  other.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(ffa_mem_transactions(), 0u);
  EXPECT_EQ(at(a(), kFree)->attrs, kPartitionRam);
  EXPECT_EQ(at(c(), kFree + 8 * kPage)->attrs, kPartitionRam);
  EXPECT_FALSE(at(b(), borrowed_ipa(a(), kFree)));
}

// ---- Randomized, against a reference model ------------------------------------------
//
// Three partitions make random memory calls on eight pages each (and
// sometimes reset); a simple model says what each call must do, the call
// must succeed exactly when the model says, and after every call the real
// Stage-2 tables are compared with the model page by page and checked for
// the invariants: no page writable by two partitions unless all of them
// share it, every owner's page with its exact attributes, nothing mapped
// that no live transaction explains, and everything home once no
// transaction is live. HYP_SHARING_OPS sets the number of calls (100,000
// by default; docs/ffa.md has the long run).
class SharingModel {
 public:
  static constexpr int kParts = 3;
  static constexpr int kPages = 8;

  struct Txn {
    uint64_t handle = 0;
    int sender = 0;
    Transfer transfer = Transfer::kShare;
    std::vector<int> receivers;
    std::vector<int> pages;  // indexes into the sender's eight
    std::vector<bool> retrieved;

    // Where `r` is among the receivers (receivers.size() if it is not).
    size_t slot_of(int r) const {
      for (size_t j = 0; j < receivers.size(); ++j) {
        if (receivers[j] == r) return j;
      }
      return receivers.size();
    }
  };
  // Page (p, i): partition p's page i of the eight; who owns it now and
  // where (a donation moves it into the receiver's window).
  struct Page {
    int owner;
    bool home = true;  // at its first owner's RAM address
    ownership::State state = ownership::State::kOwned;
  };

  Page page[kParts][kPages];
  std::vector<Txn> live;

  SharingModel() {
    for (int p = 0; p < kParts; ++p) {
      for (int i = 0; i < kPages; ++i) page[p][i].owner = p;
    }
  }
};

uint64_t env_ops() {
  const char* v = std::getenv("HYP_SHARING_OPS");
  return v != nullptr ? std::strtoull(v, nullptr, 10) : 100'000;
}

TEST_F(SharingTest, RandomCallsAgreeWithTheModelAndKeepTheInvariants) {
  SharingModel m;
  Partition* parts[3] = {&a(), &b(), &c()};
  uint64_t seed = 0x9e37'79b9'7f4a'7c15;
  auto next = [&](uint64_t n) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed % n;
  };
  auto ipa_of = [](int i) { return kFree + uint64_t(i) * kPage; };
  const uint64_t ops = env_ops();
  uint64_t succeeded = 0;
  for (uint64_t op = 0; op < ops; ++op) {
    const int me = static_cast<int>(next(3));
    Partition& self = *parts[me];
    const uint64_t what = next(100);
    if (what < 40) {
      // A send of 1-3 of my pages (maybe not mine any more) to 1-2 others.
      const auto transfer = static_cast<Transfer>(next(3) + 1);
      const int n = transfer == Transfer::kDonate ? 1 : static_cast<int>(next(2) + 1);
      std::vector<uint16_t> to;
      std::vector<int> rs;
      for (int k = 1; k <= n; ++k) {
        const int r = (me + k) % 3;
        rs.push_back(r);
        to.push_back(parts[r]->id);
      }
      std::vector<int> pages;
      std::vector<ffa::Range> ranges;
      // Donated pages never come home: only the last two of each
      // partition's eight are ever donated, so that the rest keep moving.
      const int count = transfer == Transfer::kDonate ? 1 : static_cast<int>(next(3) + 1);
      const int first = transfer == Transfer::kDonate
                            ? static_cast<int>(6 + next(2))
                            : static_cast<int>(next(static_cast<uint64_t>(SharingModel::kPages - count + 1)));
      for (int i = first; i < first + count; ++i) pages.push_back(i);
      ranges.push_back({ipa_of(first), static_cast<uint32_t>(count)});
      bool expect = m.live.size() < kMaxMemTransactions;
      for (int i : pages) {
        const auto& pg = m.page[me][i];
        expect = expect && pg.owner == me && pg.home && pg.state == ownership::State::kOwned;
      }
      uint64_t h = 0;
      const int32_t e = send(self, transfer, to, ranges, h);
      ASSERT_EQ(e == 0, expect) << "op " << op << ": send, error " << e;
      if (e == 0) {
        ++succeeded;
        SharingModel::Txn t{h, me, transfer, rs, pages, std::vector<bool>(rs.size(), false)};
        for (int i : pages) {
          m.page[me][i].state = *ownership::transition(
              transfer == Transfer::kShare ? Op::kShare : transfer == Transfer::kLend ? Op::kLend : Op::kDonate,
              ownership::State::kOwned);
        }
        m.live.push_back(t);
      }
    } else if (what < 70 && !m.live.empty()) {
      // A retrieve, by a receiver or not.
      const size_t k = next(m.live.size());
      SharingModel::Txn& t = m.live[k];
      const int r = static_cast<int>(next(3));
      const size_t slot = t.slot_of(r);
      const bool expect = slot < t.receivers.size() && !t.retrieved[slot];
      const bool alone = t.transfer != Transfer::kShare && t.receivers.size() == 1;
      const int32_t e = retrieve(*parts[r], t.handle, parts[t.sender]->id, t.transfer,
                                 t.transfer == Transfer::kDonate ? ffa::DataAccess::kUnspecified
                                                                 : ffa::DataAccess::kReadWrite,
                                 alone ? ffa::InstructionAccess::kNotExecutable : ffa::InstructionAccess::kUnspecified);
      ASSERT_EQ(e == 0, expect) << "op " << op << ": retrieve, error " << e;
      if (e == 0) {
        ++succeeded;
        release_rx(*parts[r]);
        if (t.transfer == Transfer::kDonate) {
          for (int i : t.pages) {
            m.page[t.sender][i] = {r, false, ownership::State::kOwned};
          }
          m.live.erase(m.live.begin() + static_cast<ptrdiff_t>(k));
        } else {
          t.retrieved[slot] = true;
        }
      }
    } else if (what < 85 && !m.live.empty()) {
      const size_t k = next(m.live.size());
      SharingModel::Txn& t = m.live[k];
      const int r = static_cast<int>(next(3));
      const size_t slot = t.slot_of(r);
      const bool expect = slot < t.receivers.size() && t.retrieved[slot];
      const int32_t e = relinquish(*parts[r], t.handle);
      ASSERT_EQ(e == 0, expect) << "op " << op << ": relinquish, error " << e;
      if (e == 0) {
        ++succeeded;
        t.retrieved[slot] = false;
      }
    } else if (what < 98 && !m.live.empty()) {
      const size_t k = next(m.live.size());
      SharingModel::Txn& t = m.live[k];
      const int p = static_cast<int>(next(3));
      bool held = false;
      for (bool r : t.retrieved) held = held || r;
      const bool expect = p == t.sender && !held;
      const int32_t e = reclaim(*parts[p], t.handle);
      ASSERT_EQ(e == 0, expect) << "op " << op << ": reclaim, error " << e;
      if (e == 0) {
        ++succeeded;
        for (int i : t.pages) m.page[t.sender][i].state = ownership::State::kOwned;
        m.live.erase(m.live.begin() + static_cast<ptrdiff_t>(k));
      }
    } else {
      // A reset: what it gave comes back, what it borrowed goes.
      ffa_memory_release(self);
      for (size_t k = 0; k < m.live.size();) {
        SharingModel::Txn& t = m.live[k];
        for (size_t j = 0; j < t.receivers.size(); ++j) {
          if (t.receivers[j] == me) t.retrieved[j] = false;
        }
        if (t.sender == me) {
          for (int i : t.pages) m.page[me][i].state = ownership::State::kOwned;
          m.live.erase(m.live.begin() + static_cast<ptrdiff_t>(k));
        } else {
          ++k;
        }
      }
    }
    // The tables against the model, and the invariants.
    ASSERT_EQ(ffa_mem_transactions(), m.live.size()) << "op " << op;
    for (int p = 0; p < 3; ++p) {
      for (int i = 0; i < SharingModel::kPages; ++i) {
        const auto& pg = m.page[p][i];
        // Who may touch the physical page, from the tables.
        int writers = 0;
        int accessors = 0;
        bool all_shared = true;
        for (int q = 0; q < 3; ++q) {
          for (const uint64_t ipa : {ipa_of(i), borrowed_ipa(*parts[p], ipa_of(i))}) {
            if (q == p && ipa != ipa_of(i)) continue;
            if (q != p && ipa == ipa_of(i)) continue;
            const auto tr = parts[q]->stage2.translate(ipa);
            if (!tr || tr->pa != parts[p]->memory[0].pa.offset(ipa_of(i) - kRamIpa)) continue;
            if (tr->attrs.read) {
              ++accessors;
              writers += tr->attrs.write ? 1 : 0;
              all_shared = all_shared && (tr->attrs.state == mm::PageState::kSharedOwned ||
                                          tr->attrs.state == mm::PageState::kSharedBorrowed);
            }
          }
        }
        ASSERT_TRUE(accessors <= 1 || all_shared) << "op " << op << ": page " << p << "/" << i;
        ASSERT_LE(writers, accessors);
        // Its first owner's leaf: as the model says.
        const auto home = parts[p]->stage2.translate(ipa_of(i));
        if (pg.home) {
          ASSERT_TRUE(home) << "op " << op;
          ASSERT_EQ(ownership::state_of(home->attrs.state), pg.state) << "op " << op << ": page " << p << "/" << i;
          if (pg.state == ownership::State::kOwned) ASSERT_EQ(home->attrs, kPartitionRam) << "op " << op;
        } else {
          ASSERT_FALSE(home) << "op " << op << ": a donated page left its first owner";
          const auto moved = parts[pg.owner]->stage2.translate(borrowed_ipa(*parts[p], ipa_of(i)));
          ASSERT_TRUE(moved && moved->attrs == kPartitionRam) << "op " << op;
        }
      }
    }
    if (m.live.empty()) {
      for (int q = 0; q < 3; ++q) {
        for (int p = 0; p < 3; ++p) {
          if (p == q) continue;
          for (int i = 0; i < SharingModel::kPages; ++i) {
            const bool moved_here = !m.page[p][i].home && m.page[p][i].owner == q;
            ASSERT_EQ(parts[q]->stage2.translate(borrowed_ipa(*parts[p], ipa_of(i))).has_value(), moved_here)
                << "op " << op << ": nothing borrowed once nothing is live";
          }
        }
      }
    }
  }
  EXPECT_GT(succeeded, ops / 8) << "the calls often did something (about one in five does)";
}

}  // namespace
}  // namespace hyp
