// The registers EL1 can name that the kernel traps rather than switches,
// checked the same way from a guest and from a server (docs/vcpu.md): each
// is UNDEFINED, or emulated with a fixed value, on either side.
#pragma once

#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"

namespace el1_state {

// Runs `access` (an MRS or MSR) with the catch armed; true if it was UNDEFINED.
template <typename F>
bool undefined(F access) {
  rt::arm_catch();
  access();
  const rt::Caught c = rt::caught();
  return c.taken && (c.esr >> 26) == 0;
}

inline void check_trapped(bool server) {
  uint64_t v = 0xbad;
  // ICC_SRE_EL1 is not virtualized: trapped, read as SRE|DFB|DIB, writes ignored.
  const bool sre_write_undefined = undefined([] { asm volatile("msr S3_0_C12_C12_5, xzr\n\tisb"); });
  asm volatile("mrs %0, S3_0_C12_C12_5" : "=r"(v));
  guest::check(!sre_write_undefined && v == 0x7, "icc_sre_el1_emulated", "read 0x%lx", v);
  // RAS error records: none.
  v = 0xbad;
  asm volatile("mrs %0, S3_0_C5_C3_0" : "=r"(v));  // ERRIDR_EL1
  guest::check(v == 0, "erridr_el1_reads_no_records", "read 0x%lx", v);
  // ERXCTLR_EL1: trapped by HCR_EL2.TERR and read as zero, or, where the
  // CPU has no error-record registers at all (QEMU), UNDEFINED.
  v = 0xbad;
  const bool erx_undefined = undefined([] { asm volatile("msr S3_0_C5_C4_1, %0" ::"r"(uint64_t{0xff})); }) &&
                             undefined([&] { asm volatile("mrs %0, S3_0_C5_C4_1" : "=r"(v)); });
  if (!erx_undefined) asm volatile("mrs %0, S3_0_C5_C4_1" : "=r"(v));
  guest::check(erx_undefined || v == 0, "erxctlr_el1_raz_wi", "read 0x%lx", v);
  // Features no partition gets: their registers are UNDEFINED.
  guest::check(undefined([&] { asm volatile("mrs %0, S3_0_C2_C0_3" : "=r"(v)); }), "tcr2_el1_undefined", "%s", "not undefined");
  guest::check(undefined([&] { asm volatile("mrs %0, S3_0_C10_C4_3" : "=r"(v)); }), "lorc_el1_undefined", "%s", "not undefined");
  guest::check(undefined([&] { asm volatile("mrs %0, S3_0_C13_C0_7" : "=r"(v)); }), "scxtnum_el1_undefined", "%s", "not undefined");
  guest::check(undefined([&] { asm volatile("mrs %0, S3_0_C10_C2_3" : "=r"(v)); }), "pir_el1_undefined", "%s", "not undefined");
  guest::check(undefined([&] { asm volatile("mrs %0, S3_0_C10_C2_4" : "=r"(v)); }), "por_el1_undefined", "%s", "not undefined");
  guest::check(undefined([&] { asm volatile("mrs %0, S3_3_C9_C12_0" : "=r"(v)); }), "pmcr_el0_undefined", "%s", "not undefined");
  // ZCR_EL1 with EL1's own SVE and FP traps (CPACR_EL1.ZEN, FPEN) open, so
  // that what stops it is the kernel's (CPTR_EL2.TZ; TFP too in servers).
  uint64_t cpacr;
  asm volatile("mrs %0, cpacr_el1" : "=r"(cpacr));
  asm volatile("msr cpacr_el1, %0\n\tisb" ::"r"(cpacr | (uint64_t{3} << 16) | (uint64_t{3} << 20)));
  const bool zcr_undefined = undefined([&] { asm volatile("mrs %0, S3_0_C1_C2_0" : "=r"(v)); });
  asm volatile("msr cpacr_el1, %0\n\tisb" ::"r"(cpacr));
  guest::check(zcr_undefined, "zcr_el1_undefined", "taken %d, ESR 0x%lx", rt::caught().taken, rt::caught().esr);
  if (server) {
    // Servers trap pointer authentication: the guest's keys stay in the CPU
    // out of their reach.
    guest::check(undefined([&] { asm volatile("mrs %0, S3_0_C2_C1_0" : "=r"(v)); }), "apiakeylo_el1_undefined", "%s", "not undefined");
    // Servers trap the virtual CPU interface (ICH_HCR_EL2.TC/TALL0/TALL1):
    // the guest's stays in place while they run.
    guest::check(undefined([&] { asm volatile("mrs %0, S3_0_C4_C6_0" : "=r"(v)); }), "icc_pmr_el1_undefined", "%s", "not undefined");
  }
}

}  // namespace el1_state
