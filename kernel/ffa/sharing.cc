#include "kernel/ffa/sharing.h"

#include <cstring>

#include "base/spinlock.h"
#include "bootpkg/format.h"
#include "kernel/arch/mm.h"
#include "kernel/ffa/calls.h"
#include "kernel/ffa/ownership.h"
#include "kernel/mm/page_table.h"

namespace hyp {

static_assert(package::kMaxGrantServers == ffa::kMaxReceivers, "a boot grant is one transaction");
static_assert(package::kMaxGrants * package::kMaxPartitions <= kMaxMemTransactions,
              "every boot grant of a full package has a transaction");

namespace {

namespace mm = arch::mm;
using ffa::Error;
using ffa::Transfer;
using ownership::Op;
using ownership::State;

struct Receiver {
  Partition* partition = nullptr;
  uint8_t permissions = 0;  // as the sender gave them
  bool retrieved = false;
  uint8_t impdef[16] = {};
};

struct Transaction {
  bool live = false;
  bool assembling = false;  // kept for a send whose descriptor is still coming in fragments
  bool granted = false;  // the kernel's boot grant: neither relinquished nor reclaimed
  uint32_t generation = 0;  // in the handle ([47:16]): a stale handle finds nothing
  Transfer transfer = Transfer::kUnspecified;
  Partition* sender = nullptr;
  uint16_t attributes = 0;
  uint32_t flags = 0;
  uint64_t tag = 0;
  uint32_t access_size = ffa::kAccessSize1_1;
  uint32_t receiver_count = 0;
  Receiver receivers[ffa::kMaxReceivers];
  uint32_t range_count = 0;
  ffa::Range ranges[kMaxMemRanges];  // the sender's IPAs
};

constinit SpinLock g_lock;
Transaction g_transactions[kMaxMemTransactions] HYP_GUARDED_BY(g_lock);
// The descriptor being worked on: a copy of the caller's TX buffer, which
// its other vCPUs may change meanwhile.
alignas(16) uint8_t g_descriptor[kFfaMaxBufferPages * ffa::kBufferPageSize] HYP_GUARDED_BY(g_lock);

// A partition's send in fragments (one at a time): the descriptor so far.
struct Fragments {
  bool active = false;
  size_t slot = 0;  // the transaction slot kept for it
  Transfer transfer = Transfer::kUnspecified;
  uint32_t version = 0;
  uint32_t length = 0;    // the whole descriptor's
  uint32_t received = 0;  // so far
  uint32_t first = 0;     // the first fragment's length
  alignas(16) uint8_t bytes[kMaxFragmentedDescriptor];
};
Fragments g_fragments[kMaxPartitions] HYP_GUARDED_BY(g_lock);

Fragments* fragments_of(const Partition& p) HYP_REQUIRES(g_lock) {
  return p.vmid >= 1 && p.vmid <= kMaxPartitions ? &g_fragments[p.vmid - 1] : nullptr;
}

uint64_t handle_of(size_t index, const Transaction& t) {
  return ffa::kHandleHypervisor | (uint64_t{t.generation} << 16) | index;
}

Transaction* find(uint64_t handle) HYP_REQUIRES(g_lock) {
  const uint64_t index = handle & 0xffff;
  if ((handle & ffa::kHandleHypervisor) == 0 || index >= kMaxMemTransactions) return nullptr;
  Transaction& t = g_transactions[index];
  return t.live && handle == handle_of(index, t) ? &t : nullptr;
}

// A transaction slot not in use (its index in `index`), or nullptr.
Transaction* free_slot(size_t& index) HYP_REQUIRES(g_lock) {
  for (size_t i = 0; i < kMaxMemTransactions; ++i) {
    if (!g_transactions[i].live && !g_transactions[i].assembling) {
      index = i;
      return &g_transactions[i];
    }
  }
  return nullptr;
}

void end(Transaction& t) {
  const uint32_t generation = t.generation + 1;
  t = Transaction{};
  t.generation = generation;
}

void drop_fragments(Fragments& f) HYP_REQUIRES(g_lock) {
  if (f.active) end(g_transactions[f.slot]);
  f = Fragments{};
}

TrapAction fail(Vcpu& v, Error e) { return ffa_refuse(v, e); }

TrapAction succeed(Vcpu& v, uint32_t fid, uint64_t w1 = 0, uint64_t w2 = 0, uint64_t w3 = 0) {
  v.ctx.x[0] = fid;
  v.ctx.x[1] = w1 & 0xffff'ffff;
  v.ctx.x[2] = w2 & 0xffff'ffff;
  v.ctx.x[3] = w3 & 0xffff'ffff;
  for (size_t i = 4; i <= 7; ++i) v.ctx.x[i] = 0;
  return TrapAction::kResume;
}

// ---- Pages -----------------------------------------------------------------

// What a partition's Stage-2 holds for a page in state `s`: an owner's RAM
// as it always is (shared or not), no access where it gave it away, what it
// was granted where it borrows.
mm::Attrs attrs_for(State s, bool write, bool exec) {
  switch (s) {
    case State::kOwned:
      return kPartitionRam;
    case State::kOwnedShared: {
      mm::Attrs a = kPartitionRam;
      a.state = mm::PageState::kSharedOwned;
      return a;
    }
    case State::kBorrowed:
    case State::kBorrowedShared:
      return {.type = mm::MemType::kNormal, .read = true, .write = write, .exec = exec, .state = ownership::page_state(s)};
    default:
      return {.type = mm::MemType::kNormal, .read = false, .write = false, .exec = false,
              .state = ownership::page_state(s)};
  }
}

// The state of a present page, as far as memory calls go: owned RAM only
// with exactly the attributes owned RAM has (not an RX buffer, read-only,
// nor a device), the others with the attributes their state gives.
std::optional<State> state_of(const mm::Attrs& a) {
  const State s = ownership::state_of(a.state);
  if (a.type != mm::MemType::kNormal) return std::nullopt;
  if ((s == State::kOwned || s == State::kOwnedShared) && a != attrs_for(s, true, true)) return std::nullopt;
  return s;
}

// Checks operation `op` (one that starts from a present page) on every page
// of p's [ipa, ipa + bytes), adding the change it makes to `batch`; `to` is
// where the pages go (they all go the same way). kDenied if the table
// refuses any page; kNoMemory if a table could not be had.
Error check_pages(PageTable::Batch& batch, Partition& p, uint64_t ipa, uint64_t bytes, Op op, State& to) {
  bool first = true;
  bool ok = true;
  const bool whole = p.stage2.visit(ipa, bytes, [&](const PageTable::Leaf& l) {
    const std::optional<State> from = l.present ? state_of(l.attrs) : std::optional<State>(State::kNone);
    const std::optional<State> next = from ? ownership::transition(op, *from) : std::nullopt;
    if (!next || (!first && *next != to)) {
      ok = false;
      return false;
    }
    to = *next;
    first = false;
    return true;
  });
  if (!whole || !ok) return Error::kDenied;
  const Status s = to == State::kNone ? batch.check_unmap(p.stage2, ipa, bytes)
                                      : batch.check_protect(p.stage2, ipa, bytes, attrs_for(to, true, true));
  if (s == Status::kNoMemory) return Error::kNoMemory;
  return s == Status::kOk ? ffa::kNoError : Error::kDenied;
}

void apply_pages(PageTable::Batch& batch, Partition& p, uint64_t ipa, uint64_t bytes, State to) {
  if (to == State::kNone) {
    batch.apply_unmap(p.stage2, ipa, bytes);
  } else {
    batch.apply_protect(p.stage2, ipa, bytes, attrs_for(to, true, true));
  }
}

constexpr uint64_t bytes_of(const ffa::Range& r) { return uint64_t{r.pages} * ffa::kMemPageSize; }

// Zeroes p's pages of [ipa, ipa + bytes) through the kernel's mapping.
void clear(const Partition& p, uint64_t ipa, uint64_t bytes) {
  (void)p.stage2.visit(ipa, bytes, [&](const PageTable::Leaf& l) {
    if (!l.present) return false;
    void* va = mm::phys_to_virt(l.pa);
    if (va != nullptr) {
      mm::zero(va, l.size);
      mm::clean_to_poc(va, l.size);
    }
    return true;
  });
}

// The sender's ranges overlap its own RX/TX buffers: those are the kernel's
// to read and write, never given away.
bool overlaps_buffers(const Partition& p, const ffa::Range& r) HYP_REQUIRES(p.ffa.lock) {
  const FfaMailbox& m = p.ffa.mailbox;
  if (m.pages == 0) return false;
  const uint64_t end = r.address + bytes_of(r);
  for (const uint64_t base : {m.tx_ipa.value(), m.rx_ipa.value()}) {
    if (r.address < base + m.bytes() && base < end) return true;
  }
  return false;
}

PagePool& pool_of(Partition& p) { return *p.stage2.pool(); }

// Where a transaction's pages are in a partition: at their own IPAs (the
// sender's), or in the sender's window (a receiver's).
enum class Where : uint8_t { kOwn, kWindow };

uint64_t ipa_of(const Transaction& t, uint32_t i, Where w) {
  return w == Where::kWindow ? borrowed_ipa(*t.sender, t.ranges[i].address) : t.ranges[i].address;
}

// check_pages() over every range of `t`.
Error check_ranges(PageTable::Batch& batch, Partition& p, const Transaction& t, Where w, Op op, State& to) {
  for (uint32_t i = 0; i < t.range_count; ++i) {
    if (Error e = check_pages(batch, p, ipa_of(t, i, w), bytes_of(t.ranges[i]), op, to); e != ffa::kNoError) return e;
  }
  return ffa::kNoError;
}

void apply_ranges(PageTable::Batch& batch, Partition& p, const Transaction& t, Where w, State to) {
  for (uint32_t i = 0; i < t.range_count; ++i) apply_pages(batch, p, ipa_of(t, i, w), bytes_of(t.ranges[i]), to);
}

// Operation `op` on every page of `t` in `p`, all or nothing.
Error change_ranges(Partition& p, const Transaction& t, Where w, Op op) {
  PageTable::Batch batch(pool_of(p));
  State to = State::kNone;
  if (Error e = check_ranges(batch, p, t, w, op, to); e != ffa::kNoError) return e;
  if (batch.reserve() != Status::kOk) return Error::kNoMemory;
  apply_ranges(batch, p, t, w, to);
  return ffa::kNoError;
}

// Calls fn(in, pa, size) for each physically contiguous run of the
// sender's pages of `t`, in order (RAM is contiguous: a range is usually one
// run, however many blocks and pages map it); false if a page is missing.
template <typename Fn>
bool for_each_run(const Transaction& t, Fn fn) {
  const Partition& sender = *t.sender;
  for (uint32_t i = 0; i < t.range_count; ++i) {
    const ffa::Range& range = t.ranges[i];
    uint64_t in = 0;
    Pa pa;
    uint64_t size = 0;
    bool ok = true;
    const bool whole = sender.stage2.visit(range.address, bytes_of(range), [&](const PageTable::Leaf& l) {
      if (!l.present) return false;
      if (size != 0 && l.in == in + size && l.pa == pa.offset(size)) {
        size += l.size;
        return true;
      }
      if (size != 0 && !fn(in, pa, size)) {
        ok = false;
        return false;
      }
      in = l.in;
      pa = l.pa;
      size = l.size;
      return true;
    });
    if (!whole || !ok || (size != 0 && !fn(in, pa, size))) return false;
  }
  return true;
}

// Checks mapping the sender's pages of `t` in receiver `r`'s window with
// `granted`; kNoError, kNoMemory or kDenied (the window is not empty).
Error check_window(PageTable::Batch& batch, const Transaction& t, Partition& r, const mm::Attrs& granted) {
  Status st = Status::kOk;
  const bool ok = for_each_run(t, [&](uint64_t in, Pa pa, uint64_t size) {
    st = batch.check_map(r.stage2, borrowed_ipa(*t.sender, in), pa, size, granted);
    return st == Status::kOk;
  });
  if (!ok) return st == Status::kNoMemory ? Error::kNoMemory : Error::kDenied;
  return ffa::kNoError;
}

void apply_window(PageTable::Batch& batch, const Transaction& t, Partition& r, const mm::Attrs& granted) {
  (void)for_each_run(t, [&](uint64_t in, Pa pa, uint64_t size) {
    batch.apply_map(r.stage2, borrowed_ipa(*t.sender, in), pa, size, granted);
    return true;
  });
}

// The registers of the calls that carry a descriptor: w1 its length, w2
// this fragment's, x3/w3 and w4 a buffer other than TX and its pages.
struct DescriptorArgs {
  uint64_t length;
  uint64_t fragment;
  uint64_t buffer;
  uint64_t buffer_pages;
};

DescriptorArgs descriptor_args(const Vcpu& v, uint32_t fid) {
  return {v.ctx.x[1] & 0xffff'ffff, v.ctx.x[2] & 0xffff'ffff,
          ffa::is_smc64(fid) ? v.ctx.x[3] : v.ctx.x[3] & 0xffff'ffff, v.ctx.x[4] & 0xffff'ffff};
}

// Copies the descriptor from `p`'s TX buffer into g_descriptor.
Error take_descriptor(Partition& p, const DescriptorArgs& a) HYP_REQUIRES(g_lock, p.ffa.lock) {
  // Descriptors come in the TX buffer, whole (fragments: not yet).
  if (a.buffer != 0 || a.buffer_pages != 0 || a.fragment != a.length || a.length == 0) {
    return Error::kInvalidParameters;
  }
  FfaMailbox& m = p.ffa.mailbox;
  if (m.pages == 0 || a.length > m.bytes()) return Error::kInvalidParameters;
  const void* tx = mm::phys_to_virt(m.tx);
  if (tx == nullptr) return Error::kInvalidParameters;
  std::memcpy(g_descriptor, tx, a.length);
  return ffa::kNoError;
}

}  // namespace

void ffa_memory_init() {
  SpinLockGuard guard(g_lock);
  for (Transaction& t : g_transactions) t = Transaction{};
  for (Fragments& f : g_fragments) f = Fragments{};
}

void ffa_memory_release(Partition& p) {
  SpinLockGuard guard(g_lock);
  if (Fragments* f = fragments_of(p); f != nullptr) drop_fragments(*f);
  for (Transaction& t : g_transactions) {
    if (!t.live || t.granted) continue;
    // What p holds of t, or holds of p's, is taken back. Each range was
    // mapped whole by the retrieve, so nothing can refuse.
    for (uint32_t j = 0; j < t.receiver_count; ++j) {
      Receiver& r = t.receivers[j];
      if (!r.retrieved || (t.sender != &p && r.partition != &p)) continue;
      (void)change_ranges(*r.partition, t, Where::kWindow, Op::kRelinquish);
      r.retrieved = false;
    }
    if (t.sender != &p) continue;
    // Nobody holds it now: the owner's again, as a reclaim would do.
    SpinLockGuard owner(p.ffa.lock);
    (void)change_ranges(p, t, Where::kOwn, Op::kReclaim);
    end(t);
  }
}

size_t ffa_mem_transactions() {
  SpinLockGuard guard(g_lock);
  size_t n = 0;
  for (const Transaction& t : g_transactions) n += t.live || t.assembling ? 1 : 0;
  return n;
}

// ---- Boot grants ---------------------------------------------------------------

Error ffa_memory_grant(Partition& owner, Partition* const* servers, size_t count, uint64_t ipa, uint64_t size,
                       uint64_t& handle) {
  const uint64_t pages = size / ffa::kMemPageSize;
  if (count == 0 || count > ffa::kMaxReceivers || size == 0 || ipa % ffa::kMemPageSize != 0 ||
      size % ffa::kMemPageSize != 0 || size > kBorrowWindow || ipa > kBorrowWindow - size || pages > UINT32_MAX) {
    return Error::kInvalidParameters;
  }
  for (size_t i = 0; i < count; ++i) {
    if (servers[i] == nullptr || servers[i] == &owner) return Error::kInvalidParameters;
    for (size_t j = 0; j < i; ++j) {
      if (servers[j] == servers[i]) return Error::kInvalidParameters;
    }
  }
  SpinLockGuard guard(g_lock);
  SpinLockGuard mine(owner.ffa.lock);
  size_t index = 0;
  Transaction* slot = free_slot(index);
  if (slot == nullptr) return Error::kNoMemory;
  // What FFA_MEM_SHARE from the owner and an FFA_MEM_RETRIEVE_REQ from each
  // server asking for read-write access would have made.
  Transaction t;
  t.generation = slot->generation;
  t.granted = true;
  t.transfer = Transfer::kShare;
  t.sender = &owner;
  t.attributes = ffa::encode_attributes(ffa::kNormalMemory);
  t.receiver_count = static_cast<uint32_t>(count);
  for (size_t i = 0; i < count; ++i) {
    t.receivers[i].partition = servers[i];
    t.receivers[i].permissions =
        ffa::encode_permissions(ffa::DataAccess::kReadWrite, ffa::InstructionAccess::kUnspecified);
    t.receivers[i].retrieved = true;
  }
  t.range_count = 1;
  t.ranges[0] = {ipa, static_cast<uint32_t>(pages)};
  if (overlaps_buffers(owner, t.ranges[0])) return Error::kDenied;
  const mm::Attrs granted = attrs_for(*ownership::transition(Op::kRetrieveShared, State::kNone), true, false);
  PageTable::Batch batch(pool_of(owner));
  State to = State::kNone;
  if (Error e = check_ranges(batch, owner, t, Where::kOwn, Op::kShare, to); e != ffa::kNoError) return e;
  for (size_t i = 0; i < count; ++i) {
    if (Error e = check_window(batch, t, *servers[i], granted); e != ffa::kNoError) return e;
  }
  if (batch.reserve() != Status::kOk) return Error::kNoMemory;
  apply_ranges(batch, owner, t, Where::kOwn, to);
  for (size_t i = 0; i < count; ++i) apply_window(batch, t, *servers[i], granted);
  t.live = true;
  *slot = t;
  handle = handle_of(index, t);
  return ffa::kNoError;
}

size_t ffa_memory_grants_to(const Partition& server, MemoryGrant* out, size_t max) {
  SpinLockGuard guard(g_lock);
  size_t n = 0;
  for (size_t i = 0; i < kMaxMemTransactions; ++i) {
    const Transaction& t = g_transactions[i];
    if (!t.live || !t.granted) continue;
    for (uint32_t j = 0; j < t.receiver_count; ++j) {
      if (t.receivers[j].partition != &server) continue;
      if (n < max) {
        out[n] = {t.sender, handle_of(i, t), t.ranges[0].address, bytes_of(t.ranges[0]),
                  borrowed_ipa(*t.sender, 0)};
      }
      ++n;
    }
  }
  return n;
}

// ---- FFA_MEM_SHARE, _LEND, _DONATE -----------------------------------------------

namespace {

// Makes the transaction g_descriptor (`length` bytes, whole and checked by
// nothing yet) describes, in slot `index` (free, or kept for this
// descriptor's fragments): SUCCESS with its handle, or the error with
// nothing changed and the slot free.
// Frees slot `index` and answers `e`.
TrapAction end_and_fail(Vcpu& v, size_t index, Error e) HYP_REQUIRES(g_lock) {
  end(g_transactions[index]);
  return fail(v, e);
}

TrapAction send_descriptor(Vcpu& v, Partition& self, uint32_t length, uint32_t version, Transfer transfer,
                           size_t index, uint32_t first_fragment) HYP_REQUIRES(g_lock, self.ffa.lock) {
  ffa::SendRequest req;
  if (Error e = ffa::check_send(g_descriptor, length, version, transfer, self.id, req); e != ffa::kNoError) {
    return end_and_fail(v, index, e);
  }
  if (req.composite.range_count > kMaxMemRanges) return end_and_fail(v, index, Error::kNoMemory);
  // Fragments end between address ranges (the first one after the
  // transaction, access and composite descriptors).
  if (first_fragment < length) {
    const uint32_t ranges_at = req.composite_offset + ffa::kCompositeSize;
    if (first_fragment < ranges_at || (first_fragment - ranges_at) % ffa::kRangeSize != 0) {
      return end_and_fail(v, index, Error::kInvalidParameters);
    }
  }
  Transaction t;
  t.generation = g_transactions[index].generation;
  t.transfer = transfer;
  t.sender = &self;
  t.attributes = req.header.attributes;
  t.flags = req.header.flags;
  t.tag = req.header.tag;
  t.access_size = req.header.access_size;
  t.receiver_count = req.header.access_count;
  for (uint32_t i = 0; i < t.receiver_count; ++i) {
    Receiver& r = t.receivers[i];
    r.partition = ffa_partition(req.receivers[i].receiver);
    if (r.partition == nullptr) return end_and_fail(v, index, Error::kInvalidParameters);
    r.permissions = req.receivers[i].permissions;
    std::memcpy(r.impdef, req.receivers[i].impdef, sizeof(r.impdef));
  }
  t.range_count = req.composite.range_count;
  for (uint32_t i = 0; i < t.range_count; ++i) {
    (void)ffa::read_range(g_descriptor, req.composite_offset, i, t.ranges[i]);  // checked by check_send
    // Receivers map it in a window below kBorrowWindow; the buffers stay.
    if (t.ranges[i].address + bytes_of(t.ranges[i]) > kBorrowWindow || overlaps_buffers(self, t.ranges[i])) {
      return end_and_fail(v, index, Error::kDenied);
    }
  }
  const Op op = transfer == Transfer::kShare ? Op::kShare : transfer == Transfer::kLend ? Op::kLend : Op::kDonate;
  if (Error e = change_ranges(self, t, Where::kOwn, op); e != ffa::kNoError) return end_and_fail(v, index, e);
  // Cleared once the sender has no access any more (its TLB entries are
  // gone: apply_pages() invalidated them).
  if ((t.flags & ffa::kMemClear) != 0) {
    for (uint32_t i = 0; i < t.range_count; ++i) clear(self, t.ranges[i].address, bytes_of(t.ranges[i]));
  }
  t.live = true;
  g_transactions[index] = t;
  const uint64_t handle = handle_of(index, t);
  return succeed(v, ffa::kSuccess32, 0, handle, handle >> 32);
}

// FFA_MEM_FRAG_RX to the sender: the next fragment of `handle`, from
// `offset`, please.
TrapAction ask_fragment(Vcpu& v, uint64_t handle, uint32_t offset) {
  v.ctx.x[0] = ffa::kMemFragRx;
  v.ctx.x[1] = handle & 0xffff'ffff;
  v.ctx.x[2] = handle >> 32;
  v.ctx.x[3] = offset;
  for (size_t i = 4; i <= 7; ++i) v.ctx.x[i] = 0;
  return TrapAction::kResume;
}

// A send whose descriptor comes in fragments: the first one taken, the
// transaction's slot kept for it (and its handle given to the sender).
TrapAction start_fragments(Vcpu& v, Partition& self, const DescriptorArgs& a, uint32_t version, Transfer transfer)
    HYP_REQUIRES(g_lock, self.ffa.lock) {
  FfaMailbox& m = self.ffa.mailbox;
  if (a.buffer != 0 || a.buffer_pages != 0 || a.fragment == 0 || m.pages == 0 || a.fragment > m.bytes()) {
    return fail(v, Error::kInvalidParameters);
  }
  if (a.length > kMaxFragmentedDescriptor) return fail(v, Error::kNoMemory);
  Fragments* f = fragments_of(self);
  if (f == nullptr) return fail(v, Error::kInvalidParameters);
  if (f->active) return fail(v, Error::kBusy);
  size_t index = 0;
  Transaction* slot = free_slot(index);
  if (slot == nullptr) return fail(v, Error::kNoMemory);
  const void* tx = mm::phys_to_virt(m.tx);
  if (tx == nullptr) return fail(v, Error::kInvalidParameters);
  std::memcpy(f->bytes, tx, a.fragment);
  slot->assembling = true;
  slot->sender = &self;
  f->active = true;
  f->slot = index;
  f->transfer = transfer;
  f->version = version;
  f->length = static_cast<uint32_t>(a.length);
  f->received = static_cast<uint32_t>(a.fragment);
  f->first = f->received;
  return ask_fragment(v, handle_of(index, *slot), f->received);
}

}  // namespace

TrapAction ffa_mem_send(Vcpu& v, uint32_t fid, Transfer transfer) {
  Partition& self = *v.partition;
  const DescriptorArgs args = descriptor_args(v, fid);
  const uint32_t version = self.ffa.version.load(std::memory_order_relaxed);
  SpinLockGuard guard(g_lock);
  SpinLockGuard mine(self.ffa.lock);
  if (args.fragment < args.length) return start_fragments(v, self, args, version, transfer);
  if (Error e = take_descriptor(self, args); e != ffa::kNoError) return fail(v, e);
  size_t index = 0;
  if (free_slot(index) == nullptr) return fail(v, Error::kNoMemory);
  return send_descriptor(v, self, static_cast<uint32_t>(args.length), version, transfer, index,
                         static_cast<uint32_t>(args.length));
}

// ---- FFA_MEM_FRAG_TX, _FRAG_RX ---------------------------------------------------

TrapAction ffa_mem_frag_tx(Vcpu& v) {
  Partition& self = *v.partition;
  const uint64_t handle = ffa::handle_of(v.ctx.x[1], v.ctx.x[2]);
  const uint64_t length = v.ctx.x[3] & 0xffff'ffff;
  // w4 [31:16] names the sender only when a hypervisor forwards the call.
  const bool reserved_clear = (v.ctx.x[4] | v.ctx.x[5] | v.ctx.x[6] | v.ctx.x[7]) == 0;
  SpinLockGuard guard(g_lock);
  SpinLockGuard mine(self.ffa.lock);
  Fragments* f = fragments_of(self);
  if (f == nullptr || !f->active || handle != handle_of(f->slot, g_transactions[f->slot])) {
    return fail(v, Error::kInvalidParameters);
  }
  // Anything wrong with a fragment ends the transaction: the sender starts
  // again (nothing was changed yet).
  FfaMailbox& m = self.ffa.mailbox;
  const void* tx = m.pages != 0 ? mm::phys_to_virt(m.tx) : nullptr;
  if (!reserved_clear || length == 0 || length % ffa::kRangeSize != 0 || length > f->length - f->received ||
      tx == nullptr || length > m.bytes()) {
    drop_fragments(*f);
    return fail(v, Error::kInvalidParameters);
  }
  std::memcpy(f->bytes + f->received, tx, length);
  f->received += static_cast<uint32_t>(length);
  if (f->received < f->length) return ask_fragment(v, handle, f->received);
  // Whole: made as if it had come in one piece.
  std::memcpy(g_descriptor, f->bytes, f->length);
  const Fragments done = *f;
  *f = Fragments{};
  return send_descriptor(v, self, done.length, done.version, done.transfer, done.slot, done.first);
}

TrapAction ffa_mem_frag_rx(Vcpu& v) {
  // Retrieve responses always fit the receiver's RX buffer (at most
  // kMaxMemRanges ranges and one access descriptor: under 1 KiB), so the
  // kernel never leaves one to be asked for in fragments.
  return fail(v, Error::kInvalidParameters);
}

// ---- FFA_MEM_RETRIEVE_REQ ------------------------------------------------------------

TrapAction ffa_mem_retrieve(Vcpu& v, uint32_t fid) {
  Partition& self = *v.partition;
  const DescriptorArgs args = descriptor_args(v, fid);
  const uint32_t version = self.ffa.version.load(std::memory_order_relaxed);
  SpinLockGuard guard(g_lock);
  ffa::RetrieveRequest req;
  {
    SpinLockGuard mine(self.ffa.lock);
    if (Error e = take_descriptor(self, args); e != ffa::kNoError) {
      return fail(v, e);
    }
  }
  if (Error e = ffa::check_retrieve_request(g_descriptor, static_cast<uint32_t>(args.length), version, req);
      e != ffa::kNoError) {
    return fail(v, e);
  }
  Transaction* t = find(req.header.handle);
  if (t == nullptr || req.header.tag != t->tag) return fail(v, Error::kInvalidParameters);
  if (req.transfer != Transfer::kUnspecified && req.transfer != t->transfer) return fail(v, Error::kInvalidParameters);
  if (req.header.sender != t->sender->id) return fail(v, Error::kDenied);
  // The caller's own access descriptor, and every one the request names is
  // one of the transaction's.
  Receiver* mine = nullptr;
  const ffa::Access* asked = nullptr;
  for (uint32_t j = 0; j < t->receiver_count; ++j) {
    if (t->receivers[j].partition == &self) mine = &t->receivers[j];
  }
  for (uint32_t i = 0; i < req.header.access_count; ++i) {
    if (req.receivers[i].receiver == self.id) asked = &req.receivers[i];
  }
  if (mine == nullptr || asked == nullptr) return fail(v, Error::kInvalidParameters);
  for (uint32_t i = 0; i < req.header.access_count; ++i) {
    bool known = false;
    for (uint32_t j = 0; j < t->receiver_count; ++j) known = known || t->receivers[j].partition->id == req.receivers[i].receiver;
    if (!known) return fail(v, Error::kDenied);
  }
  if (mine->retrieved) return fail(v, Error::kDenied);
  // Clearing: only memory the sender gave up, and before retrieving only
  // if the sender asked for it too.
  const bool gives_up = t->transfer != Transfer::kShare;
  if ((req.header.flags & (ffa::kRetrieveClearBefore | ffa::kRetrieveClearAfter)) != 0 && !gives_up) {
    return fail(v, Error::kInvalidParameters);
  }
  if ((req.header.flags & ffa::kRetrieveClearBefore) != 0 && (t->flags & ffa::kMemClear) == 0) {
    return fail(v, Error::kDenied);
  }
  // Attributes: the receiver's to choose where the sender left them
  // unspecified (normal RAM all the same), or the same as the sender's.
  if (req.header.attributes != 0 && req.header.attributes != t->attributes &&
      req.header.attributes != ffa::encode_attributes(ffa::kNormalMemory)) {
    return fail(v, Error::kDenied);
  }
  // Permissions: no more than given; instruction access is the receiver's
  // to ask for when it is alone, and never for shared memory.
  const ffa::DataAccess given = ffa::data_access(mine->permissions);
  const ffa::DataAccess wanted = ffa::data_access(asked->permissions);
  if (given == ffa::DataAccess::kReadOnly && wanted == ffa::DataAccess::kReadWrite) return fail(v, Error::kDenied);
  const bool write = t->transfer == Transfer::kDonate ||
                     (wanted != ffa::DataAccess::kReadOnly && given != ffa::DataAccess::kReadOnly);
  const bool shared = t->transfer == Transfer::kShare || (t->transfer == Transfer::kLend && t->receiver_count > 1);
  const ffa::InstructionAccess x = ffa::instruction_access(asked->permissions);
  if (shared && x != ffa::InstructionAccess::kUnspecified) return fail(v, Error::kInvalidParameters);
  if (!shared && x == ffa::InstructionAccess::kUnspecified) return fail(v, Error::kInvalidParameters);
  const bool exec = x == ffa::InstructionAccess::kExecutable;
  // Room for the answer.
  Partition& sender = *t->sender;
  EndpointPairLock locks(self.ffa, sender.ffa);
  FfaMailbox& m = self.ffa.mailbox;
  const uint64_t answer = ffa::kTransactionSize + t->access_size + ffa::kCompositeSize +
                          uint64_t{t->range_count} * ffa::kRangeSize;
  if (m.pages == 0 || m.rx_full) return fail(v, Error::kBusy);
  if (answer > m.bytes()) return fail(v, Error::kNoMemory);

  const Op op = t->transfer == Transfer::kDonate ? Op::kRetrieveDonated
                : shared                          ? Op::kRetrieveShared
                                                  : Op::kRetrieveLent;
  const State to = *ownership::transition(op, State::kNone);
  const mm::Attrs granted = attrs_for(to, write, exec);
  {
    // A donation leaves its sender as it is mapped for the receiver.
    PageTable::Batch batch(pool_of(self));
    if (Error e = check_window(batch, *t, self, granted); e != ffa::kNoError) return fail(v, e);
    State donor_to = State::kNone;
    if (t->transfer == Transfer::kDonate) {
      if (Error e = check_ranges(batch, sender, *t, Where::kOwn, Op::kDonationTaken, donor_to); e != ffa::kNoError) {
        return fail(v, e);
      }
    }
    if (batch.reserve() != Status::kOk) return fail(v, Error::kNoMemory);
    apply_window(batch, *t, self, granted);
    if (t->transfer == Transfer::kDonate) apply_ranges(batch, sender, *t, Where::kOwn, donor_to);
  }
  // The answer, in the caller's RX buffer: the transaction as the caller
  // has it now, at its own addresses.
  ffa::Transaction h;
  h.sender = sender.id;
  h.attributes = t->attributes;
  h.flags = (t->flags & ffa::kMemClear) | ffa::transfer_flags(t->transfer);
  h.handle = req.header.handle;
  h.tag = t->tag;
  h.access_size = t->access_size;
  ffa::Access a;
  a.receiver = self.id;
  a.permissions = ffa::encode_permissions(write ? ffa::DataAccess::kReadWrite : ffa::DataAccess::kReadOnly,
                                          exec ? ffa::InstructionAccess::kExecutable
                                               : ffa::InstructionAccess::kNotExecutable);
  std::memcpy(a.impdef, mine->impdef, sizeof(a.impdef));
  ffa::Range ranges[kMaxMemRanges];
  for (uint32_t i = 0; i < t->range_count; ++i) {
    ranges[i] = {borrowed_ipa(sender, t->ranges[i].address), t->ranges[i].pages};
  }
  auto* rx = static_cast<uint8_t*>(mm::phys_to_virt(m.rx));
  const uint32_t written = ffa::write_descriptor(h, &a, 1, ranges, t->range_count, rx, static_cast<uint32_t>(m.bytes()));
  m.rx_full = true;
  if (t->transfer == Transfer::kDonate) {
    end(*t);
  } else {
    mine->retrieved = true;
  }
  return succeed(v, ffa::kMemRetrieveResp, written, written);
}

// ---- FFA_MEM_RELINQUISH -----------------------------------------------------------------

TrapAction ffa_mem_relinquish(Vcpu& v) {
  Partition& self = *v.partition;
  if ((v.ctx.x[1] | v.ctx.x[2] | v.ctx.x[3] | v.ctx.x[4] | v.ctx.x[5] | v.ctx.x[6] | v.ctx.x[7]) != 0) {
    return fail(v, Error::kInvalidParameters);
  }
  SpinLockGuard guard(g_lock);
  ffa::Relinquish r;
  {
    SpinLockGuard mine(self.ffa.lock);
    FfaMailbox& m = self.ffa.mailbox;
    if (m.pages == 0) return fail(v, Error::kInvalidParameters);
    const void* tx = mm::phys_to_virt(m.tx);
    if (tx == nullptr) return fail(v, Error::kInvalidParameters);
    std::memcpy(g_descriptor, tx, ffa::kRelinquishSize + 2);
  }
  if (Error e = ffa::read_relinquish(g_descriptor, ffa::kRelinquishSize + 2, r); e != ffa::kNoError) {
    return fail(v, e);
  }
  Transaction* t = find(r.handle);
  if (t == nullptr || r.endpoint != self.id) return fail(v, Error::kInvalidParameters);
  Receiver* mine = nullptr;
  for (uint32_t j = 0; j < t->receiver_count; ++j) {
    if (t->receivers[j].partition == &self) mine = &t->receivers[j];
  }
  if (mine == nullptr || !mine->retrieved) return fail(v, Error::kInvalidParameters);
  // A boot grant is the kernel's to keep in place.
  if (t->granted) return fail(v, Error::kDenied);
  if ((r.flags & ffa::kRelinquishClear) != 0 && t->transfer == Transfer::kShare) {
    return fail(v, Error::kInvalidParameters);
  }
  Partition& sender = *t->sender;
  if (Error e = change_ranges(self, *t, Where::kWindow, Op::kRelinquish); e != ffa::kNoError) return fail(v, e);
  mine->retrieved = false;
  // Cleared for its owner once the last borrower is gone (the owner has
  // no access to lent pages meanwhile).
  bool anyone = false;
  for (uint32_t j = 0; j < t->receiver_count; ++j) anyone = anyone || t->receivers[j].retrieved;
  if ((r.flags & ffa::kRelinquishClear) != 0 && !anyone) {
    for (uint32_t i = 0; i < t->range_count; ++i) clear(sender, t->ranges[i].address, bytes_of(t->ranges[i]));
  }
  return succeed(v, ffa::kSuccess32);
}

// ---- FFA_MEM_RECLAIM ----------------------------------------------------------------------

TrapAction ffa_mem_reclaim(Vcpu& v) {
  Partition& self = *v.partition;
  const uint64_t handle = ffa::handle_of(v.ctx.x[1], v.ctx.x[2]);
  const uint64_t flags = v.ctx.x[3] & 0xffff'ffff;
  if ((flags & ~uint64_t{ffa::kReclaimClear}) != 0 || (v.ctx.x[4] | v.ctx.x[5] | v.ctx.x[6] | v.ctx.x[7]) != 0) {
    return fail(v, Error::kInvalidParameters);
  }
  SpinLockGuard guard(g_lock);
  SpinLockGuard owner(self.ffa.lock);  // its RAM changes state: FFA_RXTX_MAP looks at it under this lock
  Transaction* t = find(handle);
  if (t == nullptr || t->sender != &self) return fail(v, Error::kInvalidParameters);
  if (t->granted) return fail(v, Error::kDenied);
  for (uint32_t j = 0; j < t->receiver_count; ++j) {
    if (t->receivers[j].retrieved) return fail(v, Error::kDenied);
  }
  if (Error e = change_ranges(self, *t, Where::kOwn, Op::kReclaim); e != ffa::kNoError) return fail(v, e);
  if ((flags & ffa::kReclaimClear) != 0) {
    for (uint32_t i = 0; i < t->range_count; ++i) clear(self, t->ranges[i].address, bytes_of(t->ranges[i]));
  }
  end(*t);
  return succeed(v, ffa::kSuccess32);
}

}  // namespace hyp
