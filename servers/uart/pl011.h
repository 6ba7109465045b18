// An Arm PrimeCell UART (PL011, TRM DDI 0183 r1p5) as a guest sees it, for
// the UART server. Register map (offsets in bytes; 8-, 16- and 32-bit
// accesses, as Linux's amba-pl011 driver uses 16-bit ones):
//
//   0x000 DR      data; reads pop the receive FIFO (errors in bits 11:8)
//   0x004 RSR/ECR receive status; a write clears it
//   0x018 FR      flags: BUSY 3, RXFE 4, TXFF 5, RXFF 6, TXFE 7 (read-only)
//   0x020 ILPR    IrDA low-power divisor (stored)
//   0x024 IBRD    integer baud divisor (16 bits, stored)
//   0x028 FBRD    fractional baud divisor (6 bits, stored)
//   0x02c LCR_H   line control; FEN (bit 4) enables the 32-byte FIFOs
//   0x030 CR      control (reset 0x300: TXE, RXE)
//   0x034 IFLS    FIFO interrupt levels (reset 0x12: both at half)
//   0x038 IMSC    interrupt mask
//   0x03c RIS     raw interrupt status (read-only)
//   0x040 MIS     masked interrupt status (read-only)
//   0x044 ICR     interrupt clear (write-only)
//   0x048 DMACR   DMA control (stored; there is no DMA)
//   0xfe0-0xffc   PeriphID0-3 = 0x11 0x10 0x14 0x00, PCellID0-3 = 0x0d 0xf0 0x05 0xb1
//
// Every other offset reads as zero and ignores writes. The receive, receive-
// timeout and transmit bits of RIS follow the FIFO levels (ICR cannot clear
// them while their condition holds; drivers mask them instead, as Linux's
// does for transmit); the timeout has no character clock and is immediate.
// Transmission does not depend on CR.UARTEN/TXE, like QEMU's model: boot
// consoles (earlycon) write to a UART firmware left enabled, without
// enabling it themselves.
//
// Transmit: a byte written to DR goes through the transmit FIFO to the
// Transmitter attached to the UART (the server's console) before the write
// completes, so a guest that writes DR without polling FR.TXFF loses
// nothing, whatever the FIFO depth: the server applies posted writes in
// batches, long after the guest made them, and QEMU's own PL011, which
// software relies on, never drops a transmitted byte either. The flags stay
// truthful: between accesses the FIFO is empty, so FR reads TXFE with TXFF
// and BUSY clear, and the transmit interrupt (at or below the IFLS level)
// is raised. Without a transmitter (only in tests), bytes wait in the FIFO
// and one written to a full FIFO is lost, as on the hardware.
//
// Receive: bytes are accepted only while there is room, so the server never
// takes input it cannot keep.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "servers/lib/mmio_device.h"

namespace hyp::server {

class Pl011 final : public MmioDevice {
 public:
  static constexpr size_t kFifoDepth = 32;

  // Where transmitted bytes go, oldest first.
  class Transmitter {
   public:
    virtual void transmit(uint8_t byte) = 0;

   protected:
    ~Transmitter() = default;
  };

  // Register offsets (the map above).
  static constexpr uint64_t kDr = 0x000;
  static constexpr uint64_t kRsr = 0x004;
  static constexpr uint64_t kFr = 0x018;
  static constexpr uint64_t kIlpr = 0x020;
  static constexpr uint64_t kIbrd = 0x024;
  static constexpr uint64_t kFbrd = 0x028;
  static constexpr uint64_t kLcrH = 0x02c;
  static constexpr uint64_t kCr = 0x030;
  static constexpr uint64_t kIfls = 0x034;
  static constexpr uint64_t kImsc = 0x038;
  static constexpr uint64_t kRis = 0x03c;
  static constexpr uint64_t kMis = 0x040;
  static constexpr uint64_t kIcr = 0x044;
  static constexpr uint64_t kDmacr = 0x048;
  static constexpr uint64_t kIdBase = 0xfe0;

  // FR bits.
  static constexpr uint32_t kFrBusy = 1u << 3;
  static constexpr uint32_t kFrRxfe = 1u << 4;
  static constexpr uint32_t kFrTxff = 1u << 5;
  static constexpr uint32_t kFrRxff = 1u << 6;
  static constexpr uint32_t kFrTxfe = 1u << 7;

  // LCR_H.FEN: the FIFOs are enabled.
  static constexpr uint32_t kLcrFen = 1u << 4;

  // Interrupt bits of RIS/MIS/IMSC/ICR.
  static constexpr uint32_t kIntRx = 1u << 4;
  static constexpr uint32_t kIntTx = 1u << 5;
  static constexpr uint32_t kIntRxTimeout = 1u << 6;
  static constexpr uint32_t kIntOverrun = 1u << 10;

  Pl011() { reset(); }

  uint64_t window() const override { return 0x1000; }
  uint64_t read(uint64_t offset, unsigned width) override;
  void write(uint64_t offset, unsigned width, uint64_t value) override;
  void reset() override;

  // Server side: input from the console. False (nothing taken) when the
  // receive FIFO is full.
  bool receive(uint8_t byte);
  size_t receive_space() const;

  // Server side: connects the UART's output to `tx` (null: disconnects).
  // Bytes already waiting in the transmit FIFO go out at once. The
  // connection is not the guest's state: reset() keeps it, and a server
  // attaches again at each start, as the pointer is its own instance's.
  void attach(Transmitter* tx);

  // The level of the UART's interrupt line: any unmasked raw interrupt.
  bool interrupt() const { return (ris_ & imsc_) != 0; }

 private:
  template <size_t N>
  struct Fifo {
    std::array<uint16_t, N> data{};
    size_t head = 0;
    size_t count = 0;
    bool push(uint16_t v) {
      if (count == N) return false;
      data[(head + count) % N] = v;
      ++count;
      return true;
    }
    uint16_t pop() {
      const uint16_t v = data[head];
      head = (head + 1) % N;
      --count;
      return v;
    }
  };

  size_t depth() const { return (lcr_h_ & kLcrFen) != 0 ? kFifoDepth : 1; }
  // FIFO fill level at which IFLS asks for an interrupt.
  size_t rx_trigger() const;
  size_t tx_trigger() const;
  void update_interrupts();
  void transmit_waiting();
  uint32_t read_register(uint64_t reg);
  void write_register(uint64_t reg, uint32_t value);

  Fifo<kFifoDepth> rx_;
  Fifo<kFifoDepth> tx_;
  uint32_t rsr_ = 0;
  uint32_t ilpr_ = 0;
  uint32_t ibrd_ = 0;
  uint32_t fbrd_ = 0;
  uint32_t lcr_h_ = 0;
  uint32_t cr_ = 0;
  uint32_t ifls_ = 0;
  uint32_t imsc_ = 0;
  uint32_t ris_ = 0;
  uint32_t dmacr_ = 0;
  Transmitter* transmitter_ = nullptr;
};

}  // namespace hyp::server
