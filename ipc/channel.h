// A device server's channel: the pages the kernel allocates for each server
// and maps into the server's Stage 2 at kChannelIpa. The kernel keeps them,
// with their contents, across restarts of the server.
//
//   page 0  requests    kernel -> server (forwarded accesses, lifecycle)
//   page 1  responses   server -> kernel (answers to reads, non-posted writes, lifecycle)
//   page 2  log         kernel -> server (the kernel's and partitions' log
//                       lines, for the server that owns the console)
//   page 3  info        written by the kernel before each start: who the
//                       server's devices serve, the guest memory granted
//                       to it, the server's command line
//   page 4  state       the server's own; survives restarts untouched by the
//                       kernel, except that the kernel reads done_seq
//
// Sequence numbers: the kernel numbers requests 1, 2, 3, ... over the life
// of the channel. A server records in State::done_seq the last request whose
// effect it has applied, after applying it. After a crash the kernel replays
// every request after done_seq (docs/servers.md): at most the request being
// handled at the moment of the crash is applied twice.
#pragma once

#include <cstdint>

#include "ipc/message.h"
#include "ipc/ring.h"

namespace hyp::ipc {

inline constexpr uint64_t kChannelIpa = 0x8000'0000;
inline constexpr uint64_t kChannelPageSize = 4096;

// A server's DMA pool (docs/servers.md, "DMA"), if its manifest asks for
// one: physically contiguous memory at this IPA, whose physical address
// the info page gives, for what the server hands its physical devices.
inline constexpr uint64_t kDmaPoolIpa = 0x8100'0000;
inline constexpr uint64_t kMaxDmaPool = 16ull << 20;

inline constexpr uint32_t kRingEntries = 64;
using RequestRing = Ring<Request, kRingEntries>;
using ResponseRing = Ring<Response, kRingEntries>;

// One log line, as whole text without its line ending.
struct LogLine {
  uint16_t length;
  char text[126];
};
inline constexpr uint32_t kLogEntries = 16;
using LogRing = Ring<LogLine, kLogEntries>;

inline constexpr uint32_t kMaxServerDevices = 4;
inline constexpr uint32_t kMaxClientName = 31;
inline constexpr uint32_t kMaxBootargs = 255;
inline constexpr uint32_t kMaxServerGrants = 4;
inline constexpr uint32_t kMaxDeviceRegions = 4;
inline constexpr uint32_t kMaxDeviceIrqs = 8;

// Guest memory the kernel shares with the server at boot (the manifest's
// memory grants, docs/ffa.md): the guest's [ipa, ipa + size) is the
// server's [window + ipa, window + ipa + size), readable and writable, for
// the life of the system (across restarts of either). `handle` is the FF-A
// memory handle of the share.
struct Grant {
  char client[kMaxClientName + 1];  // the guest partition's name
  uint16_t client_id;               // its FF-A ID
  uint16_t reserved[3];
  uint64_t handle;
  uint64_t ipa;
  uint64_t size;
  uint64_t window;  // added to a guest IPA in [ipa, ipa + size): the server's IPA
  uint64_t pa;      // where [ipa, ipa + size) is in physical memory (contiguous), for DMA
};

struct ServerInfo {
  uint32_t magic;          // kInfoMagic
  uint32_t device_count;   // devices 0 .. device_count - 1 have clients
  uint32_t console_owner;  // 1 if this server owns the physical console (serves the log ring)
  uint32_t reserved;
  // The machine's devices the server owns (docs/servers.md, "Devices"):
  // register windows mapped at IPA = PA, and their SPIs, which the kernel
  // routes to it.
  uint32_t device_memory_count;
  uint32_t device_irq_count;
  uint64_t device_memory_base[kMaxDeviceRegions];
  uint64_t device_memory_size[kMaxDeviceRegions];
  uint32_t device_irqs[kMaxDeviceIrqs];
  uint64_t device_base[kMaxServerDevices];  // the guest IPA of each device's window
  uint64_t device_size[kMaxServerDevices];  // and its size
  uint32_t device_irq[kMaxServerDevices];   // its interrupt (an SPI's INTID), 0 if none
  uint32_t client_vcpus[kMaxServerDevices];  // how many vCPUs the guest has
  uint32_t device_irqchip;  // bit n: device n is its guest's interrupt controller
  uint32_t reserved2;
  char client[kMaxServerDevices][kMaxClientName + 1];  // the guest partition's name
  char bootargs[kMaxBootargs + 1];
  uint32_t grant_count;  // grants 0 .. grant_count - 1 are valid
  uint32_t reserved3;
  Grant grants[kMaxServerGrants];
  // The DMA pool: [kDmaPoolIpa, + dma_pool_size) is physical memory from
  // dma_pool_pa on (size 0: none). It survives restarts, contents and all:
  // a device may still be writing there when a server fails.
  uint64_t dma_pool_pa;
  uint64_t dma_pool_size;
};
inline constexpr uint32_t kInfoMagic = 0x4f464e49;  // "INFO"

// The state page's header; a server keeps its devices' state after it.
struct StateHeader {
  uint32_t magic;         // a server's own marker that the rest is valid
  uint32_t generation;    // incremented by the server at each start
  uint64_t done_seq;      // the last request whose effect is applied
};

inline constexpr uint64_t kRequestPage = 0;
inline constexpr uint64_t kResponsePage = 1;
inline constexpr uint64_t kLogPage = 2;
inline constexpr uint64_t kInfoPage = 3;
inline constexpr uint64_t kStatePage = 4;
inline constexpr uint64_t kChannelPages = 5;

static_assert(sizeof(RequestRing) <= kChannelPageSize);
static_assert(sizeof(ResponseRing) <= kChannelPageSize);
static_assert(sizeof(LogRing) <= kChannelPageSize);
static_assert(sizeof(ServerInfo) <= kChannelPageSize);

}  // namespace hyp::ipc
