#include "kernel/arch/fake/fake.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <mutex>

#include "kernel/arch/cpu.h"
#include "kernel/arch/mm.h"
#include "kernel/arch/mmio.h"
#include "kernel/arch/smccc.h"

namespace hyp::arch {
namespace fake {
namespace {

struct State {
  std::vector<MmEvent> events;
  MmioRead mmio_read;
  MmioWrite mmio_write;
  std::function<SmcResult(const SmcArgs&)> smc;
  uint64_t mpidr = 0;
  uint64_t counter = 0;
  uint64_t counter_frequency = 62'500'000;
  uint64_t counter_step = 1;
  // Fake physical memory blocks by base address.
  std::map<uint64_t, std::pair<uint64_t*, size_t>> memory;
  // 64 GiB: inside every regime's input range, and in a part of the host's
  // address space that is never mapped (ASan's shadow gap), so a physical
  // address used as a pointer faults.
  uint64_t next_base = 0x10'0000'0000;
  El1ExceptionRegs el1{};
  std::map<uint32_t, uint64_t> id_registers;
  VcpuContext loaded{};
  int loads = 0;
  std::function<std::optional<uint64_t>()> random;
  uint32_t lr_count = 4;
};

State& state() {
  static State s;
  return s;
}

// Tables change on several CPUs at once (each under its own locks): the log
// of what the fake saw takes one entry at a time.
void record(const MmEvent& e) {
  static std::mutex m;
  std::lock_guard<std::mutex> guard(m);
  state().events.push_back(e);
}

// Per host thread, as per physical CPU: its list registers and
// ICH_HCR_EL2, the interrupts its next acknowledge_interrupts() takes, its
// deactivations.
thread_local ListRegisters t_lrs{};
thread_local uint64_t t_ich_hcr = 0;
thread_local Interrupts t_interrupts{};
thread_local std::map<uint32_t, int> t_deactivated;

std::mutex& device_lock() {
  static std::mutex m;
  return m;
}
std::set<uint32_t>& device_interrupts() {
  static std::set<uint32_t> s;
  return s;
}

// The event register of WFE/SEV (Arm ARM D1.6.1), one per host thread, kept
// apart from State so that several threads may use it: SEV sets every
// thread's register; WFE returns at once, clearing it, if it is set, and
// otherwise blocks until the next SEV. A WFE that would sleep forever (no
// SEV within the limit) returns and is counted: tests assert none did.
struct Events {
  std::mutex lock;
  std::condition_variable sent;
  uint64_t generation = 0;  // SEVs so far
  uint64_t sends = 0;
  uint64_t broadcasts = 0;  // send_event() only
  uint64_t slept_through = 0;
  std::map<uint64_t, uint64_t> wakes;  // wake_cpu() calls by target MPIDR
  std::chrono::milliseconds limit{2000};
};

Events& events() {
  static Events e;
  return e;
}

thread_local uint64_t t_seen_generation = 0;
thread_local uint64_t t_timer_deadline = 0;

[[noreturn]] void fail(const char* what, uint64_t value) {
  std::fprintf(stderr, "arch fake: %s (0x%llx)\n", what, static_cast<unsigned long long>(value));
  std::abort();
}

}  // namespace

PhysMemory::PhysMemory(size_t pages)
    : base_(state().next_base), pages_(pages), storage_(new uint64_t[pages * kPageSize / 8]()) {
  state().next_base += (pages + 16) * kPageSize;  // leave a hole between blocks
  state().memory[base_.value()] = {storage_.get(), pages};
}

PhysMemory::~PhysMemory() { state().memory.erase(base_.value()); }

std::vector<MmEvent>& mm_events() { return state().events; }

void set_mmio(MmioRead read, MmioWrite write) {
  state().mmio_read = std::move(read);
  state().mmio_write = std::move(write);
}

void set_smc_handler(std::function<SmcResult(const SmcArgs&)> handler) { state().smc = std::move(handler); }

void set_mpidr(uint64_t mpidr) { state().mpidr = mpidr; }

void set_virtual_timer(uint64_t ctl, uint64_t cval) {
  state().loaded.el1.cntv_ctl_el0 = ctl;
  state().loaded.el1.cntv_cval_el0 = cval;
}

void advance_counter(uint64_t ticks) { state().counter += ticks; }

void set_counter(uint64_t frequency, uint64_t step) {
  state().counter_frequency = frequency;
  state().counter_step = step;
}

El1ExceptionRegs& el1_regs() { return state().el1; }

const VcpuContext& loaded_vcpu() { return state().loaded; }

int vcpu_loads() { return state().loads; }

void set_id_register(uint32_t key, uint64_t value) { state().id_registers[key] = value; }

void set_random(std::function<std::optional<uint64_t>()> source) { state().random = std::move(source); }

uint64_t events_sent() {
  std::lock_guard<std::mutex> guard(events().lock);
  return events().sends;
}

uint64_t timer_deadline() { return t_timer_deadline; }

uint64_t wakes_sent_to(uint64_t mpidr) {
  Events& e = events();
  std::lock_guard<std::mutex> guard(e.lock);
  return e.wakes[mpidr];
}

uint64_t waits_slept_through() {
  std::lock_guard<std::mutex> guard(events().lock);
  return events().slept_through;
}

void set_wait_limit(std::chrono::milliseconds limit) {
  std::lock_guard<std::mutex> guard(events().lock);
  events().limit = limit;
}

void reset() {
  {
    std::lock_guard<std::mutex> guard(events().lock);
    events().sends = 0;
    events().broadcasts = 0;
    events().slept_through = 0;
    events().wakes.clear();
    events().limit = std::chrono::milliseconds(2000);
  }
  state().el1 = {};
  t_lrs = {};
  t_ich_hcr = 0;
  t_interrupts = {};
  t_deactivated.clear();
  {
    std::lock_guard<std::mutex> guard(device_lock());
    device_interrupts().clear();
  }
  state().lr_count = 4;
  state().id_registers.clear();
  state().loads = 0;
  state().events.clear();
  state().mmio_read = nullptr;
  state().mmio_write = nullptr;
  state().smc = nullptr;
  state().random = nullptr;
  state().mpidr = 0;
  state().counter = 0;
  state().counter_frequency = 62'500'000;
  state().counter_step = 1;
}

ListRegisters& hardware_lrs() { return t_lrs; }
uint64_t ich_hcr() { return t_ich_hcr; }
void take_interrupts(const Interrupts& irqs) { t_interrupts = irqs; }
int deactivations(uint32_t intid) {
  auto it = t_deactivated.find(intid);
  return it == t_deactivated.end() ? 0 : it->second;
}
void set_list_registers(uint32_t count) { state().lr_count = count; }
void take_device_interrupt(uint32_t intid) {
  {
    std::lock_guard<std::mutex> guard(device_lock());
    device_interrupts().insert(intid);
  }
  t_interrupts.device = true;
}

}  // namespace fake

namespace mm {
namespace {

// Per-regime, per-level layout of the fake descriptors. Every field sits
// somewhere else than in the real format, and differs between levels.
struct Layout {
  int present_bit;
  int table_bit;   // -1: no tables at this level
  int leaf_bit;    // a leaf must carry this bit too
  int addr_shift;  // where (pa >> 12) is stored, 36 bits wide
  int type_bit;    // set: device
  int read_bit;
  int write_bit;
  int exec_bit;
  int state_shift;  // 3 bits of PageState
  Pte absent;       // encoding of an empty entry (present bit clear)
};

constexpr Layout kEl2Layouts[4] = {
    {},  // EL2 walks start at level 1
    {63, 62, 58, 0, 61, 57, 60, 59, 52, 0},
    {0, 1, 5, 28, 2, 6, 3, 4, 8, Pte{0xdead} << 48},
    {5, -1, 6, 8, 0, 3, 1, 2, 44, 0},
};

constexpr Layout kStage2Layouts[4] = {
    {40, 41, 42, 0, 43, 44, 45, 46, 47, Pte{1} << 62},
    {62, 61, 60, 4, 59, 58, 57, 56, 40, 0},
    {1, 0, 2, 20, 3, 4, 5, 6, 8, 0},
    {63, -1, 62, 0, 61, 60, 59, 58, 40, 0x5a5a},
};

const Layout& layout(Regime regime, int level) {
  if (level < geometry(regime).root_level || level > kLeafLevel) {
    fake::fail("descriptor at bad level", static_cast<uint64_t>(level));
  }
  return regime == Regime::kEl2 ? kEl2Layouts[level] : kStage2Layouts[level];
}

constexpr Pte bit(int n) { return Pte{1} << n; }

Pte encode_address(Pa pa, const Layout& l) {
  if (!pa.is_aligned(kPageSize)) fake::fail("unaligned address in descriptor", pa.value());
  if ((pa.value() >> kPageShift) >> 36 != 0) fake::fail("address too wide for a descriptor", pa.value());
  return (pa.value() >> kPageShift) << l.addr_shift;
}

}  // namespace

bool block_allowed(Regime /*regime*/, int level) { return level >= 2 && level <= kLeafLevel; }

Pte absent_pte(Regime regime, int level) { return layout(regime, level).absent; }

Pte table_pte(Regime regime, Pa next_table, int level) {
  const Layout& l = layout(regime, level);
  if (l.table_bit < 0) fake::fail("table descriptor at leaf level", next_table.value());
  return encode_address(next_table, l) | bit(l.present_bit) | bit(l.table_bit);
}

Pte leaf_pte(Regime regime, Pa pa, Attrs attrs, int level) {
  if (!block_allowed(regime, level)) fake::fail("leaf descriptor at a level without blocks", pa.value());
  if (regime == Regime::kEl2 && (attrs.state != PageState::kOwned || !attrs.read)) {
    fake::fail("EL2 mapping with a page state or without read access", pa.value());
  }
  const Layout& l = layout(regime, level);
  if (!pa.is_aligned(level_size(level))) fake::fail("leaf address not aligned to its level", pa.value());
  Pte pte = encode_address(pa, l) | bit(l.present_bit) | bit(l.leaf_bit);
  if (attrs.type == MemType::kDevice) pte |= bit(l.type_bit);
  if (attrs.read) pte |= bit(l.read_bit);
  if (attrs.write) pte |= bit(l.write_bit);
  if (attrs.exec) pte |= bit(l.exec_bit);
  pte |= static_cast<Pte>(attrs.state) << l.state_shift;
  return pte;
}

bool pte_present(Regime regime, Pte pte, int level) { return (pte & bit(layout(regime, level).present_bit)) != 0; }

bool pte_is_table(Regime regime, Pte pte, int level) {
  const Layout& l = layout(regime, level);
  return l.table_bit >= 0 && pte_present(regime, pte, level) && (pte & bit(l.table_bit)) != 0;
}

Pa pte_address(Regime regime, Pte pte, int level) {
  const Layout& l = layout(regime, level);
  if (!pte_present(regime, pte, level)) fake::fail("address read from an absent descriptor", pte);
  return Pa(((pte >> l.addr_shift) & ((Pte{1} << 36) - 1)) << kPageShift);
}

Attrs pte_attrs(Regime regime, Pte pte, int level) {
  const Layout& l = layout(regime, level);
  if (!pte_present(regime, pte, level) || pte_is_table(regime, pte, level) || (pte & bit(l.leaf_bit)) == 0) {
    fake::fail("attributes read from a non-leaf", pte);
  }
  return Attrs{
      .type = (pte & bit(l.type_bit)) != 0 ? MemType::kDevice : MemType::kNormal,
      .read = (pte & bit(l.read_bit)) != 0,
      .write = (pte & bit(l.write_bit)) != 0,
      .exec = (pte & bit(l.exec_bit)) != 0,
      .state = static_cast<PageState>((pte >> l.state_shift) & 7),
  };
}

Pte* table_from_pa(Pa table) {
  if (!table.is_aligned(kPageSize)) fake::fail("table address not page aligned", table.value());
  auto& memory = fake::state().memory;
  auto it = memory.upper_bound(table.value());
  if (it != memory.begin()) {
    --it;
    const uint64_t offset = table.value() - it->first;
    if (offset < it->second.second * kPageSize) return it->second.first + offset / sizeof(Pte);
  }
  fake::fail("table address outside fake physical memory", table.value());
}

void* phys_to_virt(Pa pa) {
  auto& memory = fake::state().memory;
  auto it = memory.upper_bound(pa.value());
  if (it == memory.begin()) return nullptr;
  --it;
  const uint64_t offset = pa.value() - it->first;
  if (offset >= it->second.second * kPageSize) return nullptr;
  return reinterpret_cast<char*>(it->second.first) + offset;
}

void write_pte(Pte* slot, Pte value) {
  fake::record({fake::MmEvent::Kind::kWritePte, slot, *slot, value, 0});
  *slot = value;
}

void enable_translation(Pa root) {
  fake::record({fake::MmEvent::Kind::kEnableTranslation, nullptr, 0, root.value(), 0});
}

void zero(void* va, uint64_t size) {
  fake::record(
      {fake::MmEvent::Kind::kZero, nullptr, 0, 0, 0, reinterpret_cast<uintptr_t>(va), size});
  std::memset(va, 0, size);
}

void clean_to_poc(const void* va, uint64_t size) {
  fake::record(
      {fake::MmEvent::Kind::kCleanToPoc, nullptr, 0, 0, 0, reinterpret_cast<uintptr_t>(va), size});
}

void invalidate_icache() { fake::record({fake::MmEvent::Kind::kInvalidateIcache}); }

void invalidate_el2_tlbs() { fake::record({fake::MmEvent::Kind::kInvalidateEl2Tlbs}); }

void invalidate_stage2_tlbs(uint16_t vmid) {
  fake::record({fake::MmEvent::Kind::kInvalidateStage2Tlbs, nullptr, 0, 0, vmid});
}

}  // namespace mm

uint64_t current_mpidr() { return fake::state().mpidr; }

[[noreturn]] void halt() { fake::fail("halt() called", 0); }

uint64_t counter_ticks() { return fake::state().counter += fake::state().counter_step; }

uint64_t counter_frequency() { return fake::state().counter_frequency; }

void cpu_relax() { fake::state().counter += fake::state().counter_step; }

void wait_for_event() {
  fake::Events& e = fake::events();
  std::unique_lock<std::mutex> guard(e.lock);
  if (fake::t_seen_generation != e.generation) {
    fake::t_seen_generation = e.generation;
    return;
  }
  const uint64_t at = e.generation;
  if (!e.sent.wait_for(guard, e.limit, [&] { return e.generation != at; })) {
    ++e.slept_through;
    return;
  }
  fake::t_seen_generation = e.generation;
}

void irq_cpu_interface_init() {}

Interrupts acknowledge_interrupts() {
  Interrupts seen = fake::t_interrupts;
  fake::t_interrupts = {};
  // The CPU's timer has fired if its deadline has passed, and is disarmed
  // as the hardware's handling does.
  if (fake::t_timer_deadline != 0 && fake::state().counter >= fake::t_timer_deadline) {
    seen.timer = true;
    fake::t_timer_deadline = 0;
  }
  return seen;
}

void deactivate_interrupt(uint32_t intid) { ++fake::t_deactivated[intid]; }

bool take_device_interrupt(uint32_t& intid) {
  std::lock_guard<std::mutex> guard(fake::device_lock());
  auto& pending = fake::device_interrupts();
  if (pending.empty()) return false;
  intid = *pending.begin();
  pending.erase(pending.begin());
  return true;
}

void timer_arm_at(uint64_t deadline) { fake::t_timer_deadline = deadline; }

uint64_t counter_ticks_fast() { return counter_ticks(); }

uint64_t events_sent_count() {
  fake::Events& e = fake::events();
  std::lock_guard<std::mutex> guard(e.lock);
  return e.broadcasts;
}

namespace {

// Every thread's event register is set (a wake-up SGI, as SEV, ends any
// CPU's WFI in the fake: threads are not addressed one by one).
void notify(bool broadcast, uint64_t mpidr) {
  fake::Events& e = fake::events();
  {
    std::lock_guard<std::mutex> guard(e.lock);
    ++e.generation;
    ++e.sends;
    if (broadcast) {
      ++e.broadcasts;
    } else {
      ++e.wakes[mpidr];
    }
  }
  e.sent.notify_all();
}

}  // namespace

void send_event() { notify(true, 0); }

void wake_cpu(uint64_t mpidr) { notify(false, mpidr); }

bool random64(uint64_t& out) {
  if (!fake::state().random) return false;
  const std::optional<uint64_t> v = fake::state().random();
  if (!v) return false;
  out = *v;
  return true;
}

uint64_t kernel_stack_top(size_t cpu) { return 0x7000'0000 + (cpu + 1) * 0x4000; }

void enter_vcpu(VcpuContext& /*ctx*/, size_t cpu) { fake::fail("enter_vcpu() called: host tests use on_exit()", cpu); }

uint32_t mmio_read32(Pa reg) {
  if (!fake::state().mmio_read) fake::fail("unexpected MMIO read", reg.value());
  return fake::state().mmio_read(reg);
}

void mmio_write32(Pa reg, uint32_t value) {
  if (!fake::state().mmio_write) fake::fail("unexpected MMIO write", reg.value());
  fake::state().mmio_write(reg, value);
}

El1ExceptionRegs read_el1_exception_regs() { return fake::state().el1; }

void write_el1_exception_regs(const El1ExceptionRegs& regs) { fake::state().el1 = regs; }

uint64_t read_id_register(uint32_t key) {
  auto it = fake::state().id_registers.find(key);
  return it == fake::state().id_registers.end() ? 0 : it->second;
}

void vcpu_load(const VcpuContext& ctx, Scope scope) {
  const FpState kept = fake::state().loaded.fp;
  fake::state().loaded = ctx;
  if (scope == Scope::kServer) fake::state().loaded.fp = kept;
  ++fake::state().loads;
  fake::state().el1.vbar_el1 = ctx.el1.vbar_el1;
  if (scope == Scope::kAll) fake::t_lrs = ctx.lrs;
  fake::t_ich_hcr = ctx.el2.ich_hcr_el2 | ctx.lrs.hcr;
}

void vcpu_save(VcpuContext& ctx, Scope scope) {
  ctx.el1 = fake::state().loaded.el1;
  if (scope == Scope::kServer) return;
  ctx.fp = fake::state().loaded.fp;
  for (uint32_t i = 0; i < fake::state().lr_count; ++i) ctx.lrs.lr[i] = fake::t_lrs.lr[i];
  fake::t_ich_hcr = 0;
  fake::state().loaded.el1.cntv_ctl_el0 = 0;
}

void vcpu_switch(VcpuContext& from, const VcpuContext& to) {
  vcpu_save(from, Scope::kServer);
  vcpu_load(to, Scope::kServer);
}

uint32_t list_registers() { return fake::state().lr_count; }

void save_list_registers(VcpuContext& ctx) {
  for (uint32_t i = 0; i < fake::state().lr_count; ++i) ctx.lrs.lr[i] = fake::t_lrs.lr[i];
}

void load_list_registers(const VcpuContext& ctx) {
  for (uint32_t i = 0; i < fake::state().lr_count; ++i) fake::t_lrs.lr[i] = ctx.lrs.lr[i];
  fake::t_lrs.hcr = ctx.lrs.hcr;
  fake::t_ich_hcr = ctx.el2.ich_hcr_el2 | ctx.lrs.hcr;
}

void mask_virtual_timer() { fake::state().loaded.el1.cntv_ctl_el0 |= 2; }

void write_hcr(uint64_t hcr) { fake::state().loaded.el2.hcr_el2 = hcr; }

void el2_controls_init() {}

VirtualTimer read_virtual_timer() {
  return {fake::state().loaded.el1.cntv_ctl_el0, fake::state().loaded.el1.cntv_cval_el0};
}

uint64_t host_midr() { return 0x410f'd070; }

uint64_t host_pmu_counters() { return 6; }

TrapSyndrome read_trap_syndrome() { return {}; }

SmcResult smc_call(const SmcArgs& args) {
  if (!fake::state().smc) fake::fail("unexpected SMC", args.x[0]);
  return fake::state().smc(args);
}

}  // namespace hyp::arch
