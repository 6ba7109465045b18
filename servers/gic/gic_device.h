// One guest's GICv3 distributor and redistributors (IHI 0069, chapter 12)
// as the guest sees them, in one register window laid out as QEMU's virt
// machine lays out its own: GICD_* in the first 64 KiB, nothing where virt
// has its ITS, and from 0xa0000 one 128 KiB redistributor (RD_base,
// SGI_base) per vCPU.
//
// The kernel holds every interrupt's configuration and state
// (kernel/vgic); this model owns only the register interface: a write is
// turned into the kernel calls that change what it names (docs/abi.md,
// "Virtual interrupts"), a read into the queries that answer it. What the
// kernel does not keep (the distributor's group enables, each
// redistributor's sleep state, SPIs routed to no vCPU, every interrupt's
// enable as the guest set it) lives in a small state that survives a
// restart of the server.
//
// An interrupt is enabled in the kernel only while the guest has it
// enabled, its group is enabled in GICD_CTLR and (an SPI) it is routed to
// a vCPU: the distributor forwards nothing else. GICD_ISENABLER and
// GICR_ISENABLER0 read the guest's own enables.
//
// What the guest sees: a GICv3 with a single Security state (GICD_CTLR.DS
// set), affinity routing always on, 64 SPIs (INTIDs 32..95), no LPIs, no
// 1-of-N routing (GICD_TYPER.No1N), priorities of 5 bits.
#pragma once

#include <cstdint>

#include "ipc/hypercall.h"
#include "servers/lib/mmio_device.h"

namespace hyp::server {

// The kernel calls the model makes, for one guest. Each returns 0 or a
// negative status (ipc/hypercall.h).
class IrqKernel {
 public:
  virtual int64_t configure(uint32_t vcpu, uint32_t intid, uint64_t word) = 0;
  virtual int64_t query(uint32_t vcpu, uint32_t intid, uint64_t& word, uint64_t& state) = 0;
  virtual int64_t signal(uint32_t vcpu, uint32_t intid, abi::irq::Op op) = 0;

 protected:
  ~IrqKernel() = default;
};

// What the model keeps across a restart (in the server's state page).
struct GicState {
  uint32_t ctlr;         // GICD_CTLR's EnableGrp0, EnableGrp1 bits
  uint32_t awake;        // bit n: redistributor n's ProcessorSleep is clear
  uint64_t unrouted;     // bit n: SPI 32 + n routed to no vCPU
  uint64_t enabled_spi;  // bit n: SPI 32 + n enabled by the guest
  uint32_t enabled_private[8];                // per vCPU, bit n: SGI or PPI n enabled by the guest
  uint64_t unrouted_to[abi::irq::kSpiCount];  // what GICD_IROUTER<32 + n> says while it names no vCPU
};

class GicDevice final : public MmioDevice {
 public:
  static constexpr uint64_t kDistSize = 0x1'0000;
  static constexpr uint64_t kRedistBase = 0xa'0000;  // virt: GICD 0x08000000, GICR 0x080a0000
  static constexpr uint64_t kRedistSize = 0x2'0000;
  static constexpr uint32_t kSpis = abi::irq::kSpiCount;
  static constexpr uint32_t kIntidLimit = abi::irq::kIntidLimit;
  static constexpr uint32_t kMaxVcpus = 8;
  static_assert(sizeof(GicState::enabled_private) / sizeof(uint32_t) == kMaxVcpus);

  // The window for a guest with `vcpus` vCPUs.
  static constexpr uint64_t window_for(uint32_t vcpus) { return kRedistBase + kRedistSize * vcpus; }

  void attach(IrqKernel* kernel, uint32_t vcpus, GicState* state) {
    kernel_ = kernel;
    vcpus_ = vcpus > kMaxVcpus ? kMaxVcpus : vcpus;
    state_ = state;
  }

  uint64_t window() const override { return window_for(vcpus_); }
  uint64_t read(uint64_t offset, unsigned width) override;
  void write(uint64_t offset, unsigned width, uint64_t value) override;
  // Every redistributor asleep, the distributor's groups off. The
  // interrupts' own reset is the kernel's (a guest's reset resets them).
  void reset() override;

 private:
  uint64_t read_dist(uint64_t offset, unsigned width);
  void write_dist(uint64_t offset, unsigned width, uint64_t value);
  uint64_t read_redist(uint32_t vcpu, uint64_t offset, unsigned width);
  void write_redist(uint32_t vcpu, uint64_t offset, unsigned width, uint64_t value);

  // The banks: registers of 1, 2 or 8 bits per INTID, starting at `first`
  // (0 for a redistributor's SGI_base registers, 32 for the distributor's
  // SPI part). `vcpu` names the bank for INTIDs below 32.
  uint32_t read_bits(uint32_t vcpu, uint32_t first, unsigned per, uint64_t (*field)(uint64_t word, uint64_t state));
  uint32_t read_enables(uint32_t vcpu, uint32_t first) const;
  void write_enable(uint32_t vcpu, uint32_t first, uint32_t bits, bool enable);
  void write_group(uint32_t vcpu, uint32_t first, uint32_t bits);
  // ISPENDR, ICPENDR, ISACTIVER, ICACTIVER: `op` for each INTID set in `bits`.
  void write_state(uint32_t vcpu, uint32_t first, uint32_t bits, abi::irq::Op op);
  uint64_t read_priorities(uint32_t vcpu, uint32_t first, unsigned width);
  void write_priorities(uint32_t vcpu, uint32_t first, unsigned width, uint64_t value);
  void write_config(uint32_t vcpu, uint32_t first, uint32_t value);
  uint64_t read_router(uint32_t spi);
  void write_router(uint32_t spi, uint64_t value);

  // Changes one INTID's configuration word through `change`; its enable
  // follows the rule above whatever `change` did with it.
  template <typename Change>
  void update(uint32_t vcpu, uint32_t intid, Change change);
  bool guest_enabled(uint32_t vcpu, uint32_t intid) const;
  // Whether the distributor forwards the interrupt with configuration `word`.
  bool forwarded(uint32_t vcpu, uint32_t intid, uint64_t word) const;
  // Every interrupt the guest enabled, after its group enables changed.
  void reapply_enables();

  IrqKernel* kernel_ = nullptr;
  uint32_t vcpus_ = 0;
  GicState* state_ = nullptr;
};

}  // namespace hyp::server
