#include "kernel/partition/partition.h"

namespace hyp {

bool vcpu_transition_allowed(VcpuState from, VcpuState to) {
  using S = VcpuState;
  switch (from) {
    case S::kOff: return to == S::kRunnable || to == S::kStopped;
    case S::kRunnable: return to == S::kRunning || to == S::kStopped;
    case S::kRunning: return to == S::kRunnable || to == S::kBlocked || to == S::kOff || to == S::kStopped;
    case S::kBlocked: return to == S::kRunnable || to == S::kStopped;
    case S::kStopped: return to == S::kOff;  // the partition is being restarted
  }
  return false;
}

const char* vcpu_state_name(VcpuState s) {
  switch (s) {
    case VcpuState::kOff: return "off";
    case VcpuState::kRunnable: return "runnable";
    case VcpuState::kRunning: return "running";
    case VcpuState::kBlocked: return "blocked";
    case VcpuState::kStopped: return "stopped";
  }
  return "?";
}

bool partition_transition_allowed(PartitionState from, PartitionState to) {
  using S = PartitionState;
  switch (from) {
    case S::kEmpty: return to == S::kLoading;
    case S::kLoading: return to == S::kRunning || to == S::kEmpty;
    case S::kRunning: return to == S::kStopped;
    case S::kStopped: return to == S::kLoading || to == S::kEmpty;
  }
  return false;
}

const char* partition_state_name(PartitionState s) {
  switch (s) {
    case PartitionState::kEmpty: return "empty";
    case PartitionState::kLoading: return "loading";
    case PartitionState::kRunning: return "running";
    case PartitionState::kStopped: return "stopped";
  }
  return "?";
}

Status Vcpu::transition(VcpuState to) {
  if (!vcpu_transition_allowed(state, to)) return Status::kDenied;
  state = to;
  return Status::kOk;
}

Status Partition::transition(PartitionState to) {
  if (!partition_transition_allowed(state, to)) return Status::kDenied;
  state = to;
  return Status::kOk;
}

void Partition::reset_ffa() {
  SpinLockGuard guard(ffa.lock);
  FfaMailbox& m = ffa.mailbox;
  if (m.pages != 0) {
    // Mapped over the partition's own RAM, which is still there.
    (void)stage2.protect(m.rx_ipa.value(), m.bytes(), kPartitionRam);
  }
  m = FfaMailbox{};
  ffa.notifications = FfaNotifications{};
  ffa.version.store(0, std::memory_order_relaxed);
  ffa.version_fixed.store(false, std::memory_order_relaxed);
  // A response to a request made before the reset is dropped (its number
  // is no longer the vCPU's); requests it served were aborted already.
  for (Vcpu& v : vcpus) {
    {
      SpinLockGuard g(v.direct.lock);
      v.direct.seq.store(v.direct.seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      v.direct.ready.store(false, std::memory_order_relaxed);
    }
    v.direct.state.store(MsgState::kNone, std::memory_order_relaxed);
    v.direct.from = nullptr;
    v.direct.target = nullptr;
  }
}

Result<Pa> Partition::translate(Ipa ipa, bool write) const {
  auto t = stage2.translate(ipa.value());
  if (!t) return Status::kNotFound;
  if (!t->attrs.read || (write && !t->attrs.write) || t->attrs.type != arch::mm::MemType::kNormal) {
    return Status::kDenied;
  }
  return t->pa;
}

}  // namespace hyp
