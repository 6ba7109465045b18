// Fuzzes the kernel's FF-A calls as partitions make them: the input is a
// sequence of steps, each a call from one of three partitions' vCPUs with
// registers built from the input (IDs, addresses in and out of RAM, or raw
// words), bytes written into a partition's RAM (its TX buffer's header,
// say), or what the run loop does between calls (delivering a direct
// request, answering it, aborting it, ending a wait, resetting a
// partition). After each step the state must be sound: every answer is
// FF-A's, a mapped RX buffer is read-only to its owner and nothing else of
// its RAM is, pending notifications are bound ones, a vCPU serving a request
// knows its requester; memory given away is inaccessible to its owner, and
// nobody else maps an owned page, or an exclusively borrowed page beside its
// borrower. Any crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <memory>
#include <vector>

#include "ffa/abi.h"
#include "kernel/arch/fake/fake.h"
#include "ffa/memory.h"
#include "kernel/ffa/calls.h"
#include "kernel/ffa/sharing.h"
#include "kernel/trap/dispatch.h"

namespace hyp {
namespace {

constexpr uint64_t kRamIpa = 0x4000'0000;
constexpr size_t kRamPages = 16;
// What grant() gives: the first guest's last four pages.
constexpr uint64_t kGrantPages = 4;
constexpr uint64_t kGrantIpa = kRamIpa + (kRamPages - kGrantPages) * 4096;
constexpr size_t kPartitions = 3;
constexpr uint16_t kIds[kPartitions] = {1, 2, 7};

// Every FF-A function the fuzzer calls: the implemented ones several times
// over, so that they come up often, and some the kernel does not implement.
constexpr uint32_t kFunctions[] = {
    ffa::kVersion,           ffa::kFeatures,          ffa::kIdGet,
    ffa::kRxtxMap32,         ffa::kRxtxMap64,         ffa::kRxtxUnmap,
    ffa::kRxRelease,         ffa::kPartitionInfoGet,  ffa::kPartitionInfoGetRegs,
    ffa::kNotificationBind,  ffa::kNotificationUnbind, ffa::kNotificationSet,
    ffa::kNotificationGet,   ffa::kMsgSend2,          ffa::kMsgSendDirectReq32,
    ffa::kMsgSendDirectReq64, ffa::kMsgSendDirectResp32, ffa::kMsgSendDirectResp64,
    ffa::kMsgWait,           ffa::kYield,             ffa::kMemShare32,
    ffa::kRun,               ffa::kError,             ffa::kNotificationInfoGet64,
    0x8400'00EF,             ffa::kMsgSend2,          ffa::kNotificationSet,
    ffa::kMsgSendDirectReq64, ffa::kRxtxMap64,        ffa::kPartitionInfoGet,
    ffa::kMemShare64,        ffa::kMemLend32,         ffa::kMemDonate32,
    ffa::kMemRetrieveReq32,  ffa::kMemRetrieveReq64,  ffa::kMemRelinquish,
    ffa::kMemReclaim,        ffa::kMemShare32,        ffa::kMemRetrieveReq32,
    ffa::kMemFragTx,         ffa::kMemFragRx,         ffa::kMemFragTx,
    ffa::kMemLend32,         ffa::kMemShare32,
};

struct Input {
  const uint8_t* data;
  size_t size;
  bool empty() const { return size == 0; }
  uint8_t byte() {
    if (size == 0) return 0;
    --size;
    return *data++;
  }
  uint64_t word() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | byte();
    return v;
  }
};

class System {
 public:
  System() {
    arch::fake::reset();
    pool_.add(pool_memory_.base(), pool_memory_.pages());
    for (size_t i = 0; i < kPartitions; ++i) {
      Partition& p = partitions_[i];
      auto table = PageTable::create(pool_, arch::mm::Regime::kStage2, static_cast<uint16_t>(i + 1));
      if (!table.ok()) __builtin_trap();
      p.stage2 = *table;
      p.id = kIds[i];
      p.vmid = static_cast<uint16_t>(i + 1);  // as the loader numbers them: each sender its own window
      p.kind = i == 2 ? PartitionKind::kServer : PartitionKind::kGuest;
      p.state = PartitionState::kRunning;
      p.vcpu_count = i == 0 ? 2 : 1;
      p.memory[0] = {Ipa(kRamIpa), ram_[i].base(), kRamPages * kPageSize};
      p.memory_count = 1;
      if (p.stage2.map(kRamIpa, ram_[i].base(), kRamPages * kPageSize, kPartitionRam) != Status::kOk) __builtin_trap();
      for (size_t v = 0; v < p.vcpu_count; ++v) {
        p.vcpus[v].partition = &p;
        p.vcpus[v].index = static_cast<uint16_t>(v);
      }
      if (p.kind == PartitionKind::kGuest) p.vgic.init(static_cast<uint32_t>(p.vcpu_count), 4);
      p.ffa.messaging = i == 2 ? (package::kFfaMessagingMask & ~ffa::properties::kDirectSend)
                               : package::kFfaMessagingMask;
    }
    (void)ffa::parse_uuid("486178e0-e7f8-11e3-bc5e-0002a5d5c51b", partitions_[2].ffa.uuid);
    ffa_set_partitions(partitions_.get(), kPartitions);
  }
  ~System() { ffa_set_partitions(nullptr, 0); }

