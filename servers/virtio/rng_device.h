// virtio-rng (virtio 1.x, "Entropy Device"): one request queue whose
// chains are device-writable buffers the device fills with entropy, as
// much as its source has (the used length says how much; the spec lets a
// device return less than asked). The entropy comes from an EntropySource
// (in the rng server, the physical virtio-rng device it drives); a request
// the source has nothing for yet waits, and the transport's run_queue(0)
// completes it when more arrives, in order. A chain with no writable bytes is completed
// at once with none. Requests complete in order, so after a restart of the
// server the queue resumes with its available index at its used index
// (Virtqueue::resume(used, used)): a request taken but not completed is
// taken again, and none is completed twice.
#pragma once

#include <cstddef>
#include <cstdint>

#include "servers/virtio/guest_memory.h"
#include "servers/virtio/mmio_transport.h"

namespace hyp::virtio {

class EntropySource {
 public:
  // Copies up to `len` bytes of entropy into `out`; how many it had.
  virtual size_t take(uint8_t* out, size_t len) = 0;

 protected:
  ~EntropySource() = default;
};

class RngDevice final : public VirtioDevice {
 public:
  static constexpr uint32_t kDeviceId = 4;
  static constexpr uint32_t kQueueMax = 64;

  constexpr RngDevice(const GuestMemory& memory, EntropySource& source) : memory_(memory), source_(source) {}

  uint32_t device_id() const override { return kDeviceId; }
  uint64_t features() const override { return 0; }
  uint32_t queue_count() const override { return 1; }
  uint32_t queue_max(uint32_t) const override { return kQueueMax; }
  uint32_t config_size() const override { return 0; }
  uint64_t config_read(uint32_t, unsigned) override { return 0; }
  void config_write(uint32_t, unsigned, uint64_t) override {}
  void reset() override { pending_ = false; }
  void queue_stopped(uint32_t) override { pending_ = false; }
  bool notify(uint32_t queue, Virtqueue& q, uint64_t features) override;

 private:
  // Fills the chain's writable buffers from the source, in order: the
  // bytes written (0: the source had none).
  uint32_t fill(const Chain& c);

  const GuestMemory& memory_;
  EntropySource& source_;
  bool pending_ = false;  // `chain_` was taken and waits for entropy
  Chain chain_;
};

}  // namespace hyp::virtio
