// The control commands' Backend in a server: the kernel's control calls
// (ipc/hypercall.h), with the caller's own control right.
#pragma once

#include "servers/control/commands.h"

namespace hyp::control {

class KernelBackend final : public Backend {
 public:
  Status read_system(ipc::ControlSystem& out) override;
  Status read_exits(uint16_t id, uint32_t vcpu, ipc::ControlExits& out) override;
  Status restart(uint16_t id) override;
  Status stop(uint16_t id) override;
  Status start(uint16_t id) override;
  Status set_trace(bool on) override;
  Status read_trace(uint32_t cpu, uint64_t first, ipc::ControlTrace& out) override;
};

}  // namespace hyp::control
