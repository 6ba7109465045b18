#include "servers/gic/gic_device.h"

namespace hyp::server {
namespace {

namespace irq = abi::irq;

// Distributor registers (IHI 0069, 12.9).
constexpr uint64_t kCtlr = 0x0000;
constexpr uint64_t kTyper = 0x0004;
constexpr uint64_t kIidr = 0x0008;
constexpr uint64_t kIgroupr = 0x0080;
constexpr uint64_t kIsenabler = 0x0100;
constexpr uint64_t kIcenabler = 0x0180;
constexpr uint64_t kIspendr = 0x0200;
constexpr uint64_t kIcpendr = 0x0280;
constexpr uint64_t kIsactiver = 0x0300;
constexpr uint64_t kIcactiver = 0x0380;
constexpr uint64_t kIpriorityr = 0x0400;
constexpr uint64_t kIcfgr = 0x0c00;
constexpr uint64_t kIrouter = 0x6000;
constexpr uint64_t kPidr2 = 0xffe8;
// Redistributor registers (12.10, 12.11), RD_base and SGI_base.
constexpr uint64_t kRdCtlr = 0x0000;
constexpr uint64_t kRdIidr = 0x0004;
constexpr uint64_t kRdTyper = 0x0008;
constexpr uint64_t kRdWaker = 0x0014;
constexpr uint64_t kSgiBase = 0x1'0000;

constexpr uint32_t kCtlrDs = 1u << 6;
constexpr uint32_t kCtlrAre = 1u << 4;
constexpr uint32_t kCtlrGroups = 0b11;  // EnableGrp1, EnableGrp0
constexpr uint32_t kWakerProcessorSleep = 1u << 1;
constexpr uint32_t kWakerChildrenAsleep = 1u << 2;
// JEP106 code of Arm (0x43B) in the implementer field; product 0.
constexpr uint32_t kIidrValue = 0x43b;
constexpr uint32_t kPidr2Value = 0x3b;  // ArchRev 3: GICv3

// GICD_TYPER: ITLinesNumber (32 INTIDs each, up to the last SPI), IDbits 9
// (10 bits of INTID), No1N; no LPIs, no security extension (DS).
constexpr uint32_t kTyperValue = (abi::irq::kIntidLimit / 32 - 1) | (9u << 19) | (1u << 25);

// A bank register at `offset` from `base`, 4 bytes each, and which of them.
bool in_bank(uint64_t offset, uint64_t base, uint32_t regs, uint32_t& n) {
  if (offset < base || offset >= base + 4 * regs) return false;
  n = static_cast<uint32_t>((offset - base) / 4);
  return true;
}

uint64_t group_of(uint64_t word, uint64_t) { return (word & irq::kGroup1) != 0 ? 1 : 0; }
uint64_t pending_of(uint64_t, uint64_t state) { return (state & irq::kPending) != 0 ? 1 : 0; }
uint64_t active_of(uint64_t, uint64_t state) { return (state & irq::kActive) != 0 ? 1 : 0; }
uint64_t edge_of(uint64_t word, uint64_t) { return (word & irq::kEdge) != 0 ? 2 : 0; }

// The one rule for accesses the GIC does not define (IHI 0069, 12.1.3 and
// 12.1.6): a register is reached at the widths the architecture gives it
// (IPRIORITYR by byte or word, IROUTER and GICR_TYPER by doubleword or
// either word, everything else by word); any other width, and any offset
// with no register, reads as zero and ignores writes. Nothing aborts.
bool priority_width(unsigned width) { return width == 1 || width == 4; }

uint64_t with_priority(uint64_t word, uint8_t p) {
  return (word & ~(uint64_t{0xff} << irq::kPriorityShift)) | (uint64_t{p} << irq::kPriorityShift);
}

}  // namespace

bool GicDevice::guest_enabled(uint32_t vcpu, uint32_t intid) const {
  if (intid < 32) return vcpu < kMaxVcpus && (state_->enabled_private[vcpu] >> intid & 1) != 0;
  return intid < kIntidLimit && (state_->enabled_spi >> (intid - 32) & 1) != 0;
}

bool GicDevice::forwarded(uint32_t vcpu, uint32_t intid, uint64_t word) const {
  const uint32_t group_enable = (word & irq::kGroup1) != 0 ? 0b10 : 0b01;
  if ((state_->ctlr & group_enable) == 0 || !guest_enabled(vcpu, intid)) return false;
  return intid < 32 || (state_->unrouted >> (intid - 32) & 1) == 0;
}

template <typename Change>
void GicDevice::update(uint32_t vcpu, uint32_t intid, Change change) {
  uint64_t word = 0;
  uint64_t state = 0;
  if (kernel_->query(vcpu, intid, word, state) != 0) return;
  uint64_t next = change(word) & ~irq::kEnabled;
  if (forwarded(vcpu, intid, next)) next |= irq::kEnabled;
  if (next != word) (void)kernel_->configure(vcpu, intid, next);
}

void GicDevice::reapply_enables() {
  auto same = [](uint64_t w) { return w; };
  for (uint32_t v = 0; v < vcpus_; ++v) {
    for (uint32_t bits = state_->enabled_private[v]; bits != 0; bits &= bits - 1) {
      update(v, static_cast<uint32_t>(__builtin_ctz(bits)), same);
    }
  }
  for (uint64_t bits = state_->enabled_spi; bits != 0; bits &= bits - 1) {
    update(0, 32 + static_cast<uint32_t>(__builtin_ctzll(bits)), same);
  }
}

void GicDevice::reset() {
  if (state_ == nullptr) return;
  *state_ = GicState{};
}

uint64_t GicDevice::read(uint64_t offset, unsigned width) {
  if (kernel_ == nullptr || state_ == nullptr) return 0;
  if (offset < kDistSize) return read_dist(offset, width);
  if (offset < kRedistBase) return 0;  // where virt has its ITS: none here
  const uint64_t r = offset - kRedistBase;
  const auto vcpu = static_cast<uint32_t>(r / kRedistSize);
  if (vcpu >= vcpus_) return 0;
  return read_redist(vcpu, r % kRedistSize, width);
}

void GicDevice::write(uint64_t offset, unsigned width, uint64_t value) {
  if (kernel_ == nullptr || state_ == nullptr) return;
  if (offset < kDistSize) {
    write_dist(offset, width, value);
    return;
  }
  if (offset < kRedistBase) return;
  const uint64_t r = offset - kRedistBase;
  const auto vcpu = static_cast<uint32_t>(r / kRedistSize);
  if (vcpu < vcpus_) write_redist(vcpu, r % kRedistSize, width, value);
}

// ---- Banks of 1, 2 or 8 bits per INTID ----

uint32_t GicDevice::read_bits(uint32_t vcpu, uint32_t first, unsigned per,
                              uint64_t (*field)(uint64_t word, uint64_t state)) {
  uint32_t out = 0;
  const unsigned count = 32 / per;
  for (unsigned i = 0; i < count; ++i) {
    const uint32_t intid = first + i;
    uint64_t word = 0;
    uint64_t state = 0;
    if (kernel_->query(vcpu, intid, word, state) != 0) continue;
    out |= static_cast<uint32_t>(field(word, state)) << (i * per);
  }
  return out;
}

// The guest's enables: one bit per INTID of a bank (`first` 0 for a
// redistributor's SGIs and PPIs, 32 * n for the distributor's register n).
uint32_t GicDevice::read_enables(uint32_t vcpu, uint32_t first) const {
  if (first == 0) return vcpu < kMaxVcpus ? state_->enabled_private[vcpu] : 0;
  const uint32_t n = first - 32;
  return n < kSpis ? static_cast<uint32_t>(state_->enabled_spi >> n) : 0;
}

void GicDevice::write_enable(uint32_t vcpu, uint32_t first, uint32_t bits, bool enable) {
  for (uint32_t i = 0; i < 32; ++i) {
    if ((bits >> i & 1) == 0) continue;
    const uint32_t intid = first + i;
    if (intid >= kIntidLimit) break;
    if (intid < 32) {
      uint32_t& mine = state_->enabled_private[vcpu];
      mine = enable ? mine | (1u << intid) : mine & ~(1u << intid);
    } else {
      const uint64_t bit = uint64_t{1} << (intid - 32);
      state_->enabled_spi = enable ? state_->enabled_spi | bit : state_->enabled_spi & ~bit;
    }
    update(vcpu, intid, [](uint64_t w) { return w; });
  }
}

void GicDevice::write_group(uint32_t vcpu, uint32_t first, uint32_t bits) {
  for (uint32_t i = 0; i < 32; ++i) {
    const bool g1 = (bits >> i & 1) != 0;
    update(vcpu, first + i, [g1](uint64_t w) { return g1 ? w | irq::kGroup1 : w & ~irq::kGroup1; });
  }
}

void GicDevice::write_state(uint32_t vcpu, uint32_t first, uint32_t bits, irq::Op op) {
  for (uint32_t i = 0; i < 32; ++i) {
    if ((bits >> i & 1) != 0) (void)kernel_->signal(vcpu, first + i, op);
  }
}

uint64_t GicDevice::read_priorities(uint32_t vcpu, uint32_t first, unsigned width) {
  uint64_t out = 0;
  for (unsigned i = 0; i < width; ++i) {
    uint64_t word = 0;
    uint64_t state = 0;
    if (kernel_->query(vcpu, first + i, word, state) != 0) continue;
    out |= (word >> irq::kPriorityShift & 0xff) << (8 * i);
  }
  return out;
}

void GicDevice::write_priorities(uint32_t vcpu, uint32_t first, unsigned width, uint64_t value) {
  for (unsigned i = 0; i < width; ++i) {
    const auto p = static_cast<uint8_t>(value >> (8 * i));
    update(vcpu, first + i, [p](uint64_t w) { return with_priority(w, p); });
  }
}

// ICFGR: two bits per INTID, the upper one set for edge-triggered. SGIs
// are edge-triggered whatever is written.
void GicDevice::write_config(uint32_t vcpu, uint32_t first, uint32_t value) {
  for (uint32_t i = 0; i < 16; ++i) {
    const uint32_t intid = first + i;
    if (intid < 16) continue;
    const bool edge = (value >> (2 * i + 1) & 1) != 0;
    update(vcpu, intid, [edge](uint64_t w) { return edge ? w | irq::kEdge : w & ~irq::kEdge; });
  }
}

// GICD_IROUTER<n>: Aff3.Aff2.Aff1.Aff0 of the one vCPU the SPI goes to
// (vCPU n has affinity 0.0.0.n). One that names no vCPU is kept disabled in
// the kernel until it names one, as such an SPI is forwarded to nobody.
uint64_t GicDevice::read_router(uint32_t spi) {
  const uint32_t n = spi - 32;
  if ((state_->unrouted >> n & 1) != 0) return state_->unrouted_to[n];
  uint64_t word = 0;
  uint64_t state = 0;
  if (kernel_->query(0, spi, word, state) != 0) return 0;
  return word >> irq::kTargetShift & 0xff;
}

void GicDevice::write_router(uint32_t spi, uint64_t value) {
  const uint32_t n = spi - 32;
  const uint64_t bit = uint64_t{1} << n;
  value &= 0xff'00ff'ffff;  // IRM (bit 31) is RES0 with No1N; other bits RES0
  const uint64_t aff0 = value & 0xff;
  const bool routed = (value >> 8) == 0 && aff0 < vcpus_;
  if (!routed) {
    state_->unrouted |= bit;
    state_->unrouted_to[n] = value;
    update(0, spi, [](uint64_t w) { return w; });  // kept from every vCPU
    return;
  }
  state_->unrouted &= ~bit;
  update(0, spi, [aff0](uint64_t w) {
    return (w & ~(uint64_t{0xff} << irq::kTargetShift)) | (aff0 << irq::kTargetShift);
  });
}

// ---- The distributor ----

uint64_t GicDevice::read_dist(uint64_t offset, unsigned width) {
  uint32_t n = 0;
  if (offset >= kIrouter + 8 * 32 && offset < kIrouter + 8 * kIntidLimit) {
    const auto spi = static_cast<uint32_t>((offset - kIrouter) / 8);
    const uint64_t v = read_router(spi);
    if (width == 8) return v;
    if (width == 4) return (offset & 4) != 0 ? v >> 32 : v & 0xffff'ffff;
    return 0;
  }
  if (offset >= kIpriorityr + 32 && offset < kIpriorityr + kIntidLimit) {
    return priority_width(width) ? read_priorities(0, static_cast<uint32_t>(offset - kIpriorityr), width) : 0;
  }
  if (width != 4) return 0;
  switch (offset) {
    case kCtlr:
      return kCtlrDs | kCtlrAre | (state_->ctlr & kCtlrGroups);
    case kTyper:
      return kTyperValue;
    case kIidr:
      return kIidrValue;
    case kPidr2:
      return kPidr2Value;
    default:
      break;
  }
  // Registers for INTIDs 0..31 are the redistributors' (affinity routing):
  // here they read as zero, like those past the last SPI.
  const uint32_t regs = kIntidLimit / 32;
  if (in_bank(offset, kIgroupr, regs, n)) return n == 0 ? 0 : read_bits(0, 32 * n, 1, group_of);
  if (in_bank(offset, kIsenabler, regs, n) || in_bank(offset, kIcenabler, regs, n)) {
    return n == 0 ? 0 : read_enables(0, 32 * n);
  }
  if (in_bank(offset, kIspendr, regs, n) || in_bank(offset, kIcpendr, regs, n)) {
    return n == 0 ? 0 : read_bits(0, 32 * n, 1, pending_of);
  }
  if (in_bank(offset, kIsactiver, regs, n) || in_bank(offset, kIcactiver, regs, n)) {
    return n == 0 ? 0 : read_bits(0, 32 * n, 1, active_of);
  }
  if (in_bank(offset, kIcfgr, kIntidLimit / 16, n)) return n < 2 ? 0 : read_bits(0, 16 * n, 2, edge_of);
  return 0;
}

void GicDevice::write_dist(uint64_t offset, unsigned width, uint64_t value) {
  uint32_t n = 0;
  if (offset >= kIrouter + 8 * 32 && offset < kIrouter + 8 * kIntidLimit) {
    const auto spi = static_cast<uint32_t>((offset - kIrouter) / 8);
    if (width == 8) {
      write_router(spi, value);
    } else if (width == 4) {
      const uint64_t old = read_router(spi);
      write_router(spi, (offset & 4) != 0 ? (old & 0xffff'ffff) | (value << 32) : (old & ~uint64_t{0xffff'ffff}) | value);
    }
    return;
  }
  if (offset >= kIpriorityr + 32 && offset < kIpriorityr + kIntidLimit) {
    if (priority_width(width)) write_priorities(0, static_cast<uint32_t>(offset - kIpriorityr), width, value);
    return;
  }
  if (width != 4) return;
  const auto v = static_cast<uint32_t>(value);
  if (offset == kCtlr) {
    const uint32_t before = state_->ctlr;
    state_->ctlr = v & kCtlrGroups;
    if (state_->ctlr != before) reapply_enables();
    return;
  }
  const uint32_t regs = kIntidLimit / 32;
  if (in_bank(offset, kIgroupr, regs, n) && n != 0) write_group(0, 32 * n, v);
  if (in_bank(offset, kIsenabler, regs, n) && n != 0) write_enable(0, 32 * n, v, true);
  if (in_bank(offset, kIcenabler, regs, n) && n != 0) write_enable(0, 32 * n, v, false);
  if (in_bank(offset, kIspendr, regs, n) && n != 0) write_state(0, 32 * n, v, irq::Op::kSetPending);
  if (in_bank(offset, kIcpendr, regs, n) && n != 0) write_state(0, 32 * n, v, irq::Op::kClearPending);
  if (in_bank(offset, kIsactiver, regs, n) && n != 0) write_state(0, 32 * n, v, irq::Op::kSetActive);
  if (in_bank(offset, kIcactiver, regs, n) && n != 0) write_state(0, 32 * n, v, irq::Op::kClearActive);
  if (in_bank(offset, kIcfgr, kIntidLimit / 16, n) && n >= 2) write_config(0, 16 * n, v);
}

