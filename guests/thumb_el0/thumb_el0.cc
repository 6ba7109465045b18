// Runs a few T32 (Thumb) instructions at EL0 in AArch32 state that access
// the forwarded PL011 with 16-bit loads and stores, one of them inside an
// IT block (thumb_el0_test). The kernel completes each access for the
// server and must step over it as the hardware would: by 2 bytes for a
// 16-bit instruction (ESR.IL = 0), with ITSTATE advanced inside an IT block.
// Stepping by 4 skips the next instruction; not advancing ITSTATE runs
// the rest of the block under the wrong conditions.
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "guests/lib/uart.h"
#include "runtime/runtime.h"

namespace {

using guest::check;
using Regs = guest::uart::Regs;

struct El0Entry {
  uint64_t entry;
  uint64_t spsr;
  uint64_t r0;
  uint64_t r1;
};

struct El0Exit {
  uint64_t x[6];
  uint64_t esr;
  uint64_t elr;
  uint64_t spsr;
  uint64_t far;
  uint64_t vector;
};

extern "C" void el0_run(const El0Entry* in, El0Exit* out);

// T32 encodings (Arm ARM, F3 "T32 instruction set encoding"), 16-bit forms.
constexpr uint16_t str_imm(unsigned rt, unsigned rn, unsigned offset) {  // STR (immediate) T1: 01100 imm5 Rn Rt
  return static_cast<uint16_t>(0x6000 | (offset / 4) << 6 | rn << 3 | rt);
}
constexpr uint16_t ldr_imm(unsigned rt, unsigned rn, unsigned offset) {  // LDR (immediate) T1: 01101 imm5 Rn Rt
  return static_cast<uint16_t>(0x6800 | (offset / 4) << 6 | rn << 3 | rt);
}
constexpr uint16_t adds_imm8(unsigned rdn, unsigned imm) {  // ADDS (immediate) T2: 00110 Rdn imm8 (ADD<c> in an IT block)
  return static_cast<uint16_t>(0x3000 | rdn << 8 | imm);
}
constexpr uint16_t cmp_reg(unsigned rn, unsigned rm) {  // CMP (register) T1: 0100001010 Rm Rn
  return static_cast<uint16_t>(0x4280 | rm << 3 | rn);
}
constexpr uint16_t it(unsigned firstcond, unsigned mask) { return static_cast<uint16_t>(0xbf00 | firstcond << 4 | mask); }
constexpr uint16_t svc(unsigned imm) { return static_cast<uint16_t>(0xdf00 | imm); }
constexpr uint16_t kBranchToSelf = 0xe7fe;  // B T2 with offset -4: a loop, never reached

// Hand-encoded values checked against the architecture's tables.
static_assert(str_imm(1, 0, 0x24) == 0x6241);
static_assert(ldr_imm(3, 0, 0x24) == 0x6a43);
static_assert(adds_imm8(2, 1) == 0x3201);
static_assert(cmp_reg(0, 0) == 0x4280);
static_assert(it(0x0, 0xc) == 0xbf0c);  // ITE EQ: firstcond EQ, then one E (mask 1100)
static_assert(svc(0) == 0xdf00);

constexpr unsigned kIbrd = static_cast<unsigned>(Regs::kIbrd);

// r0 = the PL011, r1 = the value to store; r2, r4, r5 count instructions
// that must run once each, and r3 takes the load.
constexpr uint16_t kCode[] = {
    str_imm(1, 0, kIbrd),  // 0x00  16-bit store, forwarded
    adds_imm8(2, 1),       // 0x02  skipped if the store is stepped over by 4
    ldr_imm(3, 0, kIbrd),  // 0x04  16-bit load, forwarded
    adds_imm8(4, 1),       // 0x06  skipped if the load is stepped over by 4
    cmp_reg(0, 0),         // 0x08  Z = 1
    it(0x0, 0xc),          // 0x0a  ITE EQ
    str_imm(1, 0, kIbrd),  // 0x0c  STREQ: runs, forwarded inside the block
    adds_imm8(2, 1),       // 0x0e  ADDNE: must not run
    adds_imm8(5, 1),       // 0x10  after the block: runs, unconditionally
    svc(0),                // 0x12  back to EL1; ELR = 0x14
    svc(1),                // 0x14  reached only if SVC #0 was skipped
    kBranchToSelf,         // 0x16
};
constexpr uint64_t kSvcOffset = 0x12;

alignas(64) uint16_t g_code[sizeof(kCode) / sizeof(kCode[0])];

// SPSR_EL1 for the EL0 run: AArch32 (M[4] = 1) User mode, T32 (T, bit 5),
// asynchronous exceptions masked (A, I, F), flags and ITSTATE clear.
constexpr uint64_t kSpsrUserThumb = 0x10 | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8);
constexpr uint64_t kSpsrItMask = (uint64_t{3} << 25) | (uint64_t{0x3f} << 10);

