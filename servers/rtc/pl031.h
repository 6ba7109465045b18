// An Arm PrimeCell real-time clock (PL031, TRM DDI 0224) as a guest sees
// it, for the RTC server (docs/adding-a-server.md). Register map (32-bit
// accesses; offsets in bytes):
//
//   0x000 RTCDR    data: the counter, in seconds (read-only)
//   0x004 RTCMR    match: the counter value that raises the interrupt
//   0x008 RTCLR    load: a write sets the counter (reads the last value written)
//   0x00c RTCCR    control: bit 0 starts the counter; once started it cannot be stopped
//   0x010 RTCIMSC  interrupt mask: bit 0
//   0x014 RTCRIS   raw interrupt status: bit 0, the match (read-only)
//   0x018 RTCMIS   masked interrupt status: RIS & IMSC (read-only)
//   0x01c RTCICR   interrupt clear: writing bit 0 clears the match (write-only)
//   0xfe0-0xffc    PeriphID0-3 = 0x31 0x10 0x14 0x00, PCellID0-3 = 0x0d 0xf0 0x05 0xb1
//
// Every other offset, and every access but an aligned 32-bit one, reads as
// zero and ignores writes. The counter is a Clock's (the machine's own
// PL031, in the server) plus an offset that a load sets; the match is
// watched by the clock too (it is told where the guest's match falls in
// its own time) and reported with matched(). Everything lives in this
// object, which the server keeps in its state page: a new instance goes
// on with the same offset, match and interrupt state.
#pragma once

#include <cstdint>

#include "servers/lib/mmio_device.h"

namespace hyp::server {

// The time the guest's counter is kept against.
class Clock {
 public:
  // Seconds, as the clock counts them.
  virtual uint32_t now() = 0;
  // Asks for matched() when the clock reaches `at` (its own seconds), or
  // for nothing (`armed` false).
  virtual void arm(bool armed, uint32_t at) = 0;

 protected:
  ~Clock() = default;
};

class Pl031 final : public MmioDevice {
 public:
  static constexpr uint64_t kDr = 0x000;
  static constexpr uint64_t kMr = 0x004;
  static constexpr uint64_t kLr = 0x008;
  static constexpr uint64_t kCr = 0x00c;
  static constexpr uint64_t kImsc = 0x010;
  static constexpr uint64_t kRis = 0x014;
  static constexpr uint64_t kMis = 0x018;
  static constexpr uint64_t kIcr = 0x01c;
  static constexpr uint64_t kIdBase = 0xfe0;

  // After a start or restart of the server: the clock to use (the object
  // itself may be from the state page, with a stale pointer).
  void attach(Clock* clock) {
    clock_ = clock;
    rearm();
  }

  uint64_t window() const override { return 0x1000; }
  uint64_t read(uint64_t offset, unsigned width) override;
  void write(uint64_t offset, unsigned width, uint64_t value) override;
  // A guest reset: a PL031's reset state (the counter keeps its time: the
  // clock is battery-backed, and Linux reads it at boot).
  void reset() override;

  // The clock reached the match it was armed for.
  void matched();
  // The guest's interrupt line: the match, if unmasked.
  bool interrupt() const { return (ris_ & imsc_ & 1) != 0; }

 private:
  uint32_t counter() { return clock_ != nullptr ? clock_->now() + offset_ : offset_; }
  void rearm();

  Clock* clock_ = nullptr;
  uint32_t offset_ = 0;  // guest counter minus the clock's
  uint32_t mr_ = 0;
  uint32_t lr_ = 0;
  uint32_t cr_ = 1;  // QEMU's PL031 comes out of reset started; so does this one
  uint32_t imsc_ = 0;
  uint32_t ris_ = 0;
  bool armed_ = false;  // a match ahead, which the clock watches
};

}  // namespace hyp::server