// ---- A redistributor ----

uint64_t GicDevice::read_redist(uint32_t vcpu, uint64_t offset, unsigned width) {
  // GICR_TYPER: affinity 0.0.0.vcpu [63:32], processor number [23:8], Last.
  const uint64_t typer = uint64_t{vcpu} << 32 | uint64_t{vcpu} << 8 | (vcpu + 1 == vcpus_ ? 1u << 4 : 0);
  if (offset == kRdTyper && width == 8) return typer;
  if (offset >= kSgiBase + kIpriorityr && offset < kSgiBase + kIpriorityr + 32) {
    return priority_width(width) ? read_priorities(vcpu, static_cast<uint32_t>(offset - kSgiBase - kIpriorityr), width)
                                 : 0;
  }
  if (width != 4) return 0;
  switch (offset) {
    case kRdCtlr:
      return 0;
    case kRdIidr:
      return kIidrValue;
    case kRdTyper:
      return typer & 0xffff'ffff;
    case kRdTyper + 4:
      return typer >> 32;
    case kRdWaker:
      return (state_->awake >> vcpu & 1) != 0 ? 0 : kWakerProcessorSleep | kWakerChildrenAsleep;
    case kPidr2:
      return kPidr2Value;
    case kSgiBase + kIgroupr:
      return read_bits(vcpu, 0, 1, group_of);
    case kSgiBase + kIsenabler:
    case kSgiBase + kIcenabler:
      return read_enables(vcpu, 0);
    case kSgiBase + kIspendr:
    case kSgiBase + kIcpendr:
      return read_bits(vcpu, 0, 1, pending_of);
    case kSgiBase + kIsactiver:
    case kSgiBase + kIcactiver:
      return read_bits(vcpu, 0, 1, active_of);
    case kSgiBase + kIcfgr:
      return 0xaaaa'aaaa;  // SGIs: edge
    case kSgiBase + kIcfgr + 4:
      return read_bits(vcpu, 16, 2, edge_of);
    default:
      return 0;
  }
}

