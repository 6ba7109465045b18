// What the virtio device servers share on top of the server runtime: the
// guest memory the kernel granted (for the device models, through the
// server's windows, and for the physical device, by physical address),
// the DMA pool, the physical transport they drive, and the guest's
// interrupt line.
#pragma once

#include <cstdint>

#include "ipc/channel.h"
#include "servers/virtio/guest_memory.h"
#include "servers/virtio/physical.h"

namespace hyp::server::virtio_server {

// Every grant in `info`, added to `memory` at its window.
void add_grants(const ipc::ServerInfo& info, virtio::GuestMemory& memory);

// Where the guest's [ipa, ipa + len) is in physical memory, for a physical
// device, if a grant covers all of it (0 if not).
uint64_t guest_pa(const ipc::ServerInfo& info, uint64_t ipa, uint64_t len);

// The server's DMA pool (empty if it has none).
virtio::DmaMemory dma_pool(const ipc::ServerInfo& info);

// QEMU virt's virtio-mmio transports: 32 of them, 0x200 bytes apart from
// 0x0a000000, transport n on SPI 16 + n.
inline constexpr uint64_t kTransportBase = 0x0a00'0000;
inline constexpr uint64_t kTransportStride = 0x200;

// The first transport in the server's device windows with a device of ID
// `device_id`: its registers' address and its interrupt (0 if the server
// was not given it). False if there is none.
bool find_transport(const ipc::ServerInfo& info, uint32_t device_id, uint64_t& base, uint32_t& intid);

// A physical transport's registers, mapped at IPA = PA as device memory.
class MmioRegisters final : public virtio::Registers {
 public:
  void attach(uint64_t base) { base_ = base; }
  uint32_t read32(uint32_t offset) override { return *reinterpret_cast<volatile uint32_t*>(base_ + offset); }
  void write32(uint32_t offset, uint32_t value) override {
    *reinterpret_cast<volatile uint32_t*>(base_ + offset) = value;
  }

 private:
  uint64_t base_ = 0;
};

// A guest device's interrupt line (a level-sensitive SPI), told to the
// kernel when it changes.
class GuestLine {
 public:
  void attach(uint32_t device, uint32_t intid) {
    device_ = device;
    intid_ = intid;
    told_ = false;
  }
  void set(bool level);

 private:
  uint32_t device_ = 0;
  uint32_t intid_ = 0;
  bool level_ = false;
  bool told_ = false;
};

}  // namespace hyp::server::virtio_server