  // The first guest's last pages granted to the server, as a package's
  // memory grant does at boot: the calls must leave that in place.
  void grant() {
    Partition* server = &partitions_[2];
    if (ffa_memory_grant(partitions_[0], &server, 1, kGrantIpa, kGrantPages * kPageSize, grant_) != ffa::kNoError) {
      __builtin_trap();
    }
  }

  // Two bits of `setup` per partition: no version yet, FF-A 1.0, 1.1, 1.2.
  void negotiate(uint8_t setup) {
    constexpr uint32_t kVersions[] = {0, ffa::kVersion1_0, ffa::kVersion1_1, ffa::kVersion1_2};
    for (size_t i = 0; i < kPartitions; ++i) {
      partitions_[i].ffa.version.store(kVersions[(setup >> (2 * i)) & 3]);
    }
  }

  Vcpu& vcpu(uint8_t b) {
    Partition& p = partitions_[b % kPartitions];
    return p.vcpus[(b / kPartitions) % p.vcpu_count];
  }
  Partition& partition(uint8_t b) { return partitions_[b % kPartitions]; }

  // A register value: small, an ID pair, an address in (or near) RAM, or raw.
  static uint64_t value(Input& in) {
    const uint8_t tag = in.byte();
    switch (tag % 5) {
      case 0:
        return in.byte();
      case 1: {
        // Mostly the partitions' IDs; sometimes another, the hypervisor's
        // among them; sometimes with garbage above the pair.
        auto id = [](uint8_t x) -> uint16_t { return x < 3 * 40 ? kIds[x % kPartitions] : x == 255 ? 0 : x; };
        const uint16_t a = id(in.byte());
        const uint16_t b = id(in.byte());
        return ffa::pack_ids(a, b) | ((tag & 0x80) != 0 ? uint64_t{in.byte()} << 32 : 0);
      }
      case 2:
        return kRamIpa + uint64_t{in.byte() % (kRamPages + 2)} * kPageSize - kPageSize +
               ((tag & 0x40) != 0 ? in.byte() : 0);
      case 3:
        return uint64_t{1} << (in.byte() % 64);
      default:
        return in.word();
    }
  }