void GicDevice::write_redist(uint32_t vcpu, uint64_t offset, unsigned width, uint64_t value) {
  if (offset >= kSgiBase + kIpriorityr && offset < kSgiBase + kIpriorityr + 32) {
    if (priority_width(width)) {
      write_priorities(vcpu, static_cast<uint32_t>(offset - kSgiBase - kIpriorityr), width, value);
    }
    return;
  }
  if (width != 4) return;
  const auto v = static_cast<uint32_t>(value);
  switch (offset) {
    case kRdWaker:
      // ChildrenAsleep follows ProcessorSleep at once: nothing to quiesce.
      state_->awake = (v & kWakerProcessorSleep) != 0 ? state_->awake & ~(1u << vcpu) : state_->awake | (1u << vcpu);
      return;
    case kSgiBase + kIgroupr:
      write_group(vcpu, 0, v);
      return;
    case kSgiBase + kIsenabler:
      write_enable(vcpu, 0, v, true);
      return;
    case kSgiBase + kIcenabler:
      write_enable(vcpu, 0, v, false);
      return;
    case kSgiBase + kIspendr:
      write_state(vcpu, 0, v, irq::Op::kSetPending);
      return;
    case kSgiBase + kIcpendr:
      write_state(vcpu, 0, v, irq::Op::kClearPending);
      return;
    case kSgiBase + kIsactiver:
      write_state(vcpu, 0, v, irq::Op::kSetActive);
      return;
    case kSgiBase + kIcactiver:
      write_state(vcpu, 0, v, irq::Op::kClearActive);
      return;
    case kSgiBase + kIcfgr + 4:
      write_config(vcpu, 16, v);
      return;
    default:
      return;
  }
}

}  // namespace hyp::server
