#include "kernel/vgic/vgic.h"

#include "ipc/hypercall.h"

namespace hyp::vgic {

Config config_from_word(uint64_t w) {
  Config c;
  c.enabled = (w & abi::irq::kEnabled) != 0;
  c.group1 = (w & abi::irq::kGroup1) != 0;
  c.trigger = (w & abi::irq::kEdge) != 0 ? Trigger::kEdge : Trigger::kLevel;
  c.priority = static_cast<uint8_t>(w >> abi::irq::kPriorityShift);
  c.target = static_cast<uint8_t>(w >> abi::irq::kTargetShift);
  return c;
}

uint64_t word_from_config(const Config& c) {
  return (c.enabled ? abi::irq::kEnabled : 0) | (c.group1 ? abi::irq::kGroup1 : 0) |
         (c.trigger == Trigger::kEdge ? abi::irq::kEdge : 0) | (uint64_t{c.priority} << abi::irq::kPriorityShift) |
         (uint64_t{c.target} << abi::irq::kTargetShift);
}

uint32_t sgi_targets(uint64_t value, uint32_t self, uint32_t vcpus) {
  const uint32_t all = vcpus >= 32 ? ~0u : (1u << vcpus) - 1;
  if ((value & (uint64_t{1} << 40)) != 0) return all & ~(1u << self);
  const uint64_t upper = (value >> 16 & 0xff) | (value >> 32 & 0xff) | (value >> 48 & 0xff);
  const uint64_t rs = (value >> 44) & 0xf;
  if (upper != 0 || rs * 16 >= vcpus) return 0;
  const uint64_t list = (value & 0xffff) << (rs * 16);
  return static_cast<uint32_t>(list) & all;
}

void Vgic::send_sgi(uint32_t from, uint64_t value, bool group1, Kick& kick) {
  const uint32_t intid = sgi_intid(value);
  SpinLockGuard guard(lock_);
  const uint32_t targets = sgi_targets(value, from, vcpus_);
  for (uint32_t t = 0; t < vcpus_; ++t) {
    if ((targets & (1u << t)) == 0) continue;
    Irq& q = private_[t][intid];
    if (q.cfg.group1 != group1) continue;
    q.latch = true;
    note_pending(t, intid, q, kick);
  }
}

void Vgic::init(uint32_t vcpus, uint32_t lrs) {
  SpinLockGuard guard(lock_);
  vcpus_ = vcpus < kMaxVcpus ? vcpus : kMaxVcpus;
  lrs_ = lrs < kMaxLrs ? lrs : kMaxLrs;
  for (auto& bank : private_) {
    for (uint32_t i = 0; i < kPrivate; ++i) {
      bank[i] = Irq{};
      bank[i].cfg.trigger = i < kSgis ? Trigger::kEdge : Trigger::kLevel;
    }
  }
  for (Irq& q : spis_) q = Irq{};
  maybe_private_ = {};
  maybe_spi_ = 0;
}

Vgic::Irq* Vgic::find(uint32_t vcpu, uint32_t intid) {
  if (intid < kPrivate) return vcpu < vcpus_ ? &private_[vcpu][intid] : nullptr;
  if (intid < kIntidLimit) return &spis_[intid - kPrivate];
  return nullptr;
}

uint32_t Vgic::target_of(uint32_t vcpu, uint32_t intid, const Irq& q) const {
  return intid < kPrivate ? vcpu : q.cfg.target;
}

// Pending and enabled: the vCPU that has it in an LR (its state may need
// updating) or would get it.
void Vgic::mark(uint32_t vcpu, uint32_t intid) {
  if (intid < kPrivate) {
    maybe_private_[vcpu] |= 1u << intid;
  } else {
    maybe_spi_ |= uint64_t{1} << (intid - kPrivate);
  }
}

void Vgic::note_pending(uint32_t vcpu, uint32_t intid, Irq& q, Kick& kick) {
  mark(vcpu, intid);
  if (!q.cfg.enabled || !q.pending() || (q.lr < 0 && q.active)) return;
  kick.vcpus |= 1u << (q.lr >= 0 ? q.owner : target_of(vcpu, intid, q));
}

Status Vgic::configure(uint32_t vcpu, uint32_t intid, const Config& c, Kick& kick) {
  SpinLockGuard guard(lock_);
  Irq* q = find(vcpu, intid);
  if (q == nullptr) return Status::kInvalidArgument;
  if (intid < kSgis && c.trigger != Trigger::kEdge) return Status::kInvalidArgument;
  if (intid >= kPrivate && c.target >= vcpus_) return Status::kInvalidArgument;
  q->cfg = c;
  q->cfg.priority = static_cast<uint8_t>(c.priority & kPriorityMask);
  if (intid < kPrivate) q->cfg.target = 0;
  note_pending(vcpu, intid, *q, kick);
  // In an LR: its vCPU applies the change at its next refill (a disabled
  // pending entry is taken out, a new priority or group written), so it is
  // told now. A new target applies once the interrupt leaves that LR.
  if (q->lr >= 0) kick.vcpus |= 1u << q->owner;
  return Status::kOk;
}

Result<Config> Vgic::config(uint32_t vcpu, uint32_t intid) {
  SpinLockGuard guard(lock_);
  Irq* q = find(vcpu, intid);
  if (q == nullptr) return Status::kInvalidArgument;
  return q->cfg;
}

Result<Vgic::State> Vgic::state(uint32_t vcpu, uint32_t intid, Kick& kick) {
  SpinLockGuard guard(lock_);
  Irq* q = find(vcpu, intid);
  if (q == nullptr) return Status::kInvalidArgument;
  if (q->lr >= 0) kick.vcpus |= 1u << q->owner;
  State s;
  s.active = q->active;
  if ((q->ask & kAskSetActive) != 0) s.active = true;
  if ((q->ask & kAskClearActive) != 0) s.active = false;
  const bool in_lr = q->lr >= 0 && q->lr_pending && (q->ask & kAskClearPending) == 0;
  s.pending = q->pending() || in_lr;
  s.line = q->line;
  return s;
}

Status Vgic::raise(uint32_t vcpu, uint32_t intid, Kick& kick) {
  SpinLockGuard guard(lock_);
  Irq* q = find(vcpu, intid);
  if (q == nullptr) return Status::kInvalidArgument;
  q->latch = true;
  note_pending(vcpu, intid, *q, kick);
  return Status::kOk;
}

Status Vgic::set_line(uint32_t vcpu, uint32_t intid, bool high, Kick& kick) {
  SpinLockGuard guard(lock_);
  Irq* q = find(vcpu, intid);
  if (q == nullptr) return Status::kInvalidArgument;
  const bool rising = high && !q->line;
  q->line = high;
  if (q->cfg.trigger == Trigger::kEdge) {
    if (rising) q->latch = true;
  } else if (!high && q->lr >= 0) {
    // A level that falls while it is pending in an LR is taken back there.
    kick.vcpus |= 1u << q->owner;
  }
  note_pending(vcpu, intid, *q, kick);
  return Status::kOk;
}

void Vgic::ask(Irq& q, uint8_t what, Kick& kick) {
  if (what == kAskSetActive) q.ask &= static_cast<uint8_t>(~kAskClearActive);
  if (what == kAskClearActive) q.ask &= static_cast<uint8_t>(~kAskSetActive);
  q.ask |= what;
  kick.vcpus |= 1u << q.owner;
}

Status Vgic::clear_pending(uint32_t vcpu, uint32_t intid, Kick& kick) {
  SpinLockGuard guard(lock_);
  Irq* q = find(vcpu, intid);
  if (q == nullptr) return Status::kInvalidArgument;
  q->latch = false;
  if (q->lr >= 0) ask(*q, kAskClearPending, kick);
  return Status::kOk;
}

Status Vgic::set_active(uint32_t vcpu, uint32_t intid, bool active, Kick& kick) {
  SpinLockGuard guard(lock_);
  Irq* q = find(vcpu, intid);
  if (q == nullptr) return Status::kInvalidArgument;
  if (q->lr >= 0) {
    ask(*q, active ? kAskSetActive : kAskClearActive, kick);
    return Status::kOk;
  }
  q->active = active;
  // Ended: what is pending meanwhile is delivered now.
  if (!active) note_pending(vcpu, intid, *q, kick);
  return Status::kOk;
}

bool Vgic::replayed(uint32_t vcpu, uint32_t intid, uint64_t request) {
  SpinLockGuard guard(lock_);
  Irq* q = find(vcpu, intid);
  if (q == nullptr || request == 0) return false;
  if (q->last_request == request) return true;
  q->last_request = request;
  return false;
}

Vgic::Irq* Vgic::held(uint32_t vcpu, const Lrs& lrs, uint32_t slot) {
  const uint64_t v = lrs.lr[slot];
  if (v == 0) return nullptr;
  const uint64_t intid = v & lr::kIntidMask;
  Irq* q = intid < kIntidLimit ? find(vcpu, static_cast<uint32_t>(intid)) : nullptr;
  if (q == nullptr || q->lr != static_cast<int8_t>(slot) || q->owner != vcpu) return nullptr;
  return q;
}

bool Vgic::has_pending(uint32_t vcpu, const Lrs& lrs) {
  SpinLockGuard guard(lock_);
  if (vcpu >= vcpus_) return false;
  for (uint32_t i = 0; i < lrs_; ++i) {
    if ((lrs.lr[i] & lr::kPending) != 0) return true;
  }
  for (const Irq& q : private_[vcpu]) {
    if (q.lr < 0 && !q.active && q.cfg.enabled && q.pending()) return true;
  }
  for (const Irq& q : spis_) {
    if (q.lr < 0 && !q.active && q.cfg.target == vcpu && q.cfg.enabled && q.pending()) return true;
  }
  return false;
}

void Vgic::sync(uint32_t vcpu, Lrs& lrs) {
  SpinLockGuard guard(lock_);
  if (vcpu < vcpus_) sync_locked(vcpu, lrs);
}

bool Vgic::flush(uint32_t vcpu, Lrs& lrs) {
  SpinLockGuard guard(lock_);
  return vcpu < vcpus_ && flush_locked(vcpu, lrs, false);
}

bool Vgic::refresh(uint32_t vcpu, Lrs& lrs) {
  SpinLockGuard guard(lock_);
  return vcpu < vcpus_ && flush_locked(vcpu, lrs, true);
}

void Vgic::vacate(uint32_t vcpu, Lrs& lrs, uint32_t slot, Irq& q) {
  mark(vcpu, static_cast<uint32_t>(lrs.lr[slot] & lr::kIntidMask));
  q.lr = -1;
  q.from_latch = false;
  q.lr_pending = false;
  q.ask = 0;
  lrs.lr[slot] = 0;
}

bool Vgic::sync_entry(uint32_t vcpu, Lrs& lrs, uint32_t slot, Irq& q) {
  const uint64_t state = lrs.lr[slot] & lr::kStateMask;
  q.active = (state & lr::kActive) != 0;
  q.lr_pending = (state & lr::kPending) != 0;
  if (state != 0) return true;
  // Deactivated (a mapped one with its physical interrupt: a level source
  // still asserted fires again, and is mapped again).
  if (q.hw) {
    q.hw = false;
    q.line = false;
  }
  vacate(vcpu, lrs, slot, q);
  return false;
}

void Vgic::sync_locked(uint32_t vcpu, Lrs& lrs) {
  for (uint32_t i = 0; i < lrs_; ++i) {
    if (lrs.lr[i] == 0) continue;
    Irq* q = held(vcpu, lrs, i);
    if (q == nullptr) {
      lrs.lr[i] = 0;  // not ours: never loaded again
      continue;
    }
    (void)sync_entry(vcpu, lrs, i, *q);
  }
}

bool Vgic::better(uint32_t a_intid, const Irq& a, uint32_t b_intid, const Irq& b) const {
  if (a.cfg.priority != b.cfg.priority) return a.cfg.priority < b.cfg.priority;
  return a_intid < b_intid;
}

int32_t Vgic::best_waiting(uint32_t vcpu) {
  int32_t best = -1;
  const Irq* best_q = nullptr;
  auto waiting = [](const Irq& q) { return q.lr < 0 && !q.active && q.cfg.enabled && q.pending(); };
  auto consider = [&](uint32_t intid, const Irq& q) {
    if (best_q == nullptr || better(intid, q, static_cast<uint32_t>(best), *best_q)) {
      best = static_cast<int32_t>(intid);
      best_q = &q;
    }
  };
  for (uint32_t bits = maybe_private_[vcpu]; bits != 0; bits &= bits - 1) {
    const auto i = static_cast<uint32_t>(__builtin_ctz(bits));
    const Irq& q = private_[vcpu][i];
    if (waiting(q)) {
      consider(i, q);
    } else {
      maybe_private_[vcpu] &= ~(1u << i);
    }
  }
  for (uint64_t bits = maybe_spi_; bits != 0; bits &= bits - 1) {
    const auto i = static_cast<uint32_t>(__builtin_ctzll(bits));
    const Irq& q = spis_[i];
    if (!waiting(q)) {
      maybe_spi_ &= ~(uint64_t{1} << i);
    } else if (q.cfg.target == vcpu) {
      consider(kPrivate + i, q);
    }
  }
  return best;
}

uint64_t Vgic::lr_value(uint32_t intid, const Irq& q) const {
  uint64_t v = intid | (uint64_t{q.cfg.priority} << lr::kPriorityShift);
  if (q.cfg.group1) v |= lr::kGroup1;
  if (q.hw) {
    v |= lr::kHw | (uint64_t{q.pintid} << lr::kPintidShift);
  } else if (q.cfg.trigger == Trigger::kLevel) {
    v |= lr::kEoi;  // its line is looked at again when it is deactivated
  }
  return v;
}

// Back out of an LR, pending-only: an edge is owed again; a level is still
// whatever its line says.
void Vgic::take_out(Lrs& lrs, uint32_t slot, Irq& q) {
  if (q.cfg.trigger == Trigger::kEdge || q.from_latch) q.latch = true;
  vacate(q.owner, lrs, slot, q);
}

void Vgic::place(uint32_t vcpu, Lrs& lrs, uint32_t slot, uint32_t intid, Irq& q) {
  q.from_latch = q.latch;
  q.latch = false;
  q.lr = static_cast<int8_t>(slot);
  q.owner = static_cast<uint8_t>(vcpu);
  q.lr_pending = true;
  q.ask = 0;
  lrs.lr[slot] = lr_value(intid, q) | lr::kPending;
}

bool Vgic::flush_locked(uint32_t vcpu, Lrs& lrs, bool sync_first) {
  bool unmapped = false;
  // What is in the LRs already: synced first if asked (one pass for
  // both), then the changes asked for applied, configuration changes
  // applied, pending entries that should no longer be taken out, new edges
  // of active ones added.
  for (uint32_t i = 0; i < lrs_; ++i) {
    if (lrs.lr[i] == 0) continue;
    Irq* q = held(vcpu, lrs, i);
    if (q == nullptr) {
      lrs.lr[i] = 0;
      continue;
    }
    if (sync_first && !sync_entry(vcpu, lrs, i, *q)) continue;
    uint64_t state = lrs.lr[i] & lr::kStateMask;
    if (q->ask != 0) {
      // A level line still high keeps the entry pending.
      const bool held_high = q->cfg.trigger == Trigger::kLevel && q->line;
      if ((q->ask & kAskClearPending) != 0 && !held_high) {
        state &= ~lr::kPending;
        q->from_latch = false;
      }
      if ((q->ask & kAskSetActive) != 0) state |= lr::kActive;
      if ((q->ask & kAskClearActive) != 0) state &= ~lr::kActive;
      q->ask = 0;
      q->active = (state & lr::kActive) != 0;
      q->lr_pending = (state & lr::kPending) != 0;
      if (state == 0) {
        // Over without the guest: a mapped one's physical interrupt is
        // ended by the caller (a source still asserted fires again).
        if (q->hw) {
          q->hw = false;
          q->line = false;
          unmapped = true;
        }
        vacate(vcpu, lrs, i, *q);
        continue;
      }
    }
    const bool level_gone = q->cfg.trigger == Trigger::kLevel && !q->line && !q->from_latch && !q->hw;
    if (state == lr::kPending && !q->hw && (!q->cfg.enabled || level_gone)) {
      take_out(lrs, i, *q);
      continue;
    }
    if (state == lr::kActive && q->latch && q->cfg.enabled) {
      state |= lr::kPending;
      q->latch = false;
    }
    const uint32_t intid = static_cast<uint32_t>(lrs.lr[i] & lr::kIntidMask);
    q->lr_pending = (state & lr::kPending) != 0;
    lrs.lr[i] = lr_value(intid, *q) | state;
  }
  // Free LRs, best first; then pending-only entries worse than the best
  // waiting one give way to it.
  bool overflow = false;
  for (;;) {
    const int32_t best = best_waiting(vcpu);
    if (best < 0) break;
    const uint32_t intid = static_cast<uint32_t>(best);
    Irq& q = *find(vcpu, intid);
    int32_t slot = -1;
    for (uint32_t i = 0; i < lrs_ && slot < 0; ++i) {
      if (lrs.lr[i] == 0) slot = static_cast<int32_t>(i);
    }
    if (slot < 0) {
      uint32_t worst_intid = 0;
      Irq* worst = nullptr;
      for (uint32_t i = 0; i < lrs_; ++i) {
        if ((lrs.lr[i] & lr::kStateMask) != lr::kPending || (lrs.lr[i] & lr::kHw) != 0) continue;
        Irq* w = held(vcpu, lrs, i);
        const uint32_t w_intid = static_cast<uint32_t>(lrs.lr[i] & lr::kIntidMask);
        if (w != nullptr && (worst == nullptr || better(worst_intid, *worst, w_intid, *w))) {
          worst = w;
          worst_intid = w_intid;
          slot = static_cast<int32_t>(i);
        }
      }
      if (worst == nullptr || !better(intid, q, worst_intid, *worst)) {
        overflow = true;
        break;
      }
      take_out(lrs, static_cast<uint32_t>(slot), *worst);
    }
    place(vcpu, lrs, static_cast<uint32_t>(slot), intid, q);
  }
  // More pending than fit: a maintenance interrupt once the guest has
  // taken every pending entry (NPIE); if every entry is active, once one
  // is deactivated (the EOI bit; a mapped entry cannot carry it, and its
  // deactivation is seen at the vCPU's next exit).
  lrs.hcr = kHcrEn;
  if (!overflow) return unmapped;
  bool any_pending = false;
  for (uint32_t i = 0; i < lrs_; ++i) any_pending = any_pending || (lrs.lr[i] & lr::kPending) != 0;
  if (any_pending) {
    lrs.hcr |= kHcrNpie;
    return unmapped;
  }
  for (uint32_t i = 0; i < lrs_; ++i) {
    if (lrs.lr[i] != 0 && (lrs.lr[i] & lr::kHw) == 0) lrs.lr[i] |= lr::kEoi;
  }
  return unmapped;
}

Status Vgic::inject_hw(uint32_t vcpu, uint32_t intid, uint32_t pintid, Lrs& lrs) {
  SpinLockGuard guard(lock_);
  if (intid < kSgis || intid >= kPrivate || vcpu >= vcpus_) return Status::kInvalidArgument;
  Irq& q = private_[vcpu][intid];
  q.hw = true;
  q.pintid = static_cast<uint16_t>(pintid);
  if (q.cfg.trigger == Trigger::kEdge && !q.line) q.latch = true;
  q.line = true;
  mark(vcpu, intid);
  if (q.lr >= 0) {
    // Already in an LR (a software entry since the vCPU last left its
    // CPU): mapped in place, its state kept, pending added.
    const uint64_t state = lrs.lr[static_cast<uint32_t>(q.lr)] & lr::kStateMask;
    lrs.lr[static_cast<uint32_t>(q.lr)] = lr_value(intid, q) | state | lr::kPending;
    q.from_latch = false;
    q.lr_pending = true;
  }
  return Status::kOk;
}

bool Vgic::source_low(uint32_t vcpu, uint32_t intid, Lrs& lrs) {
  SpinLockGuard guard(lock_);
  if (intid < kSgis || intid >= kPrivate || vcpu >= vcpus_) return false;
  Irq& q = private_[vcpu][intid];
  q.line = false;
  const bool was_mapped = q.hw;
  if (q.lr < 0) {
    // Waiting (disabled, or no LR free) with the physical one active.
    q.hw = false;
    return was_mapped;
  }
  const auto slot = static_cast<uint32_t>(q.lr);
  const uint64_t state = lrs.lr[slot] & lr::kStateMask;
  if (q.from_latch || q.latch || (state & lr::kPending) == 0) return false;
  if (state == lr::kPending) {
    // Not taken: withdrawn, as a level interrupt whose line fell is.
    q.hw = false;
    vacate(vcpu, lrs, slot, q);
    return was_mapped;
  }
  // Active and pending again: the guest finishes the one it took.
  lrs.lr[slot] &= ~lr::kPending;
  q.lr_pending = false;
  return false;
}

bool Vgic::unmap_hw(uint32_t vcpu, Lrs& lrs) {
  SpinLockGuard guard(lock_);
  if (vcpu >= vcpus_) return false;
  bool mapped = false;
  for (uint32_t intid = kSgis; intid < kPrivate; ++intid) {
    Irq& q = private_[vcpu][intid];
    if (!q.hw) continue;
    mapped = true;
    q.hw = false;
    // The line stays as the source left it (the run loop lowered it if the
    // source was found low): while the vCPU is away its timer cannot
    // change, and when it is back a source still high fires again and is
    // mapped again.
    if (q.lr >= 0) {
      const uint64_t state = lrs.lr[static_cast<uint32_t>(q.lr)] & lr::kStateMask;
      lrs.lr[static_cast<uint32_t>(q.lr)] = lr_value(intid, q) | state;
    } else {
      mark(vcpu, intid);
    }
  }
  return mapped;
}

void Vgic::release_lrs(uint32_t vcpu, Lrs& lrs) {
  SpinLockGuard guard(lock_);
  if (vcpu >= vcpus_) return;
  for (uint32_t i = 0; i < lrs_; ++i) {
    Irq* q = held(vcpu, lrs, i);
    if (q == nullptr) {
      lrs.lr[i] = 0;
      continue;
    }
    q->active = false;
    if ((lrs.lr[i] & lr::kPending) != 0) {
      take_out(lrs, i, *q);
    } else {
      vacate(vcpu, lrs, i, *q);
    }
  }
  lrs.hcr = 0;
}

}  // namespace hyp::vgic