uint64_t id_aa64pfr0() {
  uint64_t v;
  asm volatile("mrs %0, id_aa64pfr0_el1" : "=r"(v));
  return v;
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  // ID_AA64PFR0_EL1.EL0 (bits 3:0): 2 if EL0 can run AArch32.
  const uint64_t el0 = id_aa64pfr0() & 0xf;
  if (el0 != 2) {
    rt::print("thumb el0: skipped: EL0 is AArch64 only here (ID_AA64PFR0_EL1.EL0 = %lu)\n", el0);
    guest::finish("thumb el0");
    return;
  }
  for (size_t i = 0; i < sizeof(kCode) / sizeof(kCode[0]); ++i) g_code[i] = kCode[i];
  // The code was written as data: make it visible to instruction fetch.
  asm volatile("dsb ish\n\tic iallu\n\tdsb ish\n\tisb" ::: "memory");

  const uint64_t code = reinterpret_cast<uint64_t>(g_code);
  constexpr uint64_t kValue = 0x1234'5678;
  const El0Entry in{code, kSpsrUserThumb, guest::uart::kBase, kValue};
  El0Exit out{};
  el0_run(&in, &out);

  const uint32_t r2 = static_cast<uint32_t>(out.x[2]);
  const uint32_t r3 = static_cast<uint32_t>(out.x[3]);
  const uint32_t r4 = static_cast<uint32_t>(out.x[4]);
  const uint32_t r5 = static_cast<uint32_t>(out.x[5]);
  const uint64_t ec = out.esr >> 26;
  check(out.vector == 0x600 && ec == 0x11, "el0_run_ended_with_an_aarch32_svc", "vector 0x%lx ESR 0x%lx ELR 0x%lx",
        out.vector, out.esr, out.elr);
  check((out.esr & 0xffff) == 0 && out.elr == code + kSvcOffset + 2, "svc_0_at_its_place",
        "SVC #%lu, ELR at code + 0x%lx", out.esr & 0xffff, out.elr - code);
  check(r2 == 1, "instruction_after_16bit_store_ran_once_and_addne_did_not", "r2 = %u", r2);
  check(r4 == 1, "instruction_after_16bit_load_ran", "r4 = %u", r4);
  check(r3 == (kValue & 0xffff), "16bit_load_got_ibrd", "r3 = 0x%x", r3);
  check(r5 == 1, "it_block_left_with_itstate_advanced", "r5 = %u", r5);
  check((out.spsr & kSpsrItMask) == 0 && (out.spsr & 0x3f) == (0x10 | (1u << 5)), "svc_taken_outside_the_it_block",
        "SPSR 0x%lx", out.spsr);
  const uint32_t ibrd = guest::uart::read(Regs::kIbrd);
  check(ibrd == (kValue & 0xffff), "store_reached_the_pl011", "IBRD 0x%x", ibrd);
  guest::finish("thumb el0");
}
