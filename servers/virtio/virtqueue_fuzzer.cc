// A virtqueue over guest memory the input fills: descriptor table, rings and
// data, with the queue's size and features from the first bytes. Every
// chain taken must be made of granted buffers, at most kMaxChainBuffers,
// readable ones first; AddressSanitizer checks nothing outside the granted
// memory is touched.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "servers/virtio/virtqueue.h"

namespace {

constexpr uint64_t kRam = 0x4000'0000;
constexpr size_t kRamSize = 16 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hyp::virtio;
  if (size < 4) return 0;
  const uint32_t queue = 1u << (data[0] % 8);  // 1..128
  const bool event_idx = (data[1] & 1) != 0;
  const bool indirect = (data[1] & 2) != 0;
  const uint16_t resume = static_cast<uint16_t>(data[2] | data[3] << 8);
  data += 4;
  size -= 4;
  // Exactly the granted bytes: anything past them is outside the guest's grant.
  auto* ram = new uint8_t[kRamSize];
  std::memset(ram, 0, kRamSize);
  std::memcpy(ram, data, size < kRamSize ? size : kRamSize);
  GuestMemory memory;
  (void)memory.add(kRam, kRamSize, ram);
  Virtqueue q;
  if (q.setup(&memory, queue, kRam, kRam + 0x1000, kRam + 0x2000, event_idx, indirect)) {
    q.resume(resume, resume);
    Chain chain;
    for (int i = 0; i < 64; ++i) {
      const Take t = q.take(chain);
      if (t != Take::kChain) break;
      if (chain.count > kMaxChainBuffers || chain.head >= queue) __builtin_trap();
      bool seen_write = false;
      uint64_t readable = 0;
      uint64_t writable = 0;
      for (uint32_t b = 0; b < chain.count; ++b) {
        const Buffer& buf = chain.buffers[b];
        if (buf.len != 0 && memory.translate(buf.ipa, buf.len) == nullptr) __builtin_trap();
        if (!buf.write && seen_write) __builtin_trap();
        seen_write = seen_write || buf.write;
        (buf.write ? writable : readable) += buf.len;
      }
      if (readable != chain.readable || writable != chain.writable) __builtin_trap();
      (void)q.put(chain.head, chain.writable);
    }
  }
  delete[] ram;
  return 0;
}
