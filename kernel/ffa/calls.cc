#include "kernel/ffa/calls.h"

#include <cstring>

#include "kernel/arch/cpu.h"
#include "kernel/arch/mm.h"
#include "kernel/ffa/sharing.h"

namespace hyp {
namespace {

using ffa::Error;
namespace prop = ffa::properties;

constinit Partition* g_partitions = nullptr;
constinit size_t g_partition_count = 0;

// ---- Registers -----------------------------------------------------------

// The SMC32 convention passes 32-bit values: the upper halves of x1..x7 are
// not part of the call.
struct Args {
  const Vcpu& v;
  bool wide;  // SMC64
  uint64_t operator[](size_t i) const { return wide ? v.ctx.x[i] : v.ctx.x[i] & 0xffff'ffff; }
};

// FFA_SUCCESS with results from w2 (x2 for SMC64 calls); x1 and every
// register not named is zero.
void success(Vcpu& v, bool wide, uint64_t r2 = 0, uint64_t r3 = 0, uint64_t r4 = 0, uint64_t r5 = 0,
             uint64_t r6 = 0, uint64_t r7 = 0) {
  const uint64_t mask = wide ? ~uint64_t{0} : 0xffff'ffff;
  v.ctx.x[0] = wide ? ffa::kSuccess64 : ffa::kSuccess32;
  v.ctx.x[1] = 0;
  v.ctx.x[2] = r2 & mask;
  v.ctx.x[3] = r3 & mask;
  v.ctx.x[4] = r4 & mask;
  v.ctx.x[5] = r5 & mask;
  v.ctx.x[6] = r6 & mask;
  v.ctx.x[7] = r7 & mask;
}

TrapAction fail(Vcpu& v, Error e) { return ffa_refuse(v, e); }

TrapAction done(Vcpu& v, bool wide, uint64_t r2 = 0, uint64_t r3 = 0) {
  success(v, wide, r2, r3);
  return TrapAction::kResume;
}

// ---- Partitions ----------------------------------------------------------

}  // namespace

Partition* ffa_partition(uint16_t id) {
  for (size_t i = 0; i < g_partition_count; ++i) {
    Partition& p = g_partitions[i];
    if (p.state != PartitionState::kEmpty && p.id == id) return &p;
  }
  return nullptr;
}

namespace {

uint32_t version_of(const Partition& p) { return p.ffa.version.load(std::memory_order_relaxed); }

// What partition `p` is, as a caller at FF-A `version` is told.
ffa::PartitionInfo info_of(const Partition& p, uint32_t version) {
  uint32_t props = (p.ffa.messaging & package::kFfaMessagingMask) | prop::kAarch64;
  // Notifications are FF-A 1.1's; an older caller is not told of them.
  if (version == ffa::kVersion1_0) props &= ~prop::kNotifications;
  return {.id = p.id, .contexts = static_cast<uint16_t>(p.vcpu_count), .properties = props, .uuid = p.ffa.uuid};
}

bool matches(const Partition& p, const ffa::Uuid& uuid) { return uuid.is_nil() || p.ffa.uuid == uuid; }

// ---- FFA_VERSION and FFA_FEATURES ------------------------------------------

TrapAction version(Vcpu& v) {
  FfaEndpoint& e = v.partition->ffa;
  const uint32_t asked = static_cast<uint32_t>(v.ctx.x[1]);
  // The answer is a version or NOT_SUPPORTED, in w0 alone.
  for (size_t i = 1; i <= 7; ++i) v.ctx.x[i] = 0;
  if (!ffa::version_compatible(asked, kFfaVersion)) {
    v.ctx.x[0] = ffa::kVersionNotSupported;
    return TrapAction::kResume;
  }
  // Once another call has fixed it, only the same version is served.
  const uint32_t had = e.version.load(std::memory_order_relaxed);
  if (e.version_fixed.load(std::memory_order_acquire) && had != asked) {
    v.ctx.x[0] = ffa::kVersionNotSupported;
    return TrapAction::kResume;
  }
  e.version.store(asked, std::memory_order_relaxed);
  v.ctx.x[0] = kFfaVersion;
  return TrapAction::kResume;
}

// Whether the kernel implements function `fid` for a caller at `version`.
bool implemented(uint32_t fid, uint32_t version) {
  switch (fid) {
    case ffa::kError:
    case ffa::kSuccess32:
    case ffa::kSuccess64:
    case ffa::kVersion:
    case ffa::kFeatures:
    case ffa::kRxRelease:
    case ffa::kRxtxMap32:
    case ffa::kRxtxMap64:
    case ffa::kRxtxUnmap:
    case ffa::kPartitionInfoGet:
    case ffa::kIdGet:
      return true;
    case ffa::kMsgSend2:
    case ffa::kNotificationBind:
    case ffa::kNotificationUnbind:
    case ffa::kNotificationSet:
    case ffa::kNotificationGet:
      return version >= ffa::kVersion1_1;
    case ffa::kPartitionInfoGetRegs:
      return version >= ffa::kVersion1_2;
    // Memory sharing (kernel/ffa/sharing.h): FF-A 1.1's descriptors; a
    // caller at 1.0 would write 1.0's, which the kernel does not read.
    case ffa::kMemShare32:
    case ffa::kMemShare64:
    case ffa::kMemLend32:
    case ffa::kMemLend64:
    case ffa::kMemDonate32:
    case ffa::kMemDonate64:
    case ffa::kMemRetrieveReq32:
    case ffa::kMemRetrieveReq64:
    case ffa::kMemRelinquish:
    case ffa::kMemReclaim:
    case ffa::kMemFragRx:
    case ffa::kMemFragTx:
      return version >= ffa::kVersion1_1;
    case ffa::kMsgSendDirectReq32:
    case ffa::kMsgSendDirectReq64:
    case ffa::kMsgSendDirectResp32:
    case ffa::kMsgSendDirectResp64:
    case ffa::kMsgWait:
    case ffa::kYield:
      return true;
    default:
      return false;
  }
}

TrapAction features(Vcpu& v, const Args& a) {
  const Partition& p = *v.partition;
  const uint32_t id = static_cast<uint32_t>(a[1]);
  const uint64_t input = a[2];
  const uint32_t caller = version_of(p);
  if ((id & (1u << 31)) == 0) {
    // A feature: only the notification pending interrupt, to guests that
    // receive notifications (servers have no virtual interrupts).
    if (input != 0 || id != static_cast<uint32_t>(ffa::FeatureId::kNotificationPendingInterrupt) ||
        p.kind != PartitionKind::kGuest || !p.ffa.does(prop::kNotifications) || caller < ffa::kVersion1_1) {
      return fail(v, Error::kNotSupported);
    }
    return done(v, false, kFfaNotificationPendingIntid);
  }
  if (input != 0 || !implemented(id, caller)) return fail(v, Error::kNotSupported);
  if (id == ffa::kRxtxMap32 || id == ffa::kRxtxMap64) {
    // 4 KiB minimum size and alignment; the largest size for FF-A 1.2.
    const uint32_t max = caller >= ffa::kVersion1_2 ? kFfaMaxBufferPages << ffa::kRxtxMaxPagesShift : 0;
    return done(v, false, ffa::kRxtxMin4K | max);
  }
  return done(v, false);
}

// ---- RX/TX buffers -----------------------------------------------------------

// Whether [ipa, ipa + bytes) is RAM partition `p` owns exclusively and may
// read and write, inside one of its memory regions (so physically
// contiguous); its physical address if so.
bool owned_ram(const Partition& p, uint64_t ipa, uint64_t bytes, Pa& pa) {
  const MemoryRegion* region = nullptr;
  for (size_t i = 0; i < p.memory_count; ++i) {
    const MemoryRegion& r = p.memory[i];
    if (ipa >= r.ipa.value() && bytes <= r.size && ipa - r.ipa.value() <= r.size - bytes) region = &r;
  }
  if (region == nullptr) return false;
  for (uint64_t page = ipa; page < ipa + bytes; page += kPageSize) {
    const auto t = p.stage2.translate(page);
    if (!t || t->attrs != kPartitionRam) return false;
  }
  pa = region->pa.offset(ipa - region->ipa.value());
  return true;
}

TrapAction rxtx_map(Vcpu& v, const Args& a) {
  Partition& p = *v.partition;
  const uint64_t tx = a[1];
  const uint64_t rx = a[2];
  const uint64_t count = a[3];
  if ((count & ~uint64_t{ffa::kRxtxPageCountMask}) != 0 || count == 0 || count > kFfaMaxBufferPages) {
    return fail(v, Error::kInvalidParameters);
  }
  const uint64_t bytes = count * ffa::kBufferPageSize;
  if (tx % ffa::kBufferPageSize != 0 || rx % ffa::kBufferPageSize != 0 || (tx < rx + bytes && rx < tx + bytes)) {
    return fail(v, Error::kInvalidParameters);
  }
  SpinLockGuard guard(p.ffa.lock);
  FfaMailbox& m = p.ffa.mailbox;
  if (m.pages != 0) return fail(v, Error::kDenied);
  Pa tx_pa;
  Pa rx_pa;
  if (!owned_ram(p, tx, bytes, tx_pa) || !owned_ram(p, rx, bytes, rx_pa)) return fail(v, Error::kInvalidParameters);
  // Only the kernel writes the RX buffer: read-only to its owner while
  // mapped (the TLB maintenance is protect()'s, for every CPU).
  arch::mm::Attrs read_only = kPartitionRam;
  read_only.write = false;
  read_only.exec = false;
  if (const Status st = p.stage2.protect(rx, bytes, read_only); st != Status::kOk) {
    return fail(v, st == Status::kNoMemory ? Error::kNoMemory : Error::kInvalidParameters);
  }
  m.tx_ipa = Ipa(tx);
  m.rx_ipa = Ipa(rx);
  m.tx = tx_pa;
  m.rx = rx_pa;
  m.pages = static_cast<uint32_t>(count);
  m.rx_full = false;
  return done(v, false);
}

TrapAction rxtx_unmap(Vcpu& v, const Args& a) {
  Partition& p = *v.partition;
  // [31:16] names the endpoint only when a hypervisor forwards the call.
  if (a[1] != 0) return fail(v, Error::kInvalidParameters);
  SpinLockGuard guard(p.ffa.lock);
  FfaMailbox& m = p.ffa.mailbox;
  if (m.pages == 0) return fail(v, Error::kInvalidParameters);
  // Back to plain RAM; splitting was done by the map, so nothing to allocate.
  if (p.stage2.protect(m.rx_ipa.value(), m.bytes(), kPartitionRam) != Status::kOk) {
    return fail(v, Error::kInvalidParameters);
  }
  m = FfaMailbox{};
  p.ffa.notifications.rx_full = false;
  return done(v, false);
}

// Gives the RX buffer back to the kernel; the framework's "RX buffer full"
// is taken with it. Error{} (0) when done.
Error release_rx(Partition& p) HYP_REQUIRES(p.ffa.lock) {
  FfaMailbox& m = p.ffa.mailbox;
  if (m.pages == 0) return Error::kInvalidParameters;
  if (!m.rx_full) return Error::kDenied;
  m.rx_full = false;
  p.ffa.notifications.rx_full = false;
  return Error{};
}

TrapAction rx_release(Vcpu& v, const Args& a) {
  Partition& p = *v.partition;
  if (a[1] != 0) return fail(v, Error::kInvalidParameters);
  SpinLockGuard guard(p.ffa.lock);
  if (const Error e = release_rx(p); e != Error{}) return fail(v, e);
  return done(v, false);
}

// ---- Partition information ---------------------------------------------------

ffa::Uuid uuid_of_words(const Args& a) {
  ffa::Uuid u;
  for (size_t i = 0; i < 4; ++i) u.words[i] = static_cast<uint32_t>(a[1 + i]);
  return u;
}

TrapAction partition_info_get(Vcpu& v, const Args& a) {
  Partition& p = *v.partition;
  const ffa::Uuid uuid = uuid_of_words(a);
  const uint64_t flags = a[5];
  if ((flags & ~uint64_t{ffa::kInfoCountOnly}) != 0) return fail(v, Error::kInvalidParameters);
  const uint32_t caller = version_of(p);
  const uint32_t size = ffa::partition_info_size(caller);
  uint32_t count = 0;
  for (size_t i = 0; i < g_partition_count; ++i) {
    if (g_partitions[i].state != PartitionState::kEmpty && matches(g_partitions[i], uuid)) ++count;
  }
  if (count == 0) return fail(v, Error::kInvalidParameters);
  if ((flags & ffa::kInfoCountOnly) != 0) return done(v, false, count);
  SpinLockGuard guard(p.ffa.lock);
  FfaMailbox& m = p.ffa.mailbox;
  if (m.pages == 0 || m.rx_full) return fail(v, Error::kBusy);
  if (uint64_t{count} * size > m.bytes()) return fail(v, Error::kNoMemory);
  auto* out = static_cast<uint8_t*>(arch::mm::phys_to_virt(m.rx));
  for (size_t i = 0; i < g_partition_count; ++i) {
    const Partition& q = g_partitions[i];
    if (q.state == PartitionState::kEmpty || !matches(q, uuid)) continue;
    ffa::PartitionInfo info = info_of(q, caller);
    // The UUID is told only to a query for every partition.
    if (!uuid.is_nil()) info.uuid = ffa::Uuid{};
    ffa::write_partition_info(info, caller, out);
    out += size;
  }
  m.rx_full = true;
  return done(v, false, count, size);
}

// FF-A 1.2: up to five descriptors in x3..x17, from index x3[15:0].
TrapAction partition_info_get_regs(Vcpu& v, const Args& a) {
  ffa::Uuid uuid;
  uuid.words[0] = static_cast<uint32_t>(a[1]);
  uuid.words[1] = static_cast<uint32_t>(a[1] >> 32);
  uuid.words[2] = static_cast<uint32_t>(a[2]);
  uuid.words[3] = static_cast<uint32_t>(a[2] >> 32);
  const uint64_t start = a[3] & 0xffff;
  const uint64_t tag = (a[3] >> 16) & 0xffff;
  // No query is ever carried over between calls: any tag is stale.
  if (tag != 0) return fail(v, Error::kRetry);
  const Partition* found[package::kMaxPartitions] = {};
  uint64_t count = 0;
  for (size_t i = 0; i < g_partition_count; ++i) {
    if (g_partitions[i].state != PartitionState::kEmpty && matches(g_partitions[i], uuid)) {
      found[count++] = &g_partitions[i];
    }
  }
  if (count == 0 || start >= count) return fail(v, Error::kInvalidParameters);
  const uint64_t last = count - 1;
  const uint64_t current = start + ffa::kInfoRegsPerCall - 1 < last ? start + ffa::kInfoRegsPerCall - 1 : last;
  for (size_t r = 3; r <= 17; ++r) v.ctx.x[r] = 0;
  for (uint64_t i = start, r = 3; i <= current; ++i, r += 3) {
    ffa::PartitionInfo info = info_of(*found[i], version_of(*v.partition));
    if (!uuid.is_nil()) info.uuid = ffa::Uuid{};
    v.ctx.x[r] = ffa::partition_info_reg(info);
    v.ctx.x[r + 1] = info.uuid.low64();
    v.ctx.x[r + 2] = info.uuid.high64();
  }
  v.ctx.x[0] = ffa::kSuccess64;
  v.ctx.x[1] = 0;
  v.ctx.x[2] = last | (current << 16) | (uint64_t{ffa::kPartitionInfoSize} << 48);
  return TrapAction::kResume;
}

// ---- Notifications -------------------------------------------------------------

// Sends the notification pending interrupt to vCPU `vcpu` of guest `p`:
// recorded in `v` for the run loop to tell. A server, which has no virtual
// interrupts, is run instead (its FFA_MSG_WAIT returns FFA_RUN).
TrapAction signal_pending(Vcpu& v, Partition& p, uint32_t vcpu) {
  if (p.kind != PartitionKind::kGuest) {
    v.sent_to = 1;
    v.sent_in = &p;
    return TrapAction::kSendInterrupts;
  }
  vgic::Kick kick;
  if (p.vgic.raise(vcpu, kFfaNotificationPendingIntid, kick) != Status::kOk || kick.vcpus == 0) {
    return TrapAction::kResume;
  }
  v.sent_to = kick.vcpus;
  v.sent_in = &p;
  return TrapAction::kSendInterrupts;
}

// The checks BIND and UNBIND share: w1 = sender << 16 | receiver (the
// caller), a bitmap that is not empty. The sender on success.
Error bind_args(const Vcpu& v, const Args& a, Partition*& sender, uint64_t& bitmap) {
  const Partition& p = *v.partition;
  bitmap = ffa::bitmap_of(a[3], a[4]);
  if (ffa::low_id(a[1]) != p.id || ffa::high_id(a[1]) == p.id || (a[1] >> 32) != 0 || bitmap == 0) {
    return Error::kInvalidParameters;
  }
  sender = ffa_partition(ffa::high_id(a[1]));
  if (sender == nullptr) return Error::kInvalidParameters;
  if (!p.ffa.does(prop::kNotifications)) return Error::kNotSupported;
  return Error{};
}

TrapAction notification_bind(Vcpu& v, const Args& a) {
  Partition& p = *v.partition;
  Partition* sender = nullptr;
  uint64_t bitmap = 0;
  if (const Error e = bind_args(v, a, sender, bitmap); e != Error{}) return fail(v, e);
  const uint64_t flags = a[2];
  if ((flags & ~uint64_t{ffa::kNotificationPerVcpu}) != 0) return fail(v, Error::kInvalidParameters);
  SpinLockGuard guard(p.ffa.lock);
  FfaNotifications& n = p.ffa.notifications;
  // Every ID must be free: not bound (to anyone, this sender included), and
  // nothing pending from an earlier binding.
  if ((n.bound & bitmap) != 0 || (n.pending_any() & bitmap) != 0) return fail(v, Error::kDenied);
  n.bound |= bitmap;
  if ((flags & ffa::kNotificationPerVcpu) != 0) {
    n.per_vcpu |= bitmap;
  } else {
    n.per_vcpu &= ~bitmap;
  }
  for (uint32_t id = 0; id < ffa::kNotificationCount; ++id) {
    if ((bitmap >> id) & 1) n.sender[id] = sender->id;
  }
  return done(v, false);
}

TrapAction notification_unbind(Vcpu& v, const Args& a) {
  Partition& p = *v.partition;
  Partition* sender = nullptr;
  uint64_t bitmap = 0;
  if (const Error e = bind_args(v, a, sender, bitmap); e != Error{}) return fail(v, e);
  if (a[2] != 0) return fail(v, Error::kInvalidParameters);
  SpinLockGuard guard(p.ffa.lock);
  FfaNotifications& n = p.ffa.notifications;
  if ((n.bound & bitmap) != bitmap || (n.pending_any() & bitmap) != 0) return fail(v, Error::kDenied);
  for (uint32_t id = 0; id < ffa::kNotificationCount; ++id) {
    if (((bitmap >> id) & 1) && n.sender[id] != sender->id) return fail(v, Error::kDenied);
  }
  n.bound &= ~bitmap;
  n.per_vcpu &= ~bitmap;
  for (uint32_t id = 0; id < ffa::kNotificationCount; ++id) {
    if ((bitmap >> id) & 1) n.sender[id] = 0;
  }
  return done(v, false);
}

TrapAction notification_set(Vcpu& v, const Args& a) {
  const Partition& self = *v.partition;
  const uint64_t flags = a[2];
  const uint64_t bitmap = ffa::bitmap_of(a[3], a[4]);
  const bool per_vcpu = (flags & ffa::kNotificationPerVcpu) != 0;
  const uint32_t vcpu = static_cast<uint32_t>(flags >> ffa::kNotificationVcpuShift) & 0xffff;
  // [15:2] are reserved; delaying the schedule receiver interrupt is for
  // secure partitions, which this world has none of.
  if ((flags & 0xfffe) != 0 || (!per_vcpu && vcpu != 0) || bitmap == 0 || (a[1] >> 32) != 0 ||
      ffa::high_id(a[1]) != self.id || ffa::low_id(a[1]) == self.id) {
    return fail(v, Error::kInvalidParameters);
  }
  Partition* receiver = ffa_partition(ffa::low_id(a[1]));
  if (receiver == nullptr || (per_vcpu && vcpu >= receiver->vcpu_count)) return fail(v, Error::kInvalidParameters);
  if (!receiver->ffa.does(prop::kNotifications)) return fail(v, Error::kDenied);
  {
    SpinLockGuard guard(receiver->ffa.lock);
    FfaNotifications& n = receiver->ffa.notifications;
    if ((n.bound & bitmap) != bitmap) return fail(v, Error::kDenied);
    for (uint32_t id = 0; id < ffa::kNotificationCount; ++id) {
      if (((bitmap >> id) & 1) && n.sender[id] != self.id) return fail(v, Error::kDenied);
    }
    // Set as they were bound: per-vCPU IDs for a vCPU, global ones globally.
    const uint64_t bound_per_vcpu = n.per_vcpu & bitmap;
    if (per_vcpu ? bound_per_vcpu != bitmap : bound_per_vcpu != 0) return fail(v, Error::kInvalidParameters);
    if (per_vcpu) {
      n.pending_vcpu[vcpu] |= bitmap;
    } else {
      n.pending |= bitmap;
    }
  }
  success(v, false);
  return signal_pending(v, *receiver, per_vcpu ? vcpu : 0);
}

TrapAction notification_get(Vcpu& v, const Args& a) {
  Partition& p = *v.partition;
  const uint64_t flags = a[2];
  const uint32_t vcpu = ffa::high_id(a[1]);
  // A vCPU takes its own per-vCPU notifications (and the global ones).
  if (ffa::low_id(a[1]) != p.id || (a[1] >> 32) != 0 || vcpu != v.index || (flags & ~uint64_t{0xf}) != 0) {
    return fail(v, Error::kInvalidParameters);
  }
  if (!p.ffa.does(prop::kNotifications)) return fail(v, Error::kNotSupported);
  uint64_t from_vms = 0;
  uint32_t framework = 0;
  {
    SpinLockGuard guard(p.ffa.lock);
    FfaNotifications& n = p.ffa.notifications;
    if ((flags & ffa::kGetFromVms) != 0) {
      from_vms = n.pending | n.pending_vcpu[vcpu];
      n.pending = 0;
      n.pending_vcpu[vcpu] = 0;
    }
    if ((flags & ffa::kGetFromHypervisor) != 0 && n.rx_full) {
      framework = ffa::kFrameworkRxFull;
      n.rx_full = false;
    }
  }
  // No secure partitions and no SPM: those bitmaps are always empty.
  success(v, false, 0, 0, from_vms & 0xffff'ffff, from_vms >> 32, 0, framework);
  return TrapAction::kResume;
}

// ---- Indirect messages ---------------------------------------------------------

// Copies the message `h` describes from `from`'s TX buffer to `to`'s RX
// buffer, which becomes `to`'s. Error{} (0) when done.
Error deliver_locked(FfaEndpoint& from, FfaEndpoint& to, const ffa::MessageHeader& h)
    HYP_REQUIRES(from.lock, to.lock) {
  FfaMailbox& tx = from.mailbox;
  FfaMailbox& rx = to.mailbox;
  // Unmapped since the header was read: as if it had never been mapped.
  if (tx.pages == 0) return Error::kDenied;
  if (rx.pages == 0 || rx.rx_full) return Error::kBusy;
  // The TX buffer may have changed size, and the RX buffer is the receiver's.
  if (h.offset > tx.bytes() || h.size > tx.bytes() - h.offset || h.offset > rx.bytes() ||
      h.size > rx.bytes() - h.offset) {
    return Error::kInvalidParameters;
  }
  auto* out = static_cast<uint8_t*>(arch::mm::phys_to_virt(rx.rx));
  const auto* in = static_cast<const uint8_t*>(arch::mm::phys_to_virt(tx.tx));
  // The header as checked, nothing of the sender's between it and the
  // payload, then the payload.
  const uint32_t header_size =
      h.offset == ffa::kMessageHeaderSize1_1 ? ffa::kMessageHeaderSize1_1 : ffa::kMessageHeaderSize1_2;
  ffa::write_message_header(h, out);
  std::memset(out + header_size, 0, h.offset - header_size);
  std::memcpy(out + h.offset, in + h.offset, h.size);
  rx.rx_full = true;
  to.notifications.rx_full = true;
  return Error{};
}

// The same with both endpoints' locks taken.
Error deliver(FfaEndpoint& from, FfaEndpoint& to, const ffa::MessageHeader& h) {
  EndpointPairLock locks(from, to);
  return deliver_locked(from, to, h);
}

TrapAction msg_send2(Vcpu& v, const Args& a) {
  Partition& self = *v.partition;
  // [31:16] of w1 names the sender only when a hypervisor forwards the call;
  // the only flag is for secure partitions.
  if (a[1] != 0 || a[2] != 0) return fail(v, Error::kInvalidParameters);
  if (!self.ffa.does(prop::kIndirect)) return fail(v, Error::kDenied);
  // The header names the receiver: read it once, then check it with both
  // buffers held. (The sender's other vCPUs may rewrite the TX buffer
  // meanwhile; only the copy read here counts.)
  ffa::MessageHeader h;
  {
    SpinLockGuard guard(self.ffa.lock);
    FfaMailbox& m = self.ffa.mailbox;
    if (m.pages == 0) return fail(v, Error::kDenied);
    uint8_t header[ffa::kMessageHeaderSize1_2];
    std::memcpy(header, arch::mm::phys_to_virt(m.tx), sizeof(header));
    if (!ffa::check_message_header(header, m.bytes(), h)) return fail(v, Error::kInvalidParameters);
  }
  if (h.sender != self.id || h.receiver == self.id) return fail(v, Error::kInvalidParameters);
  Partition* receiver = ffa_partition(h.receiver);
  if (receiver == nullptr) return fail(v, Error::kInvalidParameters);
  if (!receiver->ffa.does(prop::kIndirect)) return fail(v, Error::kDenied);
  if (const Error e = deliver(self.ffa, receiver->ffa, h); e != Error{}) return fail(v, e);
  success(v, false);
  return receiver->ffa.does(prop::kNotifications) ? signal_pending(v, *receiver, 0) : TrapAction::kResume;
}

// ---- Direct messages -------------------------------------------------------------

// What a server's FFA_MSG_WAIT returns when it is run for anything but a
// direct request: FFA_RUN naming it.
void set_run_return(Vcpu& sv) {
  sv.ctx.x[0] = ffa::kRun;
  sv.ctx.x[1] = uint64_t{sv.partition->id} << 16;
  for (size_t i = 2; i <= 7; ++i) sv.ctx.x[i] = 0;
}

TrapAction msg_wait(Vcpu& v, const Args& a) {
  Partition& self = *v.partition;
  const uint64_t flags = a[2];
  const uint64_t allowed = version_of(self) >= ffa::kVersion1_2 ? ffa::kWaitRetainRx : 0;
  if (a[1] != 0 || a[3] != 0 || a[4] != 0 || a[5] != 0 || a[6] != 0 || a[7] != 0 || (flags & ~allowed) != 0) {
    return fail(v, Error::kInvalidParameters);
  }
  if (v.direct.state.load(std::memory_order_relaxed) == MsgState::kServing) return fail(v, Error::kDenied);
  // The RX buffer goes back to the kernel with the wait, unless kept.
  if ((flags & ffa::kWaitRetainRx) == 0) {
    SpinLockGuard guard(self.ffa.lock);
    if (self.ffa.mailbox.rx_full) (void)release_rx(self);
  }
  v.direct.state.store(MsgState::kWaiting, std::memory_order_release);
  return TrapAction::kMessageWait;
}

TrapAction yield(Vcpu& v, const Args& a) {
  // w2/w3: a timeout (FF-A 1.2) the kernel's own scheduling has no use for.
  if (a[1] != 0 || a[4] != 0 || a[5] != 0 || a[6] != 0 || a[7] != 0) return fail(v, Error::kInvalidParameters);
  success(v, false);
  return v.partition->kind == PartitionKind::kGuest ? TrapAction::kYield : TrapAction::kResume;
}

}  // namespace

Vcpu* ffa_abort_request(Vcpu& r) {
  for (;;) {
    MsgState st = r.direct.state.load(std::memory_order_acquire);
    if (st == MsgState::kClaimed) {
      // A sender is giving it a request this moment: let it finish.
      arch::cpu_relax();
      continue;
    }
    if (st == MsgState::kServing) {
      Vcpu* q = r.direct.from;
      const bool wide = r.direct.from_wide;
      const bool answered = q != nullptr && ffa_answer(*q, r.direct.from_seq, [&](VcpuContext& ctx) {
        ctx.x[0] = ffa::kError;
        ctx.x[1] = 0;
        ctx.x[2] = ffa::error_word(Error::kAborted);
        for (size_t i = 3; i <= 7; ++i) ctx.x[i] = 0;
        (void)wide;
      });
      r.direct.from = nullptr;
      r.direct.state.store(MsgState::kNone, std::memory_order_release);
      return answered ? q : nullptr;
    }
    if (r.direct.state.compare_exchange_weak(st, MsgState::kNone, std::memory_order_acq_rel)) return nullptr;
  }
}

bool ffa_end_message_wait(Vcpu& v) {
  for (;;) {
    MsgState st = v.direct.state.load(std::memory_order_acquire);
    if (st == MsgState::kServing) return true;
    if (st == MsgState::kClaimed) {
      arch::cpu_relax();
      continue;
    }
    if (v.direct.state.compare_exchange_weak(st, MsgState::kNone, std::memory_order_acq_rel)) break;
  }
  fail(v, Error::kInterrupted);
  return false;
}

void ffa_server_resumed(Vcpu& sv) {
  // The CPU that resumes a server holds its claim, which a sender needs
  // before it touches this state: no race to settle here.
  sv.direct.state.store(MsgState::kNone, std::memory_order_relaxed);
  set_run_return(sv);
}

void ffa_set_partitions(Partition* partitions, size_t count) {
  g_partitions = partitions;
  g_partition_count = count;
  ffa_memory_init();
}

TrapAction ffa_call(Vcpu& v, uint32_t fid) {
  if (ffa_is_direct_message(fid)) return ffa_direct_message(v, fid);
  const Args a{v, ffa::is_smc64(fid)};
  if (fid == ffa::kVersion) return version(v);
  FfaEndpoint& e = v.partition->ffa;
  // Every other call needs a version first, and fixes it.
  const uint32_t negotiated = e.version.load(std::memory_order_relaxed);
  if (negotiated == 0) return fail(v, Error::kNotSupported);
  if (!e.version_fixed.load(std::memory_order_relaxed)) [[unlikely]] {
    e.version_fixed.store(true, std::memory_order_release);
  }
  if (!implemented(fid, negotiated)) return fail(v, Error::kNotSupported);
  switch (fid) {
    case ffa::kFeatures:
      return features(v, a);
    case ffa::kIdGet:
      return done(v, false, v.partition->id);
    case ffa::kRxtxMap32:
    case ffa::kRxtxMap64:
      return rxtx_map(v, a);
    case ffa::kRxtxUnmap:
      return rxtx_unmap(v, a);
    case ffa::kRxRelease:
      return rx_release(v, a);
    case ffa::kPartitionInfoGet:
      return partition_info_get(v, a);
    case ffa::kPartitionInfoGetRegs:
      return partition_info_get_regs(v, a);
    case ffa::kNotificationBind:
      return notification_bind(v, a);
    case ffa::kNotificationUnbind:
      return notification_unbind(v, a);
    case ffa::kNotificationSet:
      return notification_set(v, a);
    case ffa::kNotificationGet:
      return notification_get(v, a);
    case ffa::kMsgSend2:
      return msg_send2(v, a);
    case ffa::kMemShare32:
    case ffa::kMemShare64:
      return ffa_mem_send(v, fid, ffa::Transfer::kShare);
    case ffa::kMemLend32:
    case ffa::kMemLend64:
      return ffa_mem_send(v, fid, ffa::Transfer::kLend);
    case ffa::kMemDonate32:
    case ffa::kMemDonate64:
      return ffa_mem_send(v, fid, ffa::Transfer::kDonate);
    case ffa::kMemRetrieveReq32:
    case ffa::kMemRetrieveReq64:
      return ffa_mem_retrieve(v, fid);
    case ffa::kMemRelinquish:
      return ffa_mem_relinquish(v);
    case ffa::kMemReclaim:
      return ffa_mem_reclaim(v);
    case ffa::kMemFragTx:
      return ffa_mem_frag_tx(v);
    case ffa::kMemFragRx:
      return ffa_mem_frag_rx(v);
    case ffa::kMsgWait:
      return msg_wait(v, a);
    case ffa::kYield:
      return yield(v, a);
    default:
      // FFA_ERROR and FFA_SUCCESS are answers, not calls.
      return fail(v, Error::kNotSupported);
  }
}

}  // namespace hyp
