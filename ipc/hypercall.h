// The hypercall ABI partitions use (docs/abi.md): SMC Calling Convention
// function IDs in the vendor-specific hypervisor service range (owner 6,
// SMCCC 1.4 section 6), issued with HVC #0. x0 carries the function ID and
// returns the status; x1..x7 carry arguments and results.
#pragma once

#include <cstdint>

namespace hyp::abi {

// SMCCC function-ID fields (SMCCC 1.4, 2.5).
inline constexpr uint32_t kSmcccFast = 1u << 31;
inline constexpr uint32_t kSmccc64 = 1u << 30;
inline constexpr uint32_t kSmcccOwnerShift = 24;
inline constexpr uint32_t kSmcccOwnerMask = 0x3f;

enum class SmcccOwner : uint32_t {
  kArch = 0,
  kCpu = 1,
  kSip = 2,
  kOem = 3,
  kStandardSecure = 4,  // PSCI, FF-A
  kStandardHyp = 5,
  kVendorHyp = 6,
};

constexpr SmcccOwner smccc_owner(uint32_t function_id) {
  return static_cast<SmcccOwner>((function_id >> kSmcccOwnerShift) & kSmcccOwnerMask);
}

// Arm architecture calls (SMCCC 1.4, 7).
inline constexpr uint32_t kSmcccVersion = 0x8000'0000;
inline constexpr uint32_t kSmcccArchFeatures = 0x8000'0001;
inline constexpr uint32_t kSmcccArchSocId = 0x8000'0002;
inline constexpr uint32_t kSmcccArchWorkaround1 = 0x8000'8000;
inline constexpr uint32_t kSmcccArchWorkaround2 = 0x8000'7FFF;
inline constexpr uint32_t kSmcccArchWorkaround3 = 0x8000'3FFF;
inline constexpr uint32_t kSmcccVersion1_1 = 0x1'0001;

// General service queries every owner's range answers (SMCCC 1.4, 6.2):
// for the vendor-specific hypervisor service, the kernel's own.
inline constexpr uint32_t kVendorHypCallCount = 0x8600'FF00;  // -> x0 = calls in the range
inline constexpr uint32_t kVendorHypUid = 0x8600'FF01;        // -> x0..x3 = the UID
inline constexpr uint32_t kVendorHypRevision = 0x8600'FF03;   // -> x0 = major, x1 = minor

// The UID this hypervisor answers at kVendorHypUid, so that a partition can
// tell which hypervisor it runs on (Linux uses the calls KVM numbers in
// this range only behind KVM's UID): 5c1c0e7e-9f3a-4d2b-8a61-73e94b0d2c18,
// as the four 32-bit words SMCCC returns, bytes in UUID order and little-
// endian within each word (the convention Linux's UUID helpers use).
inline constexpr uint32_t kVendorHypUidWords[4] = {0x7e0e1c5c, 0x2b4d3a9f, 0xe973618a, 0x182c0d4b};

// The TRNG interface (Arm DEN0098, TRNG 1.0), backed by the CPU's random
// number instruction (RNDR) when it has one.
inline constexpr uint32_t kTrngVersion = 0x8400'0050;  // -> x0 = 0x10000 (1.0)
inline constexpr uint32_t kTrngFeatures = 0x8400'0051;  // x1 = function ID -> x0 = 0 or -1
inline constexpr uint32_t kTrngGetUuid = 0x8400'0052;   // -> x0..x3 = the back end's UUID
inline constexpr uint32_t kTrngRnd32 = 0x8400'0053;     // x1 = bits (1..96) -> x0 = 0, x1..x3 = entropy
inline constexpr uint32_t kTrngRnd64 = 0xC400'0053;     // x1 = bits (1..192) -> x0 = 0, x1..x3 = entropy
inline constexpr uint32_t kTrngVersion1_0 = 0x1'0000;
inline constexpr int64_t kTrngInvalidParameters = -2;
inline constexpr int64_t kTrngNoEntropy = -3;
// The TRNG back end's UUID (RNDR behind this hypervisor):
// 0b7f3c2e-51d4-4a8e-b6c9-2f0e8d1a9c37.
inline constexpr uint32_t kTrngUuidWords[4] = {0x2e3c7f0b, 0x8e4ad451, 0x0e2fc9b6, 0x379c1a8d};

// SMCCC "unknown function" (SMCCC 1.4, 5.2): -1, sign-extended into x0.
inline constexpr uint64_t kSmcccNotSupported = ~uint64_t{0};

// Our hypervisor calls. Status codes in x0 are hyp::Status values as a
// negative number (0 is success), see docs/abi.md.
inline constexpr uint32_t kHypVersion = 0x8600'0000;      // -> x0 = 0, x1 = ABI version (major << 16 | minor)
inline constexpr uint32_t kHypDebugPutc = 0x8600'0001;    // x1 = byte; -> x0 = 0
inline constexpr uint32_t kHypDebugWrite = 0xC600'0002;   // x1 = IPA, x2 = length (<= 256) -> x0 = 0 or error
inline constexpr uint32_t kHypAbiVersion = 0x0001'0000;  // 1.0

// Device servers (docs/servers.md).
// Server: every request taken so far is answered; returns when there is more.
inline constexpr uint32_t kHypServerWait = 0x8600'0010;  // -> x0 = 0
// Control partitions: restart server partition x1 (its partition ID) as a
// planned restart: quiesced, rebuilt from its image, resumed with its state.
inline constexpr uint32_t kHypServerRestart = 0x8600'0011;  // x1 = id -> x0 = 0 or error
// The control calls (docs/control.md). A partition with the control right
// may act on the servers its manifest names (all of them: `control;` alone).
// A guest's restart call returns once the new instance has run; a server's
// returns once the restart is under way (a server must not wait on another,
// or on itself). Stop: the server is quiesced and then not run; accesses to
// its devices read as zero and writes are ignored. Start: a stopped server,
// one not started at boot (manifest `stopped`), or one given up on is
// rebuilt from its image and run, resuming from its state page.
inline constexpr uint32_t kHypServerStop = 0x8600'0015;   // x1 = id -> x0 = 0 or error
inline constexpr uint32_t kHypServerStart = 0x8600'0016;  // x1 = id -> x0 = 0 or error
// Reads the system's state into the caller's memory: x1 = what
// (ipc/control.h, ControlRead), x2 = its argument, x3 = IPA of the buffer,
// x4 = its size -> x0 = 0 or error, x1 = bytes written. The buffer must be
// the caller's own writable RAM; nothing is written unless all of it is.
inline constexpr uint32_t kHypControlRead = 0xC600'0017;
// Trace recording (docs/control.md, "Traces"): x1 = 1 empties every CPU's
// ring and starts recording, 0 stops it -> x0 = 0 or error.
inline constexpr uint32_t kHypTraceSet = 0x8600'0018;

// Virtual interrupts of a server's client guests (docs/abi.md, "Virtual
// interrupts"). x1 = the server's device number (which names the guest),
// x2 = the vCPU whose bank INTIDs 0..31 are (ignored for SPIs), x3 = INTID.
// Configuration and queries: the guest's interrupt controller server only.
inline constexpr uint32_t kHypIrqConfig = 0x8600'0012;  // x4 = config word -> x0 = 0 or error
inline constexpr uint32_t kHypIrqQuery = 0x8600'0013;   // -> x0 = 0, x1 = config word, x2 = state bits
// Signals: a device server for its device's own INTID (kLower, kRaise,
// kSetPending); the interrupt controller server any op for any INTID
// (GICD_ISPENDR, GICD_ICPENDR, GICD_ISACTIVER, GICD_ICACTIVER).
// x5: the number of the request being served (0: none). A signal carrying
// the same non-zero number as the last one applied to that interrupt is the
// same request served again by a restarted instance: answered 0, not
// applied a second time.
inline constexpr uint32_t kHypIrqSignal = 0x8600'0014;  // x4 = IrqOp, x5 = request -> x0 = 0 or error

namespace irq {
// A guest's INTIDs: SGIs and PPIs 0..31 (a bank per vCPU), then its SPIs.
inline constexpr uint32_t kFirstSpi = 32;
inline constexpr uint32_t kSpiCount = 64;
inline constexpr uint32_t kIntidLimit = kFirstSpi + kSpiCount;  // SPIs 32..95
// The config word.
inline constexpr uint64_t kEnabled = 1u << 0;
inline constexpr uint64_t kGroup1 = 1u << 1;
inline constexpr uint64_t kEdge = 1u << 2;
inline constexpr int kPriorityShift = 8;  // [15:8]
inline constexpr int kTargetShift = 16;   // [23:16]: an SPI's target vCPU
// The state bits.
inline constexpr uint64_t kPending = 1u << 0;
inline constexpr uint64_t kActive = 1u << 1;
inline constexpr uint64_t kLineHigh = 1u << 2;
// Signals.
enum class Op : uint64_t {
  kLower = 0,         // a level input goes low
  kRaise = 1,         // a level input goes high (an edge on an edge-triggered one)
  kSetPending = 2,    // pending until taken, whatever the trigger
  kClearPending = 3,  // interrupt controller server only
  kSetActive = 4,     // interrupt controller server only
  kClearActive = 5,   // interrupt controller server only
};
}  // namespace irq

inline constexpr uint64_t kHypDebugWriteMax = 256;

// The number of calls in our range, for kVendorHypCallCount: HYP_VERSION,
// HYP_DEBUG_PUTC, HYP_DEBUG_WRITE, HYP_SERVER_WAIT, HYP_SERVER_RESTART,
// HYP_IRQ_CONFIG, HYP_IRQ_QUERY, HYP_IRQ_SIGNAL, HYP_SERVER_STOP,
// HYP_SERVER_START, HYP_CONTROL_READ, HYP_TRACE_SET.
inline constexpr uint32_t kHypCallCount = 12;

}  // namespace hyp::abi