  // Arguments for `fid` that a well-behaved caller `v` would pass.
  void plausible(Vcpu& v, uint32_t fid, Input& in) {
    Partition& self = *v.partition;
    const uint16_t other = kIds[in.byte() % kPartitions];
    const uint8_t b = in.byte();
    uint64_t* x = v.ctx.x;
    for (size_t i = 1; i <= 7; ++i) x[i] = 0;
    switch (fid) {
      case ffa::kRxtxMap32:
      case ffa::kRxtxMap64:
        x[1] = kRamIpa + uint64_t{b % 8u} * kPageSize;
        x[2] = kRamIpa + uint64_t{8u + (b >> 3) % 8u} * kPageSize;
        x[3] = 1 + (b >> 6) % 2u;
        break;
      case ffa::kMsgSend2: {
        // A header in the TX buffer, if there is one.
        SpinLockGuard guard(self.ffa.lock);
        if (self.ffa.mailbox.pages == 0) break;
        const ffa::MessageHeader h{.offset = (b & 1) != 0 ? 40u : 20u,
                                   .sender = self.id,
                                   .receiver = other,
                                   .size = in.byte()};
        ffa::write_message_header(h, static_cast<uint8_t*>(arch::mm::phys_to_virt(self.ffa.mailbox.tx)));
        break;
      }
      case ffa::kNotificationBind:
      case ffa::kNotificationUnbind:
        x[1] = ffa::pack_ids(other, self.id);
        x[2] = fid == ffa::kNotificationBind ? uint64_t{b & 1u} : 0;
        x[3] = uint64_t{1} << (b % 32);
        break;
      case ffa::kNotificationSet:
        x[1] = ffa::pack_ids(self.id, other);
        x[2] = (b & 1) != 0 ? ffa::kNotificationPerVcpu | (static_cast<uint64_t>((b >> 1) & 1) << 16) : 0;
        x[3] = uint64_t{1} << ((b >> 2) % 32);
        break;
      case ffa::kNotificationGet:
        x[1] = ffa::pack_ids(v.index, self.id);
        x[2] = b & 0xf;
        break;
      case ffa::kMsgSendDirectReq32:
      case ffa::kMsgSendDirectReq64:
        x[1] = ffa::pack_ids(self.id, other);
        x[3] = b;
        break;
      case ffa::kMsgSendDirectResp32:
      case ffa::kMsgSendDirectResp64:
        x[1] = ffa::pack_ids(self.id, v.direct.from != nullptr ? v.direct.from->partition->id : other);
        x[3] = b;
        break;
      case ffa::kVersion:
        x[1] = ffa::make_version(1, b % 3);
        break;
      case ffa::kMemShare32:
      case ffa::kMemShare64:
      case ffa::kMemLend32:
      case ffa::kMemDonate32:
        plausible_send(self, fid, b, in, x);
        break;
      case ffa::kMemRetrieveReq32:
      case ffa::kMemRetrieveReq64:
        plausible_retrieve(self, other, b, x);
        break;
      case ffa::kMemFragTx:
        plausible_fragment(self, b, x);
        break;
      case ffa::kMemRelinquish: {
        SpinLockGuard guard(self.ffa.lock);
        if (self.ffa.mailbox.pages == 0) break;
        ffa::write_relinquish({ffa::kHandleHypervisor | (b % 4u), (b >> 7) & 1u, self.id},
                              static_cast<uint8_t*>(arch::mm::phys_to_virt(self.ffa.mailbox.tx)));
        break;
      }
      case ffa::kMemReclaim:
        x[1] = b % 4u;
        x[2] = ffa::kHandleHypervisor >> 32;
        x[3] = (b >> 7) & 1u;
        break;
      case ffa::kFeatures:
        x[1] = (b & 1) != 0 ? 1 : kFunctions[b % (sizeof(kFunctions) / sizeof(kFunctions[0]))];
        break;
      default:
        break;
    }
  }

