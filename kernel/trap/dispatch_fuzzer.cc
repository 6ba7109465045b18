// Fuzzes the trap dispatcher with everything a partition controls at a
// trap: the syndrome it provokes, FAR/HPFAR, its general registers, PC and
// PSTATE. Any crash, sanitizer report, or unexpected request to the
// architecture (the fake aborts on those) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernel/arch/fake/fake.h"
#include "kernel/console.h"
#include "kernel/trap/dispatch.h"

namespace {

struct Setup {
  Setup() {
    hyp::arch::fake::set_mmio([](hyp::Pa) -> uint32_t { return 0; }, [](hyp::Pa, uint32_t) {});
    hyp::console::init(hyp::Pa(0x900'0000));
    pool.add(tables.base(), tables.pages());
    partition.stage2 = *hyp::PageTable::create(pool, hyp::arch::mm::Regime::kStage2, 1);
    std::strcpy(partition.name.data(), "fuzz");
    (void)partition.stage2.map(0x4000'0000, ram.base(), ram.pages() * hyp::kPageSize,
                               hyp::arch::mm::Attrs{.read = true, .write = true, .exec = true});
  }
  hyp::arch::fake::PhysMemory tables{8};
  hyp::arch::fake::PhysMemory ram{4};
  hyp::PagePool pool;
  hyp::Partition partition;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Setup setup;
  struct Input {
    uint64_t esr, far, hpfar, pc, pstate, vbar;
    uint64_t x[8];
  } in{};
  std::memcpy(&in, data, size < sizeof(in) ? size : sizeof(in));
  hyp::Vcpu vcpu;
  vcpu.partition = &setup.partition;
  for (int i = 0; i < 8; ++i) vcpu.ctx.x[i] = in.x[i];
  vcpu.ctx.pc = in.pc;
  vcpu.ctx.pstate = in.pstate;
  hyp::arch::fake::el1_regs().vbar_el1 = in.vbar;
  (void)hyp::handle_trap(vcpu, {in.esr, in.far, in.hpfar});
  return 0;
}
