#include "kernel/irq/gic.h"

#include "kernel/arch/mmio.h"

namespace hyp::gic {
namespace {

uint64_t typer_affinity(Pa frame) {
  // GICR_TYPER[63:32] is Aff3.Aff2.Aff1.Aff0; 32-bit reads are allowed.
  return arch::mmio_read32(frame.offset(kGicrTyper + 4));
}

// MPIDR_EL1's Aff3 (bits 39:32) and Aff2..Aff0 (23:0) as GICR_TYPER packs them.
uint64_t packed_affinity(uint64_t mpidr) { return ((mpidr >> 8) & 0xff00'0000) | (mpidr & 0x00ff'ffff); }

}  // namespace

Status init_distributor(Pa dist, uint32_t spins) {
  const uint32_t ctlr = arch::mmio_read32(dist.offset(kGicdCtlr));
  arch::mmio_write32(dist.offset(kGicdCtlr), (ctlr & kGicdCtlrDs) | kGicdCtlrAre | kGicdCtlrEnableGrp1);
  for (uint32_t i = 0; i < spins; ++i) {
    if ((arch::mmio_read32(dist.offset(kGicdCtlr)) & kGicdCtlrRwp) == 0) return Status::kOk;
  }
  return Status::kBusy;
}

Status enable_spi(Pa dist, uint32_t intid, uint64_t mpidr) {
  if (intid < 32 || intid >= 1020) return Status::kInvalidArgument;
  const uint64_t word = 4 * (intid / 32);
  const uint32_t bit = 1u << (intid % 32);
  arch::mmio_write32(dist.offset(kGicdIgroupr + word), arch::mmio_read32(dist.offset(kGicdIgroupr + word)) | bit);
  const Pa prio = dist.offset(kGicdIpriorityr + (intid & ~3u));
  const uint32_t shift = 8 * (intid & 3u);
  arch::mmio_write32(prio, (arch::mmio_read32(prio) & ~(0xffu << shift)) | (0x80u << shift));
  // GICD_IROUTER<n>: Aff3 [39:32], Aff2..Aff0 [23:0] as MPIDR has them; 64
  // bits, written as two halves.
  const Pa router = dist.offset(kGicdIrouter + 8 * uint64_t{intid});
  arch::mmio_write32(router, static_cast<uint32_t>(mpidr & 0xff'ffff));
  arch::mmio_write32(router.offset(4), static_cast<uint32_t>((mpidr >> 32) & 0xff));
  arch::mmio_write32(dist.offset(kGicdIsenabler + word), bit);
  return Status::kOk;
}

void deactivate_spi(Pa dist, uint32_t intid) {
  if (intid < 32 || intid >= 1020) return;
  arch::mmio_write32(dist.offset(kGicdIcactiver + 4 * (intid / 32)), 1u << (intid % 32));
}

Status init_redistributor(Pa redist, uint64_t size, uint64_t mpidr, uint32_t spins) {
  const uint64_t want = packed_affinity(mpidr);
  for (uint64_t off = 0; off + kGicrFrame <= size; off += kGicrFrame) {
    const Pa frame = redist.offset(off);
    const bool last = (arch::mmio_read32(frame.offset(kGicrTyper)) & kGicrTyperLast) != 0;
    if (typer_affinity(frame) != want) {
      if (last) break;
      continue;
    }
    const uint32_t waker = arch::mmio_read32(frame.offset(kGicrWaker));
    arch::mmio_write32(frame.offset(kGicrWaker), waker & ~kGicrWakerProcessorSleep);
    uint32_t i = 0;
    while (i < spins && (arch::mmio_read32(frame.offset(kGicrWaker)) & kGicrWakerChildrenAsleep) != 0) ++i;
    if (i == spins) return Status::kBusy;
    const uint32_t mine =
        (1u << kWakeSgi) | (1u << kHypTimerPpi) | (1u << kMaintenancePpi) | (1u << kVirtualTimerPpi);
    arch::mmio_write32(frame.offset(kGicrIcenabler0), ~mine);
    arch::mmio_write32(frame.offset(kGicrIgroupr0), mine);
    // Byte-wide priorities, four to a word: all at 0x80, mid-range.
    for (uint32_t intid : {kWakeSgi, kHypTimerPpi, kMaintenancePpi, kVirtualTimerPpi}) {
      const Pa prio = frame.offset(kGicrIpriorityr + (intid & ~3u));
      const uint32_t shift = 8 * (intid & 3u);
      arch::mmio_write32(prio, (arch::mmio_read32(prio) & ~(0xffu << shift)) | (0x80u << shift));
    }
    arch::mmio_write32(frame.offset(kGicrIsenabler0), mine);
    return Status::kOk;
  }
  return Status::kNotFound;
}

}  // namespace hyp::gic