  // A share, loan or donation descriptor in the TX buffer, as a partition
  // following the spec writes one: to one or two of the others, of one or
  // two ranges of its RAM; x1 = x2 = its length.
  void plausible_send(Partition& self, uint32_t fid, uint8_t b, Input& in, uint64_t* x) {
    SpinLockGuard guard(self.ffa.lock);
    if (self.ffa.mailbox.pages == 0) return;
    const auto transfer = (fid & 0xff) == (ffa::kMemShare32 & 0xff)  ? ffa::Transfer::kShare
                          : (fid & 0xff) == (ffa::kMemLend32 & 0xff) ? ffa::Transfer::kLend
                                                                     : ffa::Transfer::kDonate;
    ffa::Transaction t;
    t.sender = self.id;
    const uint32_t n = transfer == ffa::Transfer::kDonate ? 1 : 1 + (b & 1u);
    t.attributes = transfer == ffa::Transfer::kShare || n > 1 ? ffa::encode_attributes(ffa::kNormalMemory) : 0;
    t.flags = transfer != ffa::Transfer::kShare && (b & 2) != 0 ? ffa::kMemClear : 0;
    ffa::Access a[2];
    for (uint32_t i = 0; i < n; ++i) {
      a[i].receiver = kIds[(static_cast<size_t>(&self - partitions_.get()) + 1 + i) % kPartitions];
      a[i].permissions = ffa::encode_permissions(
          transfer == ffa::Transfer::kDonate ? ffa::DataAccess::kUnspecified
          : (b & 4) != 0                     ? ffa::DataAccess::kReadOnly
                                             : ffa::DataAccess::kReadWrite,
          ffa::InstructionAccess::kUnspecified);
    }
    const uint8_t r = in.byte();
    const ffa::Range ranges[2] = {{kRamIpa + uint64_t{r % kRamPages} * kPageSize, 1u + ((r >> 4) & 1u)},
                                  {kRamIpa + uint64_t{in.byte() % kRamPages} * kPageSize, 1}};
    auto* tx = static_cast<uint8_t*>(arch::mm::phys_to_virt(self.ffa.mailbox.tx));
    const uint32_t len = ffa::write_descriptor(t, a, n, ranges, 1 + ((b >> 3) & 1u), tx, 4096);
    x[1] = len;
    x[2] = len;
    // Sometimes in fragments: the first without its last range or two, the
    // rest by plausible FFA_MEM_FRAG_TX calls.
    Fragments& f = fragments_[&self - partitions_.get()];
    f.descriptor.assign(tx, tx + len);
    if ((b & 0x10) != 0) x[2] = len - ffa::kRangeSize * (1u + ((b >> 5) & 1u));
  }

  // The next fragment of the last descriptor plausible_send() wrote, from
  // where the kernel last asked: one or two ranges' worth, or what is left.
  void plausible_fragment(Partition& self, uint8_t b, uint64_t* x) {
    SpinLockGuard guard(self.ffa.lock);
    if (self.ffa.mailbox.pages == 0) return;
    const Fragments& f = fragments_[&self - partitions_.get()];
    if (f.at >= f.descriptor.size()) return;
    const size_t n = std::min<size_t>(ffa::kRangeSize * (1u + (b & 1u)), f.descriptor.size() - f.at);
    std::memcpy(arch::mm::phys_to_virt(self.ffa.mailbox.tx), f.descriptor.data() + f.at, n);
    x[1] = f.handle & 0xffff'ffff;
    x[2] = f.handle >> 32;
    x[3] = n;
  }

  // A retrieve request for a handle the kernel may have given (the first
  // use of slots 0..3), from `other`, asking for read-write.
  void plausible_retrieve(Partition& self, uint16_t other, uint8_t b, uint64_t* x) {
    SpinLockGuard guard(self.ffa.lock);
    if (self.ffa.mailbox.pages == 0) return;
    ffa::Transaction t;
    t.sender = other;
    t.handle = ffa::kHandleHypervisor | (b % 4u);
    ffa::Access a;
    a.receiver = self.id;
    a.permissions = ffa::encode_permissions(ffa::DataAccess::kReadWrite, static_cast<ffa::InstructionAccess>((b >> 2) % 3));
    x[1] = ffa::write_retrieve_request(t, a, static_cast<uint8_t*>(arch::mm::phys_to_virt(self.ffa.mailbox.tx)));
    x[2] = x[1];
  }

