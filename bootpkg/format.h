// The boot package: what the host packer (tools/pack) produces and the kernel
// reads at boot. QEMU loads it as the "initrd" of the hypervisor image; the
// kernel finds it through /chosen linux,initrd-start/end of its device tree.
//
// The package is itself a flattened device tree:
//
//   / {
//     compatible = "hyp,package-1";
//     partitions {
//       <name> {                       one node per partition, in manifest order
//         kind = "guest";
//         vcpus = <N>;
//         memory = <ipa-hi ipa-lo size-hi size-lo>;
//         entry = <hi lo>;             IPA where vCPU 0 starts, MMU off, at EL1
//         dtb = <hi lo>;               IPA of the guest's device tree (x0)
//         load-N {                     blobs copied into the partition's memory
//           ipa = <hi lo>;
//           data = [...];
//         };
//         route-N {                    guests: an IPA range a server emulates
//           ipa = <hi lo>;             page-aligned, outside the guest's memory
//           size = <hi lo>;
//           server = <index>;          the server's position in /partitions
//           device = <n>;              which of that server's devices
//           irq = <intid>;             optional: the device's interrupt (an
//                                      SPI, 32..95), which its server raises
//           irqchip;                   optional: the guest's interrupt
//                                      controller (at most one route)
//         };
//         grant-N {                    guests: memory the kernel shares with
//                                      servers at boot (FF-A, docs/ffa.md)
//           ipa = <hi lo>;             page-aligned, inside the guest's memory
//           size = <hi lo>;
//           servers = <index...>;      the receivers' positions in /partitions
//         };
//         control;                     guests: may restart servers
//         ffa-id = <id>;               its FF-A partition ID: 1..0x7fff,
//                                      unique in the package
//         ffa-uuid = <w0 w1 w2 w3>;    optional: its UUID, as FF-A's four
//                                      words (ffa/abi.h); none: the nil UUID
//         ffa-messaging = <bits>;      what it does in FF-A: direct receive,
//                                      direct send, indirect messages,
//                                      notifications (kFfaMessagingMask)
//         ffa-direct-targets = <id...>;  optional: the only partitions it
//                                      may send direct requests to
//       };
//       <name> {                       a device server: the same, and
//         kind = "server";
//         device-memory = <pa-hi pa-lo size-hi size-lo>...;  optional, up
//                                      to kMaxDeviceRegions: physical device
//                                      registers mapped at IPA = PA (whole
//                                      devices of the machine, page-aligned)
//         device-irq = <intid>...;     optional, up to kMaxDeviceIrqs: those
//                                      devices' physical SPIs (32..1019),
//                                      which the server gets
//         dma-pool = <size-hi size-lo>; optional: bytes of physically
//                                      contiguous memory for the server's
//                                      devices' DMA (page multiple, at most
//                                      ipc::kMaxDmaPool)
//         bootargs = "...";            optional: the server's command line
//       };
//     };
//   };
//
// All placement decisions are made by the packer; the kernel checks that
// every blob lies inside the partition's memory before copying it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ffa/abi.h"
#include "ipc/channel.h"
#include "ipc/hypercall.h"

namespace hyp::package {

inline constexpr char kCompatible[] = "hyp,package-1";
inline constexpr char kPartitionsNode[] = "/partitions";
inline constexpr char kKindGuest[] = "guest";
inline constexpr char kKindServer[] = "server";

inline constexpr char kPropKind[] = "kind";
inline constexpr char kPropVcpus[] = "vcpus";
inline constexpr char kPropMemory[] = "memory";
inline constexpr char kPropEntry[] = "entry";
inline constexpr char kPropDtb[] = "dtb";
inline constexpr char kPropIpa[] = "ipa";
inline constexpr char kPropData[] = "data";
inline constexpr char kLoadPrefix[] = "load-";
inline constexpr char kRoutePrefix[] = "route-";
inline constexpr char kGrantPrefix[] = "grant-";
inline constexpr char kPropServers[] = "servers";
inline constexpr char kPropSize[] = "size";
inline constexpr char kPropServer[] = "server";
inline constexpr char kPropDevice[] = "device";
// The control right (docs/control.md): empty, over every server; or the
// indices (u32 cells) of the servers it covers.
inline constexpr char kPropControl[] = "control";
// A server not started at boot (until a control partition starts it).
inline constexpr char kPropStopped[] = "stopped";
inline constexpr char kPropDeviceMemory[] = "device-memory";
inline constexpr char kPropBootargs[] = "bootargs";
inline constexpr char kPropIrq[] = "irq";
inline constexpr char kPropDeviceIrq[] = "device-irq";
inline constexpr char kPropDmaPool[] = "dma-pool";
inline constexpr char kPropIrqchip[] = "irqchip";
inline constexpr char kPropFfaId[] = "ffa-id";
inline constexpr char kPropFfaUuid[] = "ffa-uuid";
inline constexpr char kPropFfaMessaging[] = "ffa-messaging";
inline constexpr char kPropFfaDirectTargets[] = "ffa-direct-targets";

// The FF-A properties a partition may be given: the partition information
// descriptor's bits 0..3 (ffa/abi.h, ffa::properties).
inline constexpr uint32_t kFfaMessagingMask = ffa::properties::kDirectReceive | ffa::properties::kDirectSend |
                                              ffa::properties::kIndirect | ffa::properties::kNotifications;
// IDs a partition may have: normal-world IDs but the hypervisor's.
inline constexpr uint32_t kFfaIdLimit = 0x8000;

// The INTIDs a route's `irq` may name: the SPIs guests have.
inline constexpr uint32_t kFirstSpi = abi::irq::kFirstSpi;
inline constexpr uint32_t kSpiLimit = abi::irq::kIntidLimit;

// Partition memory starts at the same IPA as RAM on QEMU's virt machine.
inline constexpr uint64_t kDefaultRamIpa = 0x4000'0000;

inline constexpr size_t kMaxLoads = 4;
inline constexpr size_t kMaxRoutes = 8;          // per guest
// Boot grants: per guest, and the servers one names (an FF-A transaction's
// receivers). A server learns of its grants in its info page, which holds
// ipc::kMaxServerGrants.
inline constexpr size_t kMaxGrants = 4;
// A server's physical devices: register windows and interrupts.
inline constexpr size_t kMaxDeviceRegions = ipc::kMaxDeviceRegions;
inline constexpr size_t kMaxDeviceIrqs = ipc::kMaxDeviceIrqs;
inline constexpr size_t kMaxGrantServers = 4;  // ffa::kMaxReceivers
// A server's devices and command line are told to it in its channel's info
// page (ipc/channel.h), which sets these limits.
inline constexpr size_t kMaxServerDevices = ipc::kMaxServerDevices;
inline constexpr size_t kMaxBootargs = ipc::kMaxBootargs;  // without the NUL

// What a package may ask for: the packer refuses more, the kernel checks
// again, and the kernel's own tables are sized from these.
inline constexpr size_t kMaxPartitions = 8;
inline constexpr uint32_t kMaxVcpus = 8;
inline constexpr size_t kMaxNameLength = 31;  // [a-z0-9_-], without the NUL
inline constexpr uint64_t kIpaBits = 40;      // the Stage-2 input size (kernel/arch/mm.h)

static_assert(kMaxNameLength <= ipc::kMaxClientName, "a guest's name fits its servers' info page");

}  // namespace hyp::package
