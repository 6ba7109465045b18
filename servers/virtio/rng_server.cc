// The entropy server: a virtio-rng device for its guest (device 0), whose
// entropy comes from the machine's own virtio-rng device, which the server
// drives through its DMA pool (docs/virtio.md). A request the guest makes
// while the physical device has nothing buffered waits for its next
// completion. Restarts keep the transport's registers in the state page;
// the physical device is reset and started again by each instance.
#include <cstring>

#include "runtime/runtime.h"
#include "servers/lib/runtime.h"
#include "servers/virtio/mmio_transport.h"
#include "servers/virtio/physical.h"
#include "servers/virtio/rng_device.h"
#include "servers/virtio/virtio_server.h"

namespace hyp::server {
namespace {

using namespace virtio_server;  // NOLINT: the shared server parts

// Entropy from the physical device, a buffer at a time: drained, it is
// filled again by one request.
class PhysicalEntropy final : public virtio::EntropySource {
 public:
  void start(virtio::PhysicalDevice& device, const virtio::DmaMemory& buffer) {
    device_ = &device;
    buffer_ = buffer;
    filled_ = taken_ = 0;
    waiting_ = false;
    refill();
  }

  size_t take(uint8_t* out, size_t len) override {
    size_t n = filled_ - taken_;
    if (n > len) n = len;
    std::memcpy(out, buffer_.va + taken_, n);
    taken_ += static_cast<uint32_t>(n);
    if (taken_ == filled_) refill();
    return n;
  }

  // Takes the device's completion: whether new entropy came.
  bool collect() {
    uint16_t slot = 0;
    uint32_t written = 0;
    bool got = false;
    while (device_ != nullptr && device_->complete(slot, written)) {
      waiting_ = false;
      filled_ = written < buffer_.size ? written : static_cast<uint32_t>(buffer_.size);
      taken_ = 0;
      got = filled_ != 0;
      if (!got) refill();
    }
    return got;
  }

 private:
  void refill() {
    if (waiting_ || device_ == nullptr || !device_->live()) return;
    const virtio::Segment s{buffer_.pa, static_cast<uint32_t>(buffer_.size), true};
    uint16_t slot = 0;
    if (!device_->submit(&s, 1, slot)) return;
    filled_ = taken_ = 0;
    waiting_ = true;
    device_->kick();
  }

  virtio::PhysicalDevice* device_ = nullptr;
  virtio::DmaMemory buffer_;
  uint32_t filled_ = 0;
  uint32_t taken_ = 0;
  bool waiting_ = false;
};

class RngServer final : public Server {
 public:
  void start(const ipc::ServerInfo& info, void* state, size_t state_size, bool resumed) override {
    static_assert(sizeof(virtio::TransportState) <= ipc::kChannelPageSize - sizeof(ipc::StateHeader));
    if (state_size < sizeof(virtio::TransportState)) rt::power_off();
    add_grants(info, memory_);
    uint64_t base = 0;
    uint32_t intid = 0;
    virtio::DmaMemory pool = dma_pool(info);
    virtio::DmaMemory buffer;
    if (!find_transport(info, virtio::RngDevice::kDeviceId, base, intid)) {
      log("no virtio-rng device among its devices: requests will wait");
    } else if (regs_.attach(base), !pool.carve(kBuffer, 64, buffer)) {
      log("no DMA pool for the virtio-rng device: requests will wait");
    } else if (const auto s = device_.start(regs_, virtio::RngDevice::kDeviceId, 0, 2, pool);
               s != virtio::PhysicalDevice::Start::kOk) {
      log("the virtio-rng device at 0x%lx did not start (%s): requests will wait", base, virtio::describe(s));
    } else {
      entropy_.start(device_, buffer);
    }
    transport_.attach(static_cast<virtio::TransportState*>(state), resumed);
    line_.attach(0, info.device_irq[0]);
    transport_.run_queue(0);
    log("%s: physical device at 0x%lx (INTID %u), %u grants, DMA pool %lu KiB at 0x%lx", resumed ? "resumed" : "started",
        base, intid, info.grant_count, info.dma_pool_size >> 10, info.dma_pool_pa);
  }

  MmioDevice* device(uint32_t index) override { return index == 0 ? &transport_ : nullptr; }

  void poll() override {
    (void)device_.acknowledge();
    if (entropy_.collect()) transport_.run_queue(0);
    line_.set(transport_.interrupt_pending());
  }

 private:
  static constexpr uint64_t kBuffer = 512;

  virtio::GuestMemory memory_;
  MmioRegisters regs_;
  virtio::PhysicalDevice device_;
  PhysicalEntropy entropy_;
  virtio::RngDevice rng_{memory_, entropy_};
  virtio::MmioTransport transport_{rng_, memory_};
  GuestLine line_;
};

constinit RngServer g_server;

}  // namespace
}  // namespace hyp::server

void partition_main(uint64_t /*dtb*/) { hyp::server::run(hyp::server::g_server); }
