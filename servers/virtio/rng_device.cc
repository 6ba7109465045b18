#include "servers/virtio/rng_device.h"

namespace hyp::virtio {

uint32_t RngDevice::fill(const Chain& c) {
  uint32_t written = 0;
  for (uint32_t i = 0; i < c.count; ++i) {
    const Buffer& b = c.buffers[i];
    if (!b.write || b.len == 0) continue;
    uint8_t* p = memory_.translate(b.ipa, b.len);  // Virtqueue::take() checked it
    if (p == nullptr) return written;
    const size_t got = source_.take(p, b.len);
    written += static_cast<uint32_t>(got < b.len ? got : b.len);
    if (got < b.len) return written;
  }
  return written;
}

bool RngDevice::notify(uint32_t queue, Virtqueue& q, uint64_t) {
  bool interrupt = false;
  while (queue == 0) {
    if (!pending_) {
      if (q.take(chain_) != Take::kChain) break;
      pending_ = true;
    }
    const uint32_t written = chain_.writable == 0 ? 0 : fill(chain_);
    if (written == 0 && chain_.writable != 0) break;  // nothing yet: the request waits
    interrupt = q.put(chain_.head, written) || interrupt;
    pending_ = false;
  }
  return interrupt;
}

}  // namespace hyp::virtio
