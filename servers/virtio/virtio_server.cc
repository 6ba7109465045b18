#include "servers/virtio/virtio_server.h"

#include "ipc/hypercall.h"
#include "runtime/runtime.h"

namespace hyp::server::virtio_server {

void add_grants(const ipc::ServerInfo& info, virtio::GuestMemory& memory) {
  for (uint32_t i = 0; i < info.grant_count && i < ipc::kMaxServerGrants; ++i) {
    const ipc::Grant& g = info.grants[i];
    (void)memory.add(g.ipa, g.size, reinterpret_cast<uint8_t*>(g.window + g.ipa));
  }
}

uint64_t guest_pa(const ipc::ServerInfo& info, uint64_t ipa, uint64_t len) {
  for (uint32_t i = 0; i < info.grant_count && i < ipc::kMaxServerGrants; ++i) {
    const ipc::Grant& g = info.grants[i];
    if (g.pa != 0 && ipa >= g.ipa && len <= g.size && ipa - g.ipa <= g.size - len) return g.pa + (ipa - g.ipa);
  }
  return 0;
}

virtio::DmaMemory dma_pool(const ipc::ServerInfo& info) {
  if (info.dma_pool_size == 0 || info.dma_pool_size > ipc::kMaxDmaPool) return {};
  return {reinterpret_cast<uint8_t*>(ipc::kDmaPoolIpa), info.dma_pool_pa, info.dma_pool_size};
}

bool find_transport(const ipc::ServerInfo& info, uint32_t device_id, uint64_t& base, uint32_t& intid) {
  for (uint32_t r = 0; r < info.device_memory_count && r < ipc::kMaxDeviceRegions; ++r) {
    const uint64_t start = info.device_memory_base[r];
    for (uint64_t at = start; at + kTransportStride <= start + info.device_memory_size[r]; at += kTransportStride) {
      if (at < kTransportBase || (at - kTransportBase) % kTransportStride != 0) continue;
      const auto* regs = reinterpret_cast<volatile uint32_t*>(at);
      if (regs[0] != 0x7472'6976 || regs[2] != device_id) continue;  // magic, device ID
      base = at;
      const uint32_t spi = 48 + static_cast<uint32_t>((at - kTransportBase) / kTransportStride);
      intid = 0;
      for (uint32_t i = 0; i < info.device_irq_count && i < ipc::kMaxDeviceIrqs; ++i) {
        if (info.device_irqs[i] == spi) intid = spi;
      }
      return true;
    }
  }
  return false;
}

void GuestLine::set(bool level) {
  if (intid_ == 0 || (level == level_ && told_)) return;
  const auto op = level ? abi::irq::Op::kRaise : abi::irq::Op::kLower;
  if (rt::hvc5(abi::kHypIrqSignal, device_, 0, intid_, static_cast<uint64_t>(op)).x0 == 0) {
    level_ = level;
    told_ = true;
  }
}

}  // namespace hyp::server::virtio_server
