// The GIC server: for each guest it is the interrupt controller of, that
// guest's distributor and redistributors (gic_device.h), over the kernel's
// calls for the guest's interrupts.
#include <cstddef>
#include <cstdint>

#include "ipc/hypercall.h"
#include "runtime/runtime.h"
#include "servers/gic/gic_device.h"
#include "servers/lib/runtime.h"

namespace hyp::server {
namespace {

// The kernel calls for the guest behind device `device`.
class DeviceCalls final : public IrqKernel {
 public:
  void attach(uint32_t device) { device_ = device; }

  int64_t configure(uint32_t vcpu, uint32_t intid, uint64_t word) override {
    return static_cast<int64_t>(rt::hvc5(abi::kHypIrqConfig, device_, vcpu, intid, word).x0);
  }
  int64_t query(uint32_t vcpu, uint32_t intid, uint64_t& word, uint64_t& state) override {
    const rt::CallResult r = rt::hvc5(abi::kHypIrqQuery, device_, vcpu, intid, 0);
    word = r.x1;
    state = r.x2;
    return static_cast<int64_t>(r.x0);
  }
  int64_t signal(uint32_t vcpu, uint32_t intid, abi::irq::Op op) override {
    // The request's number: served again after a crash, it is not applied
    // twice (an SGI set pending once by the guest is taken once).
    return static_cast<int64_t>(
        rt::hvc6(abi::kHypIrqSignal, device_, vcpu, intid, static_cast<uint64_t>(op), current_request()).x0);
  }

 private:
  uint32_t device_ = 0;
};

struct State {
  GicState gic[ipc::kMaxServerDevices];
};

class GicServer final : public Server {
 public:
  void start(const ipc::ServerInfo& info, void* state, size_t state_size, bool resumed) override {
    static_assert(sizeof(State) <= ipc::kChannelPageSize - sizeof(ipc::StateHeader));
    if (state_size < sizeof(State)) rt::power_off();
    auto* s = static_cast<State*>(state);
    uint32_t served = 0;
    for (uint32_t d = 0; d < info.device_count && d < ipc::kMaxServerDevices; ++d) {
      // Only a window the size of a GIC for the guest's vCPUs is served.
      if ((info.device_irqchip >> d & 1) == 0 || info.client_vcpus[d] == 0 ||
          info.device_size[d] < GicDevice::window_for(info.client_vcpus[d])) {
        continue;
      }
      calls_[d].attach(d);
      devices_[d].attach(&calls_[d], info.client_vcpus[d], &s->gic[d]);
      if (!resumed) devices_[d].reset();
      present_[d] = true;
      ++served;
    }
    log("%s (%u guests)", resumed ? "resumed" : "started", served);
  }

  MmioDevice* device(uint32_t index) override {
    return index < ipc::kMaxServerDevices && present_[index] ? &devices_[index] : nullptr;
  }

 private:
  DeviceCalls calls_[ipc::kMaxServerDevices];
  GicDevice devices_[ipc::kMaxServerDevices];
  bool present_[ipc::kMaxServerDevices] = {};
};

GicServer g_server;

}  // namespace
}  // namespace hyp::server

void partition_main(uint64_t /*dtb*/) { hyp::server::run(hyp::server::g_server); }
