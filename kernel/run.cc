#include "kernel/run.h"

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "kernel/arch/cpu.h"
#include "kernel/arch/vcpu.h"
#include "kernel/console.h"
#include "kernel/partition/loader.h"
#include "kernel/psci/firmware.h"
#include "kernel/trap/dispatch.h"

extern "C" {
[[noreturn]] void vcpu_enter(hyp::VcpuContext* ctx, uint64_t stack_top);
hyp::VcpuContext* vcpu_exit(hyp::VcpuContext* ctx, uint64_t kind);
}

namespace hyp {
namespace {

// The exception entry hands over the context; the vCPU is the object around it.
static_assert(offsetof(Vcpu, ctx) == 0);

constinit Partition* g_partitions = nullptr;
constinit size_t g_partition_count = 0;
constinit const Package* g_package = nullptr;
constinit std::atomic<size_t> g_running{0};
constinit std::array<std::atomic<Vcpu*>, kMaxCpus> g_assigned{};

[[noreturn]] void run(Vcpu& v, size_t cpu) {
  if (v.transition(VcpuState::kRunning) != Status::kOk) {
    console::print("hyp: %s: vCPU %u cannot run from state %s\n", v.partition->name.data(), v.index,
                   vcpu_state_name(v.state));
    arch::halt();
  }
  arch::vcpu_load(v.ctx);
  vcpu_enter(&v.ctx, arch::kernel_stack_top(cpu));
}

const PackagedPartition* image_of(const Partition& p) {
  for (size_t i = 0; i < g_partition_count; ++i) {
    if (&g_partitions[i] == &p) return &g_package->partitions[i];
  }
  return nullptr;
}

[[noreturn]] void stop_partition(Partition& p, const char* why) {
  for (size_t i = 0; i < p.vcpu_count; ++i) {
    (void)p.vcpus[i].transition(VcpuState::kStopped);
  }
  (void)p.transition(PartitionState::kStopped);
  console::print("hyp: partition %s (id %u) %s\n", p.name.data(), p.id, why);
  if (g_running.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    console::print("hyp: all partitions stopped: powering off\n");
    const psci::Ret ret = psci::system_off();
    console::print("hyp: SYSTEM_OFF failed: %s\n", psci::ret_name(ret));
  }
  arch::halt();
}

}  // namespace

void run_init(Partition* partitions, size_t count, const Package* package) {
  g_partitions = partitions;
  g_partition_count = count;
  g_package = package;
  g_running.store(count, std::memory_order_release);
}

void assign_vcpu(size_t cpu, Vcpu& vcpu) {
  // Pairs with the acquire load in wait_for_work().
  g_assigned[cpu].store(&vcpu, std::memory_order_release);
  arch::send_event();
}

[[noreturn]] void wait_for_work(size_t cpu) {
  for (;;) {
    if (Vcpu* v = g_assigned[cpu].load(std::memory_order_acquire); v != nullptr) run(*v, cpu);
    arch::wait_for_event();
  }
}

}  // namespace hyp

// Called by the exception entry with the vCPU's registers saved in `ctx`.
// Returns the context to resume.
extern "C" hyp::VcpuContext* vcpu_exit(hyp::VcpuContext* ctx, uint64_t kind) {
  using namespace hyp;
  Vcpu& v = *reinterpret_cast<Vcpu*>(ctx);
  Partition& p = *v.partition;
  constexpr uint64_t kSync = 0;
  constexpr uint64_t kSError = 3;
  TrapAction action = TrapAction::kResume;
  if (kind == kSync) {
    const arch::TrapSyndrome s = arch::read_trap_syndrome();
    action = handle_trap(v, {s.esr, s.far, s.hpfar});
  } else if (kind == kSError) {
    console::print("hyp: %s: vCPU %u: SError at pc 0x%lx (ESR 0x%lx)\n", p.name.data(), v.index, v.ctx.pc,
                   arch::read_trap_syndrome().esr);
    stop_partition(p, "stopped after an SError");
  }
  switch (action) {
    case TrapAction::kResume:
      return ctx;
    case TrapAction::kPartitionOff:
      stop_partition(p, "powered off");
    case TrapAction::kPartitionReset: {
      const PackagedPartition* image = image_of(p);
      if (image == nullptr || reload_partition(*image, p) != Status::kOk) stop_partition(p, "could not be reset");
      console::print("hyp: partition %s (id %u) reset\n", p.name.data(), p.id);
      Vcpu& boot = p.vcpus[0];
      (void)boot.transition(VcpuState::kRunning);
      arch::vcpu_load(boot.ctx);
      return &boot.ctx;
    }
  }
  return ctx;
}
