// Controls and records of the host fake of //kernel/arch, for tests.
//
// The fake is hostile on purpose: its descriptors use a different layout at
// level and in each regime (and non-zero "absent" encodings), its physical
// addresses are not host pointers, and every descriptor write and TLB
// invalidation is recorded so tests can check maintenance.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "base/addr.h"
#include "kernel/arch/cpu.h"
#include "kernel/arch/mm.h"
#include "kernel/arch/smccc.h"
#include "kernel/arch/vcpu.h"

namespace hyp::arch::fake {

// A block of fake physical memory. Pages are host memory; their physical
// addresses lie in a range no host pointer uses.
class PhysMemory {
 public:
  explicit PhysMemory(size_t pages);
  ~PhysMemory();
  PhysMemory(const PhysMemory&) = delete;
  PhysMemory& operator=(const PhysMemory&) = delete;

  Pa base() const { return base_; }
  size_t pages() const { return pages_; }

 private:
  Pa base_;
  size_t pages_;
  std::unique_ptr<uint64_t[]> storage_;
};

struct MmEvent {
  enum class Kind {
    kWritePte,
    kInvalidateEl2Tlbs,
    kInvalidateStage2Tlbs,
    kEnableTranslation,
    kZero,        // `address`, `size`: host addresses
    kCleanToPoc,  // `address`, `size`: host addresses
    kInvalidateIcache,
  };
  Kind kind;
  const mm::Pte* slot = nullptr;
  mm::Pte old_value = 0;
  mm::Pte new_value = 0;
  uint16_t vmid = 0;  // for kInvalidateStage2Tlbs
  uintptr_t address = 0;
  uint64_t size = 0;
};

// Everything the fake recorded since the last reset().
std::vector<MmEvent>& mm_events();

// MMIO: registered handlers model devices; unhandled accesses fail the test.
using MmioRead = std::function<uint32_t(Pa)>;
using MmioWrite = std::function<void(Pa, uint32_t)>;
void set_mmio(MmioRead read, MmioWrite write);

// SMC: a handler models the firmware.
void set_smc_handler(std::function<SmcResult(const SmcArgs&)> handler);

void set_mpidr(uint64_t mpidr);

// The loaded vCPU's virtual timer (CNTV_CTL_EL0, CNTV_CVAL_EL0), as
// read_virtual_timer() and vcpu_save() see it.
void set_virtual_timer(uint64_t ctl, uint64_t cval);

// The counter advances by `step` ticks on every read (and cpu_relax()).
void set_counter(uint64_t frequency, uint64_t step);
void advance_counter(uint64_t ticks);

// The loaded vCPU's EL1 exception registers, as the fake holds them.
El1ExceptionRegs& el1_regs();

// The context most recently loaded with vcpu_load(), and how many loads.
const VcpuContext& loaded_vcpu();
int vcpu_loads();

// RNDR: each random64() takes the next value; an empty optional is a
// failed read (no entropy this time). Without a source, every read fails.
void set_random(std::function<std::optional<uint64_t>()> source);

// Host ID register values (by sysreg_key); unset ones read as zero.
void set_id_register(uint32_t key, uint64_t value);

// WFE/SEV: wait_for_event() blocks the calling thread until send_event()
// (from any thread) unless an event arrived since its last wait, as the
// event register does. A wait that sees no event within the limit gives up
// and is counted as slept through: the wake-up it waited for was never sent.
uint64_t events_sent();
// wake_cpu() calls to the CPU with affinity `mpidr` (each also sends the event).
uint64_t wakes_sent_to(uint64_t mpidr);
// The calling thread's CPU timer: what timer_arm_at() last set (0: disarmed).
uint64_t timer_deadline();
uint64_t waits_slept_through();
void set_wait_limit(std::chrono::milliseconds limit);

// The calling thread's (CPU's) list registers as the hardware holds them,
// for a test to act as the guest's CPU interface; ICH_HCR_EL2 as last
// written; how many list registers there are (4 unless set).
ListRegisters& hardware_lrs();
uint64_t ich_hcr();
void set_list_registers(uint32_t count);
// What the calling thread's next acknowledge_interrupts() takes.
void take_interrupts(const Interrupts& irqs);
// The calling thread's CPU takes SPI `intid` (for take_device_interrupt()).
void take_device_interrupt(uint32_t intid);
// deactivate_interrupt() calls for `intid` on the calling thread.
int deactivations(uint32_t intid);

// Clears recordings and handlers.
void reset();

}  // namespace hyp::arch::fake
