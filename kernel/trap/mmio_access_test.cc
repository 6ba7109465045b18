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
  EXPECT_FALSE(decode_mmio(EsrDataAbort(Esr(0x24ull << 26)), Ipa(0x900'0000)).has_value());
  const uint64_t cm = syndrome(2, false, 1, false, false).raw() | (1u << 8);
  EXPECT_FALSE(decode_mmio(EsrDataAbort(Esr(cm)), Ipa(0)).has_value());
  const uint64_t walk = syndrome(2, false, 1, false, false).raw() | (1u << 7);
  EXPECT_FALSE(decode_mmio(EsrDataAbort(Esr(walk)), Ipa(0)).has_value());
}

// Every ISV = 1 load form: 4 widths x sign extension x W/X register, into
// every register including XZR, against a device value with its top bit set.
TEST(DecodeMmio, EveryLoadFormProducesTheArchitecturalRegisterValue) {
  for (unsigned sas = 0; sas < 4; ++sas) {
    for (bool sse : {false, true}) {
      for (bool sf : {false, true}) {
        for (unsigned srt = 0; srt < 32; ++srt) {
          const auto a = decode_mmio(EsrDataAbort(syndrome(sas, sse, srt, sf, false)), Ipa(0x900'0018));
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
      const auto a = decode_mmio(EsrDataAbort(syndrome(sas, false, srt, sas == 3, true)), Ipa(0x900'0000));
      ASSERT_TRUE(a.has_value());
      EXPECT_TRUE(a->write);
      const unsigned bits = 8u << sas;
      const uint64_t reg = srt == 31 ? 0 : 0x1122'3344'5566'7788 + srt;
      EXPECT_EQ(mmio_write_value(ctx, *a), bits == 64 ? reg : reg & ((1ull << bits) - 1)) << sas << " " << srt;
    }
  }
}

}  // namespace
}  // namespace hyp
