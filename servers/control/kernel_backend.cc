#include "servers/control/kernel_backend.h"

#include "ipc/hypercall.h"
#include "runtime/runtime.h"

namespace hyp::control {
namespace {

Status status_of(uint64_t x0) {
  return x0 == 0 ? Status::kOk : static_cast<Status>(-static_cast<int64_t>(x0));
}

// HYP_CONTROL_READ into `out`, which is in this partition's RAM (its image:
// the runtime maps VA = IPA).
Status read(ipc::ControlRead what, uint64_t arg, void* out, uint64_t size) {
  const rt::CallResult r =
      rt::hvc5(abi::kHypControlRead, static_cast<uint64_t>(what), arg, reinterpret_cast<uint64_t>(out), size);
  if (r.x0 != 0) return status_of(r.x0);
  return r.x1 == size ? Status::kOk : Status::kOutOfRange;
}

}  // namespace

Status KernelBackend::read_system(ipc::ControlSystem& out) {
  return read(ipc::ControlRead::kSystem, 0, &out, sizeof(out));
}

Status KernelBackend::read_exits(uint16_t id, uint32_t vcpu, ipc::ControlExits& out) {
  if (vcpu > 0xff) return Status::kOutOfRange;
  return read(ipc::ControlRead::kExits, uint64_t{id} << 8 | vcpu, &out, sizeof(out));
}

Status KernelBackend::restart(uint16_t id) { return status_of(rt::hvc(abi::kHypServerRestart, id).x0); }
Status KernelBackend::stop(uint16_t id) { return status_of(rt::hvc(abi::kHypServerStop, id).x0); }
Status KernelBackend::start(uint16_t id) { return status_of(rt::hvc(abi::kHypServerStart, id).x0); }
Status KernelBackend::set_trace(bool on) { return status_of(rt::hvc(abi::kHypTraceSet, on ? 1 : 0).x0); }

Status KernelBackend::read_trace(uint32_t cpu, uint64_t first, ipc::ControlTrace& out) {
  if (first >> 48 != 0) return Status::kOutOfRange;
  return read(ipc::ControlRead::kTrace, uint64_t{cpu} << 48 | first, &out, sizeof(out));
}

}  // namespace hyp::control
