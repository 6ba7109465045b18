#include "kernel/psci/firmware.h"

#include "kernel/arch/smccc.h"

namespace hyp::psci {
namespace {

// PSCI return values are 32-bit signed integers in w0 (SMCCC 1.4, 2.6); the
// upper half of x0 is not part of the result.
Ret to_ret(uint64_t x0) { return static_cast<Ret>(static_cast<int32_t>(static_cast<uint32_t>(x0))); }

uint64_t call(uint32_t function, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0) {
  arch::SmcArgs args;
  args.x[0] = function;
  args.x[1] = a1;
  args.x[2] = a2;
  args.x[3] = a3;
  return arch::smc_call(args).x[0];
}

}  // namespace

Version firmware_version() {
  const auto v = static_cast<uint32_t>(call(kVersion));
  return {static_cast<uint16_t>(v >> 16), static_cast<uint16_t>(v & 0xffff)};
}

Ret cpu_on(uint64_t mpidr, Pa entry, uint64_t context) { return to_ret(call(kCpuOn64, mpidr, entry.value(), context)); }

Ret system_off() { return to_ret(call(kSystemOff)); }

Ret system_reset() { return to_ret(call(kSystemReset)); }

}  // namespace hyp::psci
