#include "kernel/trap/mmio_access.h"

#include <gtest/gtest.h>

namespace hyp {
namespace {

// A data-abort syndrome with ISV = 1 for the given access.
Esr syndrome(unsigned sas, bool sse, unsigned srt, bool sf, bool write) {
  return Esr((0x24ull << 26) | (1u << 25) | (1u << 24) | (uint64_t{sas} << 22) | (uint64_t{sse} << 21) |
             (uint64_t{srt} << 16) | (uint64_t{sf} << 15) | (uint64_t{write} << 6) | 0x07);
}

TEST(DecodeMmio, RefusesSyndromesWithoutAValidInstruction) {
  EXPECT_FALSE(decode_mmio(EsrDataAbort(Esr(0x24ull << 26)), Ipa(0x900'0000), 0, false).has_value());
  const uint64_t cm = syndrome(2, false, 1, false, false).raw() | (1u << 8);
  EXPECT_FALSE(decode_mmio(EsrDataAbort(Esr(cm)), Ipa(0), 0, false).has_value());
  const uint64_t walk = syndrome(2, false, 1, false, false).raw() | (1u << 7);
  EXPECT_FALSE(decode_mmio(EsrDataAbort(Esr(walk)), Ipa(0), 0, false).has_value());
}

// Every ISV = 1 load form: 4 widths x sign extension x W/X register, into
// every register including XZR, against a device value with its top bit set.
TEST(DecodeMmio, EveryLoadFormProducesTheArchitecturalRegisterValue) {
  for (unsigned sas = 0; sas < 4; ++sas) {
    for (bool sse : {false, true}) {
      for (bool sf : {false, true}) {
        for (unsigned srt = 0; srt < 32; ++srt) {
          const auto a = decode_mmio(EsrDataAbort(syndrome(sas, sse, srt, sf, false)), Ipa(0x900'0018), 0, false);
          ASSERT_TRUE(a.has_value());
          EXPECT_EQ(a->bytes, 1u << sas);
          EXPECT_FALSE(a->write);
          VcpuContext ctx{};
          for (auto& x : ctx.x) x = 0x5555'5555'5555'5555;
          ctx.pc = 0x1000;
          // Garbage above the access width must be dropped.
          complete_mmio_read(ctx, *a, 0xabab'abab'abab'ab80 | (uint64_t{0x80} << (8 * ((1u << sas) - 1))));

          const unsigned bits = 8u << sas;
          uint64_t expect = (0xabab'abab'abab'ab80 | (uint64_t{0x80} << (bits - 8))) &
                            (bits == 64 ? ~0ull : (1ull << bits) - 1);
          if (sse && bits < 64) expect |= ~0ull << bits;  // the top bit is set: sign-extend
          if (!sf) expect &= 0xffff'ffff;
          if (srt != 31) {
            EXPECT_EQ(ctx.x[srt], expect) << "sas " << sas << " sse " << sse << " sf " << sf << " srt " << srt;
          }
          for (unsigned other = 0; other < 31; ++other) {
            if (other != srt) EXPECT_EQ(ctx.x[other], 0x5555'5555'5555'5555u);
          }
          EXPECT_EQ(ctx.pc, 0x1004u);
        }
      }
    }
  }
}

TEST(DecodeMmio, EveryStoreFormTakesTheLowBytesOfItsRegister) {
  VcpuContext ctx{};
  for (unsigned r = 0; r < 31; ++r) ctx.x[r] = 0x1122'3344'5566'7788 + r;
  for (unsigned sas = 0; sas < 4; ++sas) {
    for (unsigned srt = 0; srt < 32; ++srt) {
      const auto a = decode_mmio(EsrDataAbort(syndrome(sas, false, srt, sas == 3, true)), Ipa(0x900'0000), 0, false);
      ASSERT_TRUE(a.has_value());
      EXPECT_TRUE(a->write);
      const unsigned bits = 8u << sas;
      const uint64_t reg = srt == 31 ? 0 : 0x1122'3344'5566'7788 + srt;
      EXPECT_EQ(mmio_write_value(ctx, *a), bits == 64 ? reg : reg & ((1ull << bits) - 1)) << sas << " " << srt;
    }
  }
}

// A 16-bit data-abort syndrome (IL = 0), as a T32 LDR/STR (T1/T2) reports.
Esr syndrome16(unsigned sas, unsigned srt, bool write) {
  return Esr(syndrome(sas, false, srt, false, write).raw() & ~(uint64_t{1} << 25));
}

constexpr uint64_t kPstateUser32Thumb = 0x10 | (1u << 5);  // AArch32 User, T

// ITSTATE as SPSR holds it: IT[1:0] in 26:25, IT[7:2] in 15:10.
uint64_t with_it(uint64_t pstate, uint32_t it) {
  return pstate | (uint64_t{it & 3} << 25) | (uint64_t{(it >> 2) & 0x3f} << 10);
}
uint32_t it_of(uint64_t pstate) {
  return static_cast<uint32_t>(((pstate >> 25) & 3) | (((pstate >> 10) & 0x3f) << 2));
}

TEST(StepOver, A16BitT32AccessAdvancesByTwoAnd32BitByFour) {
  const auto narrow = decode_mmio(EsrDataAbort(syndrome16(2, 1, true)), Ipa(0x900'0000), 0x900'0000, true);
  ASSERT_TRUE(narrow.has_value());
  EXPECT_FALSE(narrow->il32);
  VcpuContext ctx{};
  ctx.pstate = kPstateUser32Thumb;
  ctx.pc = 0x8000;
  complete_mmio_write(ctx, *narrow);
  EXPECT_EQ(ctx.pc, 0x8002u);
  complete_mmio_read(ctx, *narrow, 7);
  EXPECT_EQ(ctx.pc, 0x8004u);
  const auto wide = decode_mmio(EsrDataAbort(syndrome(2, false, 1, false, false)), Ipa(0x900'0000), 0, true);
  ASSERT_TRUE(wide.has_value());
  complete_mmio_read(ctx, *wide, 7);
  EXPECT_EQ(ctx.pc, 0x8008u);
  // AArch32 PCs wrap at 32 bits.
  ctx.pc = 0xffff'fffe;
  complete_mmio_write(ctx, *narrow);
  EXPECT_EQ(ctx.pc, 0u);
}

TEST(StepOver, InsideAnItBlockTheItStateAdvancesAsTheHardwareWould) {
  // ITE EQ: firstcond 0000, mask 1100 -> ITSTATE 0b0000'1100 for the first
  // instruction; the second runs as NE (ITSTATE 0b0001'1000); then it ends.
  VcpuContext ctx{};
  ctx.pstate = with_it(kPstateUser32Thumb, 0x0c);
  ctx.pc = 0x100;
  step_over(ctx, false);
  EXPECT_EQ(it_of(ctx.pstate), 0x18u);
  step_over(ctx, false);
  EXPECT_EQ(it_of(ctx.pstate), 0u);
  EXPECT_EQ(ctx.pstate & ~((uint64_t{3} << 25) | (uint64_t{0x3f} << 10)), kPstateUser32Thumb)
      << "nothing but ITSTATE changes";
  // ITEEE NE (firstcond 0001, mask 0001): the low bit of the condition
  // shifts out, so the next three run as EQ; the block lasts four steps.
  ctx.pstate = with_it(kPstateUser32Thumb, 0x11);
  step_over(ctx, true);
  EXPECT_EQ(it_of(ctx.pstate), 0x02u);
  step_over(ctx, true);
  EXPECT_EQ(it_of(ctx.pstate), 0x04u);
  step_over(ctx, true);
  EXPECT_EQ(it_of(ctx.pstate), 0x08u);
  step_over(ctx, true);
  EXPECT_EQ(it_of(ctx.pstate), 0u);
}

TEST(StepOver, AArch64AlwaysAdvancesByFourAndKeepsPstate) {
  VcpuContext ctx{};
  ctx.pstate = 0x3c5 | (uint64_t{3} << 25);  // bits that would be ITSTATE in AArch32
  ctx.pc = 0x4000'0000'0000;
  step_over(ctx, true);
  EXPECT_EQ(ctx.pc, 0x4000'0000'0004u);
  EXPECT_EQ(ctx.pstate, 0x3c5u | (uint64_t{3} << 25));
}

TEST(DecodeMmio, FromAArch32OnlyUserModeRegistersAreAccepted) {
  for (unsigned srt = 0; srt < 32; ++srt) {
    const bool ok = decode_mmio(EsrDataAbort(syndrome16(2, srt, false)), Ipa(0), 0, true).has_value();
    EXPECT_EQ(ok, srt <= 14) << srt;
  }
}

TEST(DecodeMmio, KeepsTheFaultingAddressUnlessFarIsNotValid) {
  const auto a = decode_mmio(EsrDataAbort(syndrome(2, false, 1, false, false)), Ipa(0x900'0010), 0xffff'0000'1234'5010,
                             false);
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->va_valid);
  EXPECT_EQ(a->va, 0xffff'0000'1234'5010u);
  const uint64_t fnv = syndrome(2, false, 1, false, false).raw() | (1u << 10);
  const auto b = decode_mmio(EsrDataAbort(Esr(fnv)), Ipa(0x900'0010), 0x1234, false);
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(b->va_valid);
}

}  // namespace
}  // namespace hyp
