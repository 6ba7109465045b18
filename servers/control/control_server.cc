// The control server: the host's control channel (docs/control.md). It
// owns a page of the machine's virtio-mmio transports and drives the
// virtio-console there (QEMU's virtconsole, whose Unix socket `hypctl`
// connects to) through its DMA pool: command lines come in on the
// console's receive queue and JSON answers go out on its transmit queue.
// It serves no guest; it acts with its own control right (the manifest's).
// A new instance resets the console: a line under way is lost, and the
// client is answered nothing for it.
#include <cstring>

#include "runtime/runtime.h"
#include "servers/control/kernel_backend.h"
#include "servers/control/line_reader.h"
#include "servers/lib/runtime.h"
#include "servers/virtio/physical.h"
#include "servers/virtio/virtio_server.h"

namespace hyp::server {
namespace {

using namespace virtio_server;  // NOLINT: the shared server parts

constexpr uint32_t kConsoleDeviceId = 3;  // virtio 1.2, 5.3
constexpr uint32_t kReceiveQueue = 0;     // port 0's receiveq
constexpr uint32_t kTransmitQueue = 1;    // port 0's transmitq
constexpr uint32_t kReceiveBuffers = 4;
constexpr uint32_t kBufferSize = 512;
constexpr uint32_t kTransmitBuffers = 16;

// Answers, cut into the transmit queue's buffers. A buffer goes out when
// full or when the answer is complete; with every buffer in flight, the
// writer waits for the device to finish one (the host reads the socket, or
// QEMU drops what a console has nobody to give to).
class Transmitter final : public control::Output {
 public:
  void start(virtio::PhysicalDevice& device, const virtio::DmaMemory& buffers) {
    device_ = &device;
    buffers_ = buffers;
    for (uint32_t i = 0; i < kTransmitBuffers; ++i) busy_[i] = false;
    current_ = -1;
    fill_ = 0;
  }

  void write(const char* text, size_t length) override {
    while (length > 0 && device_ != nullptr && device_->live()) {
      if (current_ < 0 && !take_buffer()) return;
      uint8_t* buffer = buffers_.va + uint64_t{static_cast<uint32_t>(current_)} * kBufferSize;
      size_t n = kBufferSize - fill_;
      if (n > length) n = length;
      std::memcpy(buffer + fill_, text, n);
      fill_ += static_cast<uint32_t>(n);
      text += n;
      length -= n;
      if (fill_ == kBufferSize) flush();
    }
  }

  // Sends what is buffered.
  void flush() {
    if (current_ < 0 || fill_ == 0) return;
    const auto index = static_cast<uint32_t>(current_);
    const virtio::Segment s{buffers_.pa + uint64_t{index} * kBufferSize, fill_, false};
    uint16_t slot = 0;
    if (device_->submit(&s, 1, slot, kTransmitQueue)) {
      slot_of_[slot % kMaxSlots] = static_cast<uint8_t>(index);
      device_->kick(kTransmitQueue);
    } else {
      busy_[index] = false;  // cannot happen: a buffer is taken only with a slot free
    }
    current_ = -1;
    fill_ = 0;
  }

  // Buffers the device has sent are free again.
  void collect() {
    uint16_t slot = 0;
    uint32_t written = 0;
    while (device_ != nullptr && device_->complete(slot, written, kTransmitQueue)) {
      busy_[slot_of_[slot % kMaxSlots] % kTransmitBuffers] = false;
    }
  }

 private:
  static constexpr uint32_t kMaxSlots = virtio::PhysicalDevice::kMaxSlots;

  bool take_buffer() {
    for (int tries = 0; tries < 1'000'000; ++tries) {
      for (uint32_t i = 0; i < kTransmitBuffers; ++i) {
        if (busy_[i] || device_->in_flight(kTransmitQueue) >= device_->slots(kTransmitQueue)) continue;
        busy_[i] = true;
        current_ = static_cast<int32_t>(i);
        fill_ = 0;
        return true;
      }
      collect();
    }
    return false;  // the device stopped taking output: the rest of the answer is lost
  }

  virtio::PhysicalDevice* device_ = nullptr;
  virtio::DmaMemory buffers_;
  bool busy_[kTransmitBuffers] = {};
  uint8_t slot_of_[kMaxSlots] = {};
  int32_t current_ = -1;
  uint32_t fill_ = 0;
};

class ControlServer final : public Server {
 public:
  void start(const ipc::ServerInfo& info, void* /*state*/, size_t /*state_size*/, bool resumed) override {
    reader_.reset();
    uint64_t base = 0;
    uint32_t intid = 0;
    virtio::DmaMemory pool = dma_pool(info);
    if (!find_transport(info, kConsoleDeviceId, base, intid)) {
      log("no virtio-console among its devices: no control channel");
      return;
    }
    regs_.attach(base);
    if (!pool.carve(uint64_t{kReceiveBuffers} * kBufferSize, 64, receive_) ||
        !pool.carve(uint64_t{kTransmitBuffers} * kBufferSize, 64, transmit_)) {
      log("no DMA pool for the virtio-console: no control channel");
      return;
    }
    if (const auto s = device_.start(regs_, kConsoleDeviceId, 0, kTransmitBuffers, pool, 2);
        s != virtio::PhysicalDevice::Start::kOk) {
      log("the virtio-console at 0x%lx did not start (%s): no control channel", base, virtio::describe(s));
      return;
    }
    out_.start(device_, transmit_);
    for (uint32_t i = 0; i < kReceiveBuffers; ++i) post_receive(i);
    device_.kick(kReceiveQueue);
    log("%s: control channel on the virtio-console at 0x%lx (INTID %u)", resumed ? "resumed" : "started", base, intid);
  }

  MmioDevice* device(uint32_t /*index*/) override { return nullptr; }

  void poll() override {
    if (!device_.live()) return;
    (void)device_.acknowledge();
    out_.collect();
    uint16_t slot = 0;
    uint32_t written = 0;
    bool reposted = false;
    while (device_.complete(slot, written, kReceiveQueue)) {
      const uint32_t index = buffer_of_[slot % kMaxSlots] % kReceiveBuffers;
      const uint32_t n = written < kBufferSize ? written : kBufferSize;
      reader_.feed(receive_.va + uint64_t{index} * kBufferSize, n, backend_, out_);
      out_.flush();
      post_receive(index);
      reposted = true;
    }
    if (reposted) device_.kick(kReceiveQueue);
  }

 private:
  static constexpr uint32_t kMaxSlots = virtio::PhysicalDevice::kMaxSlots;

  void post_receive(uint32_t index) {
    const virtio::Segment s{receive_.pa + uint64_t{index} * kBufferSize, kBufferSize, true};
    uint16_t slot = 0;
    if (device_.submit(&s, 1, slot, kReceiveQueue)) buffer_of_[slot % kMaxSlots] = static_cast<uint8_t>(index);
  }

  MmioRegisters regs_;
  virtio::PhysicalDevice device_;
  virtio::DmaMemory receive_;
  virtio::DmaMemory transmit_;
  uint8_t buffer_of_[kMaxSlots] = {};
  Transmitter out_;
  control::LineReader reader_;
  control::KernelBackend backend_;
};

constinit ControlServer g_server;

}  // namespace
}  // namespace hyp::server

void partition_main(uint64_t /*dtb*/) { hyp::server::run(hyp::server::g_server); }
