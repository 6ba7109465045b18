// What the kernel learns from the device tree QEMU (or firmware) hands it in
// x0: RAM, CPUs, the GICv3, the console UART, how to reach PSCI, and the
// command line. Everything in the blob is validated; a malformed tree yields
// an error naming the first problem, never a crash.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/addr.h"
#include "base/status.h"

namespace hyp {

inline constexpr size_t kMaxCpus = 8;
inline constexpr size_t kMaxRamRanges = 8;
inline constexpr size_t kMaxBootargs = 256;
// The largest device tree the kernel accepts.
inline constexpr size_t kMaxDtbSize = 2 << 20;

struct MemRange {
  Pa base;
  uint64_t size = 0;

  constexpr uint64_t end() const { return base.value() + size; }
};

enum class PsciConduit : uint8_t { kNone, kSmc, kHvc };

// A device of the machine that a server may be given (docs/servers.md,
// "Devices"): its register window (the first reg entry) and its interrupt,
// if it has one wired to the GIC as an SPI.
struct HostDevice {
  MemRange reg;
  uint32_t irq = 0;  // INTID (32..1019), 0 if none
};
inline constexpr size_t kMaxHostDevices = 64;

struct BootInfo {
  std::array<MemRange, kMaxRamRanges> ram{};
  size_t ram_count = 0;

  std::array<uint64_t, kMaxCpus> cpu_mpidr{};  // affinity fields of each CPU's MPIDR
  size_t cpu_count = 0;
  size_t cpus_ignored = 0;  // CPUs beyond kMaxCpus

  MemRange gic_dist;    // GICv3 distributor
  MemRange gic_redist;  // first redistributor region

  MemRange uart;  // the console PL011

  // Every other enabled device under the root with a compatible and a
  // register window (not RAM, not the GIC), up to kMaxHostDevices.
  std::array<HostDevice, kMaxHostDevices> devices{};
  size_t device_count = 0;
  size_t devices_ignored = 0;  // beyond kMaxHostDevices

  PsciConduit psci = PsciConduit::kNone;

  std::array<char, kMaxBootargs> bootargs{};  // NUL-terminated, possibly empty

  // The boot package, loaded by QEMU's -initrd (/chosen linux,initrd-*);
  // size 0 if there is none.
  MemRange package;
};

struct DtbError {
  Status status = Status::kOk;
  const char* what = "";  // static text naming the first problem found
};

// Parses the device tree at `fdt`, of which at most `available` bytes may be
// read. On failure, `error` names the problem.
Result<BootInfo> parse_boot_dtb(const void* fdt, size_t available, DtbError& error);

// The device tree's declared total size, or 0 if the header is not a device
// tree header. Reads only the first 8 bytes.
size_t dtb_total_size(const void* fdt);

// True when `word` occurs in the space-separated `bootargs`.
bool bootargs_has(const char* bootargs, const char* word);

}  // namespace hyp
