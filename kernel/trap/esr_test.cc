#include "kernel/trap/esr.h"

#include <gtest/gtest.h>

#include "kernel/trap/inject.h"
#include "kernel/vcpu/context.h"

namespace hyp {
namespace {

TEST(Esr, DecodesClassLengthAndIss) {
  const Esr e(0x5a00'0000 | (1u << 25) | 0x1234);  // EC 0x16 (HVC64), IL, imm 0x1234
  EXPECT_EQ(e.ec(), Ec::kHvc64);
  EXPECT_TRUE(e.il());
  EXPECT_EQ(EsrCall(e).imm16(), 0x1234);
}

TEST(Esr, DataAbortFieldsComeFromTheirOwnBits) {
  // ISV, SAS=2 (4 bytes), SSE, SRT=7, SF, AR, FnV, CM, S1PTW, WnR, DFSC=0x07.
  const uint64_t iss = (1u << 24) | (2u << 22) | (1u << 21) | (7u << 16) | (1u << 15) | (1u << 14) | (1u << 10) |
                       (1u << 8) | (1u << 7) | (1u << 6) | 0x07;
  const EsrDataAbort d{Esr((0x24ull << 26) | iss)};
  EXPECT_TRUE(d.isv());
  EXPECT_EQ(d.access_bytes(), 4u);
  EXPECT_TRUE(d.sign_extend());
  EXPECT_EQ(d.srt(), 7u);
  EXPECT_TRUE(d.sixty_four());
  EXPECT_TRUE(d.acquire_release());
  EXPECT_TRUE(d.far_not_valid());
  EXPECT_TRUE(d.cache_maintenance());
  EXPECT_TRUE(d.s1ptw());
  EXPECT_TRUE(d.write());
  EXPECT_EQ(d.dfsc(), 0x07u);
  EXPECT_TRUE(d.is_translation_fault());
  EXPECT_FALSE(d.is_permission_fault());
  // Each field alone.
  EXPECT_FALSE(EsrDataAbort(Esr(0x24ull << 26)).isv());
  EXPECT_EQ(EsrDataAbort(Esr((0x24ull << 26) | (3u << 22))).access_bytes(), 8u);
  EXPECT_TRUE(EsrDataAbort(Esr((0x24ull << 26) | 0x0f)).is_permission_fault());
}

TEST(Esr, SysregKeyIgnoresRtAndDirection) {
  // MRS x5, ID_AA64PFR0_EL1 and MSR ID_AA64PFR0_EL1, x9.
  const uint64_t read = (0x18ull << 26) | sysreg_key(3, 0, 0, 4, 0) | (5u << 5) | 1u;
  const uint64_t write = (0x18ull << 26) | sysreg_key(3, 0, 0, 4, 0) | (9u << 5);
  EXPECT_EQ(EsrSysreg(Esr(read)).key(), EsrSysreg(Esr(write)).key());
  EXPECT_TRUE(EsrSysreg(Esr(read)).read());
  EXPECT_FALSE(EsrSysreg(Esr(write)).read());
  EXPECT_EQ(EsrSysreg(Esr(read)).rt(), 5u);
  EXPECT_EQ(EsrSysreg(Esr(read)).op0(), 3u);
  EXPECT_EQ(EsrSysreg(Esr(read)).crm(), 4u);
}

struct InjectCase {
  uint64_t pstate;
  uint64_t vector_offset;
};

class InjectVector : public ::testing::TestWithParam<InjectCase> {};

TEST_P(InjectVector, SavesStateAndEntersTheRightVectorAtEl1hMasked) {
  GuestPc at{0x1000, GetParam().pstate | (1u << 30)};
  El1ExceptionRegs el1{.vbar_el1 = 0x8000'0000, .elr_el1 = 0, .spsr_el1 = 0, .esr_el1 = 0, .far_el1 = 0};
  const uint64_t far = 0xdead'0000;
  inject_sync(at, el1, esr_undefined(true), &far);
  EXPECT_EQ(at.pc, 0x8000'0000 + GetParam().vector_offset);
  EXPECT_EQ(at.pstate, kPstateEl1h | kPstateDaif);
  EXPECT_EQ(el1.elr_el1, 0x1000u);
  EXPECT_EQ(el1.spsr_el1, GetParam().pstate | (1u << 30));
  EXPECT_EQ(el1.esr_el1, 1u << 25);
  EXPECT_EQ(el1.far_el1, far);
}

INSTANTIATE_TEST_SUITE_P(EveryOrigin, InjectVector,
                         ::testing::Values(InjectCase{kPstateEl1t, 0x000}, InjectCase{kPstateEl1h, 0x200},
                                           InjectCase{kPstateEl0t, 0x400}, InjectCase{kPstateAarch32 | 0x10, 0x600}));

TEST(Inject, AbortSyndromesNameTheOriginLevelAndDirection) {
  EXPECT_EQ(esr_external_data_abort(false, true, true), (0x25ull << 26) | (1u << 25) | (1u << 6) | 0x10);
  EXPECT_EQ(esr_external_data_abort(true, false, true), (0x24ull << 26) | (1u << 25) | 0x10);
  EXPECT_EQ(esr_external_instruction_abort(false), (0x21ull << 26) | (1u << 25) | 0x10);
}

TEST(Inject, FarIsLeftAloneWhenNotReported) {
  GuestPc at{0x1000, kPstateEl1h};
  El1ExceptionRegs el1{.vbar_el1 = 0, .elr_el1 = 0, .spsr_el1 = 0, .esr_el1 = 0, .far_el1 = 0x77};
  inject_sync(at, el1, esr_undefined(true), nullptr);
  EXPECT_EQ(el1.far_el1, 0x77u);
}

}  // namespace
}  // namespace hyp