  void step(Input& in) {
    const uint8_t kind = in.byte();
    switch (kind % 8) {
      case 0:
      case 1:
      case 2:
      case 3: {
        Vcpu& v = vcpu(in.byte());
        const uint32_t fid = kFunctions[in.byte() % (sizeof(kFunctions) / sizeof(kFunctions[0]))];
        v.ctx.x[0] = fid;
        for (size_t i = 1; i <= 7; ++i) v.ctx.x[i] = value(in);
        // Half the calls are made as a partition that follows the spec
        // would make them, so that the fuzzer gets past the checks into the
        // states behind them; the rest are whatever the input says.
        if ((kind & 0x20) != 0) plausible(v, fid, in);
        for (size_t i = 8; i < 18; ++i) v.ctx.x[i] = 0x5a5a'0000 + i;
        const TrapAction action = handle_trap(v, {esr(), 0, 0});
        check_answer(v, fid, action);
        if (v.ctx.x[0] == ffa::kMemFragRx) {
          Fragments& f = fragments_[v.partition - partitions_.get()];
          f.handle = ffa::handle_of(v.ctx.x[1], v.ctx.x[2]);
          f.at = v.ctx.x[3];
        }
        if (action == TrapAction::kDirectRequest) {
          if (v.direct.target == nullptr || v.direct.target->partition == v.partition) __builtin_trap();
          if ((kind & 0x10) != 0) (void)ffa_deliver_request(v, *v.direct.target);
          v.direct.target = nullptr;
        } else if (action == TrapAction::kDirectResponse) {
          (void)ffa_respond(v);
        }
        break;
      }
      case 4: {
        // Bytes into a partition's RAM: a TX buffer's header, most likely.
        Partition& p = partition(in.byte());
        const uint64_t offset = (uint64_t{in.byte()} % kRamPages) * kPageSize + (in.byte() & 0x3f);
        auto* ram = static_cast<uint8_t*>(arch::mm::phys_to_virt(p.memory[0].pa));
        for (uint8_t n = in.byte() % 48; n > 0 && !in.empty(); --n) ram[offset + n] = in.byte();
        break;
      }
      case 5: {
        Vcpu& v = vcpu(in.byte());
        (void)ffa_abort_request(v);
        break;
      }
      case 6: {
        Vcpu& v = vcpu(in.byte());
        if (v.direct.state.load() == MsgState::kWaiting) (void)ffa_end_message_wait(v);
        break;
      }
      default: {
        // A partition restarts: what it served is aborted, then its state goes.
        Partition& p = partition(in.byte());
        if ((in.byte() & 7) != 0) break;
        for (size_t i = 0; i < p.vcpu_count; ++i) (void)ffa_abort_request(p.vcpus[i]);
        ffa_memory_release(p);
        p.reset_ffa();
        break;
      }
    }
    check_state();
  }

 private:
  static uint64_t esr() { return (uint64_t{static_cast<uint8_t>(Ec::kHvc64)} << 26) | (1u << 25); }

  static void check_answer(const Vcpu& v, uint32_t fid, TrapAction action) {
    if (action == TrapAction::kDirectRequest || action == TrapAction::kDirectResponse ||
        action == TrapAction::kMessageWait) {
      return;
    }
    const uint64_t x0 = v.ctx.x[0];
    if (fid == ffa::kVersion) {
      if (x0 != kFfaVersion && x0 != ffa::kVersionNotSupported) __builtin_trap();
      return;
    }
    if (x0 == ffa::kError) {
      const auto e = static_cast<int32_t>(v.ctx.x[2]);
      if ((v.ctx.x[2] >> 32) != 0 || e > -1 || e < -9) __builtin_trap();
      return;
    }
    if (x0 == ffa::kMemFragRx) {
      // The kernel asks for the next fragment of a send: only after a
      // send or a fragment, and from inside the descriptor.
      const bool send = fid == ffa::kMemShare32 || fid == ffa::kMemShare64 || fid == ffa::kMemLend32 ||
                        fid == ffa::kMemLend64 || fid == ffa::kMemDonate32 || fid == ffa::kMemDonate64 ||
                        fid == ffa::kMemFragTx;
      if (!send || (v.ctx.x[1] >> 32) != 0 || (v.ctx.x[2] >> 16) != 0x8000 || v.ctx.x[3] == 0 ||
          v.ctx.x[3] >= kMaxFragmentedDescriptor || v.ctx.x[4] != 0) {
        __builtin_trap();
      }
      return;
    }
    if (x0 != ffa::kSuccess32 && x0 != ffa::kSuccess64) __builtin_trap();
  }

