// Building a partition from its packaged description: physical memory, the
// kernel's own mapping of it (to copy images), Stage-2 tables, images, and
// vCPUs reset per the Linux arm64 boot protocol (vCPU 0 at the entry point,
// MMU off, x0 = the device tree's IPA; the others off until PSCI CPU_ON).
#pragma once

#include <cstdint>

#include "base/status.h"
#include "kernel/boot/package.h"
#include "kernel/mm/page_pool.h"
#include "kernel/mm/page_table.h"
#include "kernel/mm/phys_alloc.h"
#include "kernel/partition/partition.h"

namespace hyp {

struct LoaderEnv {
  PagePool& tables;       // for Stage-2 tables and the kernel's own
  PhysAllocator& memory;  // partition memory
  PageTable& el2;         // the kernel's tables, to reach partition memory
};

// HCR_EL2 for partitions (Arm ARM D17.2.48), every bit chosen (docs/vcpu.md):
// Stage 2 on (VM), set/way invalidation as clean+invalidate (SWIO),
// interrupts and SErrors to EL2 (FMO, IMO, AMO: EL1's ICC_* accesses reach
// the virtual CPU interface and DISR_EL1 is VDISR_EL2), broadcast TLB and
// barrier scope (FB, BSU inner shareable), ID group 3 trapped (TID3), SMC
// trapped (TSC), AArch64 EL1 (RW), LORegion registers trapped (TLOR), RAS
// error-record registers trapped (TERR), IMPLEMENTATION DEFINED registers
// trapped (TIDCP), pointer authentication not trapped (API, APK), WFI
// trapped (TWI: a waiting vCPU blocks and its CPU runs something else).
// Left clear on purpose: EnSCXT (SCXTNUM_ELx trap), ATA (MTE tag accesses
// trap), TWE (WFE is a spin-wait hint; the guest's own SEV ends it), TVM/TRVM,
// TSW, TACR, E2H, TGE, NV.
// Bit 52 is TOCU (FEAT_EVT: cache maintenance to the point of unification
// trapped), which must stay clear: IC IALLU, IC IVAU and DC CVAU are a
// kernel's own business (they once trapped, by a slip for TIDCP, bit 20,
// on CPUs with FEAT_EVT such as QEMU 10's -cpu max).
namespace hcr {
inline constexpr uint64_t kVm = 1ull << 0;
inline constexpr uint64_t kSwio = 1ull << 1;
inline constexpr uint64_t kFmo = 1ull << 3;
inline constexpr uint64_t kImo = 1ull << 4;
inline constexpr uint64_t kAmo = 1ull << 5;
inline constexpr uint64_t kFb = 1ull << 9;
inline constexpr uint64_t kBsuInner = 1ull << 10;  // BSU [11:10] = 0b01
inline constexpr uint64_t kTwi = 1ull << 13;
inline constexpr uint64_t kTid3 = 1ull << 18;
inline constexpr uint64_t kTsc = 1ull << 19;
inline constexpr uint64_t kTidcp = 1ull << 20;
inline constexpr uint64_t kRw = 1ull << 31;
inline constexpr uint64_t kTlor = 1ull << 35;
inline constexpr uint64_t kTerr = 1ull << 36;
inline constexpr uint64_t kApk = 1ull << 40;
inline constexpr uint64_t kApi = 1ull << 41;
inline constexpr uint64_t kTicab = 1ull << 50;
inline constexpr uint64_t kTocu = 1ull << 52;
}  // namespace hcr
inline constexpr uint64_t kPartitionHcr = hcr::kVm | hcr::kSwio | hcr::kFmo | hcr::kImo | hcr::kAmo | hcr::kFb |
                                          hcr::kBsuInner | hcr::kTwi | hcr::kTid3 | hcr::kTsc | hcr::kTidcp |
                                          hcr::kRw | hcr::kTlor | hcr::kTerr | hcr::kApk | hcr::kApi;
static_assert((kPartitionHcr & (hcr::kTocu | hcr::kTicab)) == 0, "cache maintenance to PoU is the partition's own");
// MDCR_EL2 traps (D17.2.99): PMU (TPMCR, TPM), debug (TDA, TDOSA, TDRA),
// statistical profiling (TPMS), trace filter (TTRF). HPMN is added at run time.
inline constexpr uint64_t kPartitionMdcrTraps =
    (1ull << 5) | (1ull << 6) | (1ull << 9) | (1ull << 10) | (1ull << 11) | (1ull << 14) | (1ull << 19);
// CPTR_EL2 (non-VHE, D17.2.31): RES1 bits, SVE (TZ) and SME (TSM) trapped,
// FP/SIMD not (TFP clear), trace (TTA) and activity monitors (TAM) trapped.
inline constexpr uint64_t kPartitionCptr = 0x33ff | (1ull << 20) | (1ull << 30);
// Device servers run without pointer authentication: HCR_EL2.API and APK
// clear trap its instructions and keys, so the keys a guest left in the CPU
// are neither visible to a server nor switched for it. Their WFI is not
// trapped: a server waits with HYP_SERVER_WAIT, and one that sleeps in WFI
// instead is woken by the kernel's next interrupt (its watchdog at the
// latest).
inline constexpr uint64_t kServerHcr = kPartitionHcr & ~(hcr::kTwi | hcr::kApk | hcr::kApi);
// Device servers also trap FP/SIMD (TFP): they have no FP state, so a switch
// between a guest and a server leaves the guest's FP/SIMD registers in place.
inline constexpr uint64_t kServerCptr = kPartitionCptr | (1ull << 10);
// ICH_HCR_EL2 (GICv3 12.5.x): guests have the virtual CPU interface on
// (En); the maintenance-interrupt bits are added as their list registers
// need them (kernel/vgic). Servers trap every ICV_* access (TC, TALL0,
// TALL1) and have it off: they have no virtual interrupts, and a switch
// between a guest and a server then leaves the guest's ICH_VMCR_EL2, active
// priorities and list registers in place, signalling nothing.
inline constexpr uint64_t kPartitionIchHcr = 1;
inline constexpr uint64_t kServerIchHcr = (1ull << 10) | (1ull << 11) | (1ull << 12);

// Creates a partition in `p` (which must be kEmpty) with VMID `vmid`; its ID
// is the package's FF-A ID (`vmid` if the image has none). On failure `p` is
// left kEmpty and `why` names the step that failed; memory already taken is
// not returned (the allocator never frees).
Status create_partition(const PackagedPartition& image, uint16_t vmid, Partition& p, LoaderEnv& env, const char*& why);

// What a reload does with RAM outside the images.
enum class RamOnReload : uint8_t {
  kKeep,   // a guest's PSCI SYSTEM_RESET: a warm reset, as on hardware (the
           // memory is the guest's own; software such as pstore relies on it)
  kClear,  // a server restart: the new instance must not see what the old
           // one left; only its channel's state page carries over
};

// Puts the images back and resets every vCPU, as at creation. The partition
// must be kStopped or kRunning; it is kRunning after.
Status reload_partition(const PackagedPartition& image, Partition& p, RamOnReload ram);

// Gives server `p` its channel: ipc::kChannelPages zeroed pages, mapped for
// the kernel and at ipc::kChannelIpa in the server's Stage 2 (read-write,
// never executable). `channel` is set up over them.
Status attach_channel(Partition& p, LoaderEnv& env, Channel& channel);

// Gives server `p` a DMA pool of `size` bytes: physically contiguous,
// zeroed, mapped at ipc::kDmaPoolIpa in its Stage 2 (read-write, never
// executable) and kept for the life of the system (across restarts: a
// device may still be writing there). Its physical address.
Result<Pa> attach_dma_pool(Partition& p, LoaderEnv& env, uint64_t size);

// Maps physical device registers [base, base + size) into server `p`'s
// Stage 2 at the same addresses, as device memory. The caller decides which
// devices a server may have.
Status grant_device_memory(Partition& p, Pa base, uint64_t size);

}  // namespace hyp
