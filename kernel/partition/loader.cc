#include "kernel/partition/loader.h"

#include <array>
#include <cstring>

#include "kernel/arch/mm.h"
#include "kernel/arch/cpu.h"
#include "kernel/arch/vcpu.h"
#include "ipc/channel.h"

namespace hyp {
namespace {

namespace mm = arch::mm;

constexpr uint64_t k2M = 2ull << 20;

// A guest's virtual counter starts from zero when it is built or reset, as
// a machine's does at power-on, and reads the same on all its vCPUs: one
// CNTVOFF_EL2 per guest, the physical count at that moment. Servers keep
// the physical count (their runs are timed on it).
uint64_t virtual_counter_offset(const Partition& p) {
  return p.kind == PartitionKind::kGuest ? arch::counter_ticks() : 0;
}

// `cntvoff`: the partition's virtual counter offset (CNTVOFF_EL2), one for
// all its vCPUs.
void reset_vcpu(Partition& p, Vcpu& v, const PackagedPartition& image, uint64_t cntvoff) {
  v.ctx = VcpuContext{};
  v.faults_logged = 0;
  v.ctx.pstate = kPstateEl1h | kPstateDaif;
  v.ctx.el1.sctlr_el1 = kSctlrEl1Reset;
  El2Controls& c = v.ctx.el2;
  c.hcr_el2 = p.kind == PartitionKind::kServer ? kServerHcr : kPartitionHcr;
  c.vttbr_el2 = (uint64_t{p.vmid} << 48) | p.stage2.root().value();
  // MPIDR as the guest's device tree numbers its CPUs: Aff0 = index; bit 31
  // is RES1.
  c.vmpidr_el2 = (uint64_t{1} << 31) | v.index;
  c.vpidr_el2 = arch::host_midr();
  c.cntvoff_el2 = cntvoff;
  c.mdcr_el2 = kPartitionMdcrTraps | arch::host_pmu_counters();
  c.cptr_el2 = p.kind == PartitionKind::kServer ? kServerCptr : kPartitionCptr;
  c.ich_hcr_el2 = p.kind == PartitionKind::kServer ? kServerIchHcr : kPartitionIchHcr;
  // Every vCPU starts off; whoever starts the partition turns vCPU 0 on
  // (start_vcpu0) and hands it to the scheduler.
  v.state = VcpuState::kOff;
  v.power.store(VcpuPower::kOff, std::memory_order_relaxed);
  v.waiting = VcpuWait::kNothing;
  v.waits_on = nullptr;
  v.wake_at = 0;
  v.kicked.store(false, std::memory_order_relaxed);
  v.deferred = Vcpu::Deferred::kNothing;
  v.started = nullptr;
  v.irqs_changed.store(false, std::memory_order_relaxed);
  v.sent_to = 0;
  if (v.index == 0) {
    v.ctx.pc = image.entry.value();
    v.ctx.x[0] = image.dtb.value();
  }
}

// Puts the partition's RAM in the state it starts from: its images at their
// IPAs and zero everywhere else (nothing left by firmware, another
// partition, or an earlier instance of this one), all of it written back to
// the point of coherency, because the partition starts with its MMU and
// caches off and reads memory uncached; and no stale instructions in any
// instruction cache. Only the gaps between images are zeroed, so each byte
// is written once. With kKeep the gaps keep their contents (and are still
// cleaned: the partition's own cacheable writes may be in the caches).
Status prepare_memory(const PackagedPartition& image, const Partition& p, RamOnReload gaps) {
  const bool clear = gaps == RamOnReload::kClear;
  const MemoryRegion& ram = p.memory[0];
  auto* base = static_cast<uint8_t*>(mm::phys_to_virt(ram.pa));
  if (base == nullptr) return Status::kInvalidArgument;
  // parse_package() checked that loads lie in RAM and do not overlap.
  std::array<const PackageLoad*, package::kMaxLoads> order{};
  for (size_t i = 0; i < image.load_count; ++i) {
    size_t j = i;
    for (; j > 0 && order[j - 1]->ipa.value() > image.loads[i].ipa.value(); --j) order[j] = order[j - 1];
    order[j] = &image.loads[i];
  }
  uint64_t cursor = 0;  // offset into RAM up to which the contents are decided
  for (size_t i = 0; i < image.load_count; ++i) {
    const PackageLoad& l = *order[i];
    const uint64_t at = l.ipa - ram.ipa;
    if (clear && at > cursor) mm::zero(base + cursor, at - cursor);
    std::memcpy(base + at, l.data, l.size);
    if (at + l.size > cursor) cursor = at + l.size;
  }
  if (clear && ram.size > cursor) mm::zero(base + cursor, ram.size - cursor);
  mm::clean_to_poc(base, ram.size);
  mm::invalidate_icache();
  return Status::kOk;
}

}  // namespace

Status create_partition(const PackagedPartition& image, uint16_t vmid, Partition& p, LoaderEnv& env,
                        const char*& why) {
  if (Status s = p.transition(PartitionState::kLoading); s != Status::kOk) {
    why = "partition slot in use";
    return s;
  }
  auto fail = [&](Status s, const char* what) {
    why = what;
    p.stage2.destroy();
    p.state = PartitionState::kEmpty;
    return s;
  };
  p.id = image.ffa_id != 0 ? image.ffa_id : vmid;
  p.vmid = vmid;  // one VMID per partition, never reused while it exists
  p.kind = image.kind == PackagedKind::kServer ? PartitionKind::kServer : PartitionKind::kGuest;
  p.control = image.control;
  p.control_targets = image.control_targets;
  p.name = image.name;
  p.ffa.messaging = image.ffa_messaging;
  for (size_t i = 0; i < 4; ++i) p.ffa.uuid.words[i] = image.ffa_uuid[i];
  p.ffa.targets = image.ffa_targets;
  p.ffa.target_count = image.ffa_target_count;
  if (image.vcpus == 0 || image.vcpus > kMaxVcpus) return fail(Status::kOutOfRange, "vcpu count");

  auto pa = env.memory.alloc(image.ram_size, k2M);
  if (!pa.ok()) return fail(pa.status(), "not enough physical memory");
  const mm::Attrs kernel_view{.type = mm::MemType::kNormal, .read = true, .write = true, .exec = false};
  if (Status s = env.el2.map(pa->value(), *pa, image.ram_size, kernel_view); s != Status::kOk) {
    return fail(s, "mapping partition memory for the kernel");
  }
  auto stage2 = PageTable::create(env.tables, mm::Regime::kStage2, p.vmid);
  if (!stage2.ok()) return fail(stage2.status(), "Stage-2 root table");
  p.stage2 = *stage2;
  if (Status s = p.stage2.map(image.ram_ipa.value(), *pa, image.ram_size, kPartitionRam); s != Status::kOk) {
    return fail(s, "Stage-2 mapping of partition memory");
  }
  // Nothing may linger in the TLBs under this VMID from before.
  mm::invalidate_stage2_tlbs(p.vmid);
  p.memory[0] = {image.ram_ipa, *pa, image.ram_size};
  p.memory_count = 1;
  if (Status s = prepare_memory(image, p, RamOnReload::kClear); s != Status::kOk) return fail(s, "copying images");
  p.vcpu_count = image.vcpus;
  const uint64_t cntvoff = virtual_counter_offset(p);
  for (size_t i = 0; i < p.vcpu_count; ++i) {
    p.vcpus[i].partition = &p;
    p.vcpus[i].index = static_cast<uint16_t>(i);
    reset_vcpu(p, p.vcpus[i], image, cntvoff);
  }
  p.vgic.init(static_cast<uint32_t>(p.vcpu_count), arch::list_registers());
  p.console.reset();
  return p.transition(PartitionState::kRunning);
}

Status reload_partition(const PackagedPartition& image, Partition& p, RamOnReload ram) {
  if (p.state == PartitionState::kRunning) {
    if (Status s = p.transition(PartitionState::kStopped); s != Status::kOk) return s;
  }
  if (Status s = p.transition(PartitionState::kLoading); s != Status::kOk) return s;
  p.reset_ffa();
  if (Status s = prepare_memory(image, p, ram); s != Status::kOk) return s;
  const uint64_t cntvoff = virtual_counter_offset(p);
  for (size_t i = 0; i < p.vcpu_count; ++i) reset_vcpu(p, p.vcpus[i], image, cntvoff);
  // A guest's interrupts back to their reset state, as the GIC of a machine
  // reset (servers have none).
  if (p.kind == PartitionKind::kGuest) p.vgic.init(static_cast<uint32_t>(p.vcpu_count), arch::list_registers());
  p.console.reset();
  return p.transition(PartitionState::kRunning);
}

namespace {

// Zeroed pages the kernel keeps for server `p` and maps at `ipa` in its
// Stage 2, read-write, never executable, and never its own to share (FF-A
// calls refuse pages that are not owned); where the kernel sees them in `view`.
Result<Pa> attach_kernel_pages(Partition& p, LoaderEnv& env, uint64_t ipa, uint64_t size, void*& view) {
  auto pa = env.memory.alloc(size, kPageSize);
  if (!pa.ok()) return pa.status();
  const mm::Attrs kernel_view{.type = mm::MemType::kNormal, .read = true, .write = true, .exec = false};
  if (Status s = env.el2.map(pa->value(), *pa, size, kernel_view); s != Status::kOk) return s;
  view = mm::phys_to_virt(*pa);
  if (view == nullptr) return Status::kInvalidArgument;
  std::memset(view, 0, size);
  const mm::Attrs shared{
      .type = mm::MemType::kNormal, .read = true, .write = true, .exec = false, .state = mm::PageState::kSharedBorrowed};
  if (Status s = p.stage2.map(ipa, *pa, size, shared); s != Status::kOk) return s;
  return *pa;
}

}  // namespace

Status attach_channel(Partition& p, LoaderEnv& env, Channel& channel) {
  void* pages = nullptr;
  auto pa = attach_kernel_pages(p, env, ipc::kChannelIpa, ipc::kChannelPages * kPageSize, pages);
  if (!pa.ok()) return pa.status();
  channel.attach(channel_pages(pages));
  p.channel = &channel;
  return Status::kOk;
}

Result<Pa> attach_dma_pool(Partition& p, LoaderEnv& env, uint64_t size) {
  if (size == 0 || size % kPageSize != 0 || size > ipc::kMaxDmaPool) return Status::kInvalidArgument;
  void* view = nullptr;
  return attach_kernel_pages(p, env, ipc::kDmaPoolIpa, size, view);
}

Status grant_device_memory(Partition& p, Pa base, uint64_t size) {
  const mm::Attrs device{.type = mm::MemType::kDevice, .read = true, .write = true, .exec = false};
  return p.stage2.map(base.value(), base, size, device);
}

}  // namespace hyp