  void check_state() {
    if (grant_ != 0) {
      MemoryGrant g;
      if (ffa_memory_grants_to(partitions_[2], &g, 1) != 1 || g.handle != grant_) __builtin_trap();
      for (uint64_t ipa = kGrantIpa; ipa < kGrantIpa + kGrantPages * kPageSize; ipa += kPageSize) {
        const auto own = partitions_[0].stage2.translate(ipa);
        const auto w = partitions_[2].stage2.translate(borrowed_ipa(partitions_[0], ipa));
        if (!own || own->attrs.state != arch::mm::PageState::kSharedOwned || !w || w->pa != own->pa ||
            !w->attrs.write) {
          __builtin_trap();
        }
      }
    }
    for (size_t i = 0; i < kPartitions; ++i) {
      Partition& p = partitions_[i];
      SpinLockGuard guard(p.ffa.lock);
      FfaMailbox& m = p.ffa.mailbox;
      for (uint64_t page = 0; page < kRamPages; ++page) {
        const uint64_t ipa = kRamIpa + page * kPageSize;
        const auto t = p.stage2.translate(ipa);
        if (!t) continue;  // donated, and taken
        const bool rx = m.pages != 0 && ipa >= m.rx_ipa.value() && ipa < m.rx_ipa.value() + m.bytes();
        if (rx) {
          if (t->attrs.write || t->attrs.state != arch::mm::PageState::kOwned) __builtin_trap();
          continue;
        }
        // Owned RAM, shared with its access kept, or given away with none.
        arch::mm::Attrs owned = t->attrs;
        owned.state = arch::mm::PageState::kOwned;
        switch (t->attrs.state) {
          case arch::mm::PageState::kOwned:
          case arch::mm::PageState::kSharedOwned:
            if (owned != kPartitionRam) __builtin_trap();
            break;
          case arch::mm::PageState::kLent:
          case arch::mm::PageState::kDonated:
            if (t->attrs.read || t->attrs.write || t->attrs.exec) __builtin_trap();
            break;
          default:
            __builtin_trap();
        }
        // Whoever else maps it does so through its window for `p`: nobody
        // with access it was not given, and an exclusive borrower alone.
        int accessors = t->attrs.read ? 1 : 0;
        bool exclusive = false;
        for (size_t q = 0; q < kPartitions; ++q) {
          if (q == i) continue;
          const auto w = partitions_[q].stage2.translate(borrowed_ipa(p, ipa));
          if (!w || w->pa != t->pa) continue;
          if (t->attrs.state == arch::mm::PageState::kOwned) __builtin_trap();
          if (w->attrs.read) ++accessors;
          exclusive = exclusive || w->attrs.state == arch::mm::PageState::kBorrowed;
        }
        if (exclusive && accessors > 1) __builtin_trap();
      }
      if (m.pages != 0 && (m.tx_ipa.value() < kRamIpa || m.tx_ipa.value() + m.bytes() > kRamIpa + kRamPages * kPageSize ||
                           (m.tx_ipa.value() < m.rx_ipa.value() + m.bytes() && m.rx_ipa.value() < m.tx_ipa.value() + m.bytes()))) {
        __builtin_trap();
      }
      FfaNotifications& n = p.ffa.notifications;
      if ((n.pending_any() & ~n.bound) != 0) __builtin_trap();
      for (size_t v = 0; v < p.vcpu_count; ++v) {
        if (p.vcpus[v].direct.state.load() == MsgState::kServing && p.vcpus[v].direct.from == nullptr) __builtin_trap();
        if (p.vcpus[v].direct.state.load() == MsgState::kClaimed) __builtin_trap();
      }
    }
  }

  uint64_t grant_ = 0;  // the boot grant's handle, if made
  // Per partition: its last plausible send's descriptor, and the handle and
  // offset of the kernel's last FFA_MEM_FRAG_RX to it.
  struct Fragments {
    std::vector<uint8_t> descriptor;
    uint64_t handle = 0;
    size_t at = 0;
  };
  Fragments fragments_[kPartitions];
  arch::fake::PhysMemory pool_memory_{96};
  PagePool pool_;
  arch::fake::PhysMemory ram_[kPartitions] = {arch::fake::PhysMemory{kRamPages}, arch::fake::PhysMemory{kRamPages},
                                              arch::fake::PhysMemory{kRamPages}};
  std::unique_ptr<Partition[]> partitions_ = std::make_unique<Partition[]>(kPartitions);
};

}  // namespace
}  // namespace hyp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hyp::System system;
  hyp::Input in{data, size};
  // Most runs start with versions negotiated, so that calls get past that.
  const uint8_t setup = in.byte();
  system.negotiate(setup);
  if ((in.byte() & 1) != 0) system.grant();
  for (int steps = 0; steps < 64 && !in.empty(); ++steps) system.step(in);
  return 0;
}
