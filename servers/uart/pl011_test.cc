#include "servers/uart/pl011.h"

#include <gtest/gtest.h>

#include <string>

namespace hyp::server {
namespace {

constexpr uint64_t kDr = Pl011::kDr;
constexpr uint64_t kFr = Pl011::kFr;
constexpr uint64_t kLcrH = Pl011::kLcrH;
constexpr uint64_t kCr = Pl011::kCr;
constexpr uint64_t kIfls = Pl011::kIfls;
constexpr uint64_t kImsc = Pl011::kImsc;
constexpr uint64_t kRis = Pl011::kRis;
constexpr uint64_t kMis = Pl011::kMis;
constexpr uint64_t kIcr = Pl011::kIcr;
constexpr uint32_t kFen = Pl011::kLcrFen;
constexpr uint32_t kRxfe = Pl011::kFrRxfe, kTxff = Pl011::kFrTxff, kRxff = Pl011::kFrRxff, kTxfe = Pl011::kFrTxfe;

// The server's side of the transmitter: what went out.
struct Recorder final : Pl011::Transmitter {
  void transmit(uint8_t byte) override { out.push_back(static_cast<char>(byte)); }
  std::string out;
};

// What waits in a UART without a transmitter, taken out by attaching one.
std::string drain_all(Pl011& u) {
  Recorder r;
  u.attach(&r);
  u.attach(nullptr);
  return r.out;
}

TEST(Pl011, IdentifiesAsAnArmPl011ToTheAmbaBus) {
  Pl011 u;
  const uint8_t expect[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
  for (unsigned i = 0; i < 8; ++i) {
    EXPECT_EQ(u.read(0xfe0 + 4 * i, 4), expect[i]) << i;
    EXPECT_EQ(u.read(0xfe0 + 4 * i, 2), expect[i]) << "16-bit, as amba-pl011 reads";
  }
}

TEST(Pl011, ResetStateMatchesTheTrm) {
  Pl011 u;
  EXPECT_EQ(u.read(kCr, 4), 0x300u);
  EXPECT_EQ(u.read(kIfls, 4), 0x12u);
  EXPECT_EQ(u.read(kFr, 4), kRxfe | kTxfe);
  EXPECT_EQ(u.read(kImsc, 4), 0u);
  EXPECT_FALSE(u.interrupt());
}

TEST(Pl011, WithATransmitterEveryWrittenByteGoesOutAtOnceWhateverTheFifoDepth) {
  // A guest that writes DR without polling FR.TXFF, as early consoles do on
  // QEMU's PL011: nothing is lost with the FIFO off (one byte deep) or on.
  for (uint32_t lcr : {0u, kFen}) {
    Pl011 u;
    Recorder r;
    u.attach(&r);
    u.write(kLcrH, 4, lcr);
    std::string sent;
    for (int i = 0; i < 300; ++i) {
      const char c = static_cast<char>('a' + i % 26);
      u.write(kDr, i % 2 == 0 ? 4 : 2, static_cast<uint8_t>(c));
      sent.push_back(c);
    }
    EXPECT_EQ(r.out, sent) << "LCR_H 0x" << std::hex << lcr;
    EXPECT_EQ(u.read(kRis, 4) & Pl011::kIntOverrun, 0u);
  }
}

TEST(Pl011, WithATransmitterTheFlagsAndTransmitInterruptSayTheFifoIsEmpty) {
  for (uint32_t lcr : {0u, kFen}) {
    Pl011 u;
    Recorder r;
    u.attach(&r);
    u.write(kLcrH, 4, lcr);
    u.write(kImsc, 4, Pl011::kIntTx);
    for (int i = 0; i < 40; ++i) {
      u.write(kDr, 4, 'x');
      // A driver polling TXFF, or waiting for BUSY to clear, goes on; one
      // waiting for the transmit interrupt gets it.
      EXPECT_EQ(u.read(kFr, 4) & (kTxff | kTxfe | Pl011::kFrBusy), kTxfe);
      EXPECT_EQ(u.read(kMis, 4), Pl011::kIntTx);
      EXPECT_TRUE(u.interrupt());
    }
    EXPECT_EQ(r.out, std::string(40, 'x'));
  }
}

TEST(Pl011, AttachingSendsWhatWaitsAndResetKeepsTheTransmitter) {
  Pl011 u;
  u.write(kLcrH, 4, kFen);
  u.write(kDr, 4, 'a');
  u.write(kDr, 4, 'b');
  EXPECT_EQ(u.read(kFr, 4) & (kTxfe | Pl011::kFrBusy), Pl011::kFrBusy) << "no transmitter: the bytes wait";
  Recorder r;
  u.attach(&r);
  EXPECT_EQ(r.out, "ab");
  EXPECT_EQ(u.read(kFr, 4) & kTxfe, kTxfe);
  u.reset();  // the guest's reset: registers, not the wire
  u.write(kDr, 1, 'c');
  EXPECT_EQ(r.out, "abc");
}

TEST(Pl011, WithoutATransmitterBytesWaitAndAFullFifoLosesTheByte) {
  Pl011 u;
  u.write(kDr, 4, 'h');
  EXPECT_EQ(u.read(kFr, 4) & kTxff, kTxff) << "without FEN the FIFO is one byte deep";
  u.write(kDr, 4, 'x');  // lost, as on the hardware: overrun
  EXPECT_NE(u.read(kRis, 4) & Pl011::kIntOverrun, 0u);
  EXPECT_EQ(drain_all(u), "h");
  EXPECT_EQ(u.read(kFr, 4) & (kTxff | kTxfe), kTxfe);

  u.write(kLcrH, 4, kFen);
  for (char c : std::string(32, 'a')) u.write(kDr, 2, static_cast<uint8_t>(c));
  EXPECT_EQ(u.read(kFr, 4) & kTxff, kTxff);
  EXPECT_EQ(drain_all(u), std::string(32, 'a'));
}

TEST(Pl011, ReceiveTakesOnlyWhatItCanHoldAndDataComesOutInOrder) {
  Pl011 u;
  EXPECT_TRUE(u.receive('1'));
  EXPECT_FALSE(u.receive('2')) << "one-byte holding register when FIFOs are off";
  EXPECT_EQ(u.read(kFr, 4) & (kRxff | kRxfe), kRxff);
  EXPECT_EQ(u.read(kDr, 4), uint64_t{'1'});
  EXPECT_EQ(u.read(kFr, 4) & kRxfe, kRxfe);
  u.write(kLcrH, 4, kFen);
  EXPECT_EQ(u.receive_space(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_TRUE(u.receive(static_cast<uint8_t>('A' + i)));
  EXPECT_FALSE(u.receive('!'));
  for (int i = 0; i < 32; ++i) EXPECT_EQ(u.read(kDr, 4), uint64_t('A' + i));
  EXPECT_EQ(u.read(kDr, 4), 0u) << "reading an empty FIFO returns 0";
}

TEST(Pl011, ReceiveInterruptsFollowIflsAndTheMask) {
  Pl011 u;
  u.write(kLcrH, 4, kFen);
  u.write(kImsc, 4, Pl011::kIntRx | Pl011::kIntRxTimeout);
  u.receive('a');
  EXPECT_EQ(u.read(kMis, 4), Pl011::kIntRxTimeout) << "below the half-full level: timeout";
  for (int i = 0; i < 15; ++i) u.receive('b');
  EXPECT_EQ(u.read(kMis, 4), Pl011::kIntRx) << "16 bytes: at the level";
  EXPECT_TRUE(u.interrupt());
  for (int i = 0; i < 16; ++i) u.read(kDr, 4);
  EXPECT_EQ(u.read(kMis, 4), 0u);
  EXPECT_FALSE(u.interrupt());
  // IFLS 1/8 (code 0): four bytes trigger.
  u.write(kIfls, 4, 0);
  for (int i = 0; i < 4; ++i) u.receive('c');
  EXPECT_EQ(u.read(kRis, 4) & Pl011::kIntRx, Pl011::kIntRx);
}

TEST(Pl011, TransmitInterruptIsMaskableAndOverrunIsClearedByIcr) {
  Pl011 u;
  EXPECT_NE(u.read(kRis, 4) & Pl011::kIntTx, 0u) << "empty transmit FIFO wants data";
  EXPECT_FALSE(u.interrupt()) << "masked";
  u.write(kImsc, 4, Pl011::kIntTx);
  EXPECT_TRUE(u.interrupt());
  u.write(kDr, 4, 'a');
  u.write(kDr, 4, 'b');
  EXPECT_NE(u.read(kRis, 4) & Pl011::kIntOverrun, 0u);
  u.write(kIcr, 4, Pl011::kIntOverrun);
  EXPECT_EQ(u.read(kRis, 4) & Pl011::kIntOverrun, 0u);
}

TEST(Pl011, OddAccessesAreAnsweredHarmlessly) {
  Pl011 u;
  u.receive('z');
  EXPECT_EQ(u.read(kDr + 2, 2), 0u) << "upper half of DR";
  EXPECT_EQ(u.read(kDr, 8), 0u) << "no 64-bit registers";
  EXPECT_EQ(u.read(kDr, 1), uint64_t{'z'}) << "the byte is still there";
  EXPECT_EQ(u.read(0x100, 4), 0u);
  u.write(0x100, 4, 0xffff'ffff);
  u.write(kFr, 4, 0);  // read-only
  u.write(kCr + 1, 1, 0xff);  // not from byte 0: ignored
  EXPECT_EQ(u.read(kCr, 4), 0x300u);
  EXPECT_EQ(u.read(kFr, 4), kRxfe | kTxfe);
}

TEST(Pl011, ResetDropsQueuedDataAndRestoresRegisters) {
  Pl011 u;
  u.write(kLcrH, 4, kFen);
  u.write(kDr, 4, 'q');
  u.receive('r');
  u.write(kImsc, 4, 0x7ff);
  u.reset();
  EXPECT_EQ(drain_all(u), "");
  EXPECT_EQ(u.read(kFr, 4), kRxfe | kTxfe);
  EXPECT_EQ(u.read(kImsc, 4), 0u);
  EXPECT_EQ(u.read(kLcrH, 4), 0u);
}

}  // namespace
}  // namespace hyp::server
