#include "servers/uart/pl011.h"

namespace hyp::server {
namespace {

constexpr uint32_t kRsrOverrun = 1u << 3;
constexpr uint32_t kAllInterrupts = 0x7ff;

// PeriphID0-3 then PCellID0-3 (TRM 3.3.14-3.3.21).
constexpr uint8_t kIds[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

// IFLS level encodings 0-4: 1/8, 1/4, 1/2, 3/4, 7/8 of the FIFO.
size_t level_bytes(uint32_t code) {
  switch (code) {
    case 0: return 4;
    case 1: return 8;
    case 3: return 24;
    case 4: return 28;
    default: return 16;
  }
}

}  // namespace

void Pl011::reset() {
  rx_ = {};
  tx_ = {};
  rsr_ = 0;
  ilpr_ = 0;
  ibrd_ = 0;
  fbrd_ = 0;
  lcr_h_ = 0;
  cr_ = 0x300;
  ifls_ = 0x12;
  imsc_ = 0;
  ris_ = 0;
  dmacr_ = 0;
  update_interrupts();
}

size_t Pl011::rx_trigger() const { return depth() == 1 ? 1 : level_bytes((ifls_ >> 3) & 7); }

size_t Pl011::tx_trigger() const { return depth() == 1 ? 0 : level_bytes(ifls_ & 7); }

void Pl011::update_interrupts() {
  // Receive: at or above the trigger level; timeout: data below it (there is
  // no character clock here, so the timeout is immediate). Transmit: at or
  // below its level.
  ris_ &= ~(kIntRx | kIntRxTimeout | kIntTx);
  if (rx_.count >= rx_trigger()) ris_ |= kIntRx;
  if (rx_.count > 0 && rx_.count < rx_trigger()) ris_ |= kIntRxTimeout;
  if (tx_.count <= tx_trigger()) ris_ |= kIntTx;
}

bool Pl011::receive(uint8_t byte) {
  if (rx_.count >= depth()) return false;
  rx_.push(byte);
  update_interrupts();
  return true;
}

size_t Pl011::receive_space() const { return depth() - (rx_.count < depth() ? rx_.count : depth()); }

void Pl011::attach(Transmitter* tx) {
  transmitter_ = tx;
  transmit_waiting();
  update_interrupts();
}

void Pl011::transmit_waiting() {
  if (transmitter_ == nullptr) return;
  while (tx_.count > 0) transmitter_->transmit(static_cast<uint8_t>(tx_.pop()));
}

uint32_t Pl011::read_register(uint64_t reg) {
  switch (reg) {
    case kDr: {
      if (rx_.count == 0) return 0;
      const uint32_t v = rx_.pop();
      update_interrupts();
      return v;
    }
    case kRsr: return rsr_;
    case kFr: {
      uint32_t fr = 0;
      if (rx_.count == 0) fr |= kFrRxfe;
      if (rx_.count >= depth()) fr |= kFrRxff;
      if (tx_.count >= depth()) fr |= kFrTxff;
      if (tx_.count == 0) fr |= kFrTxfe;
      if (tx_.count != 0) fr |= kFrBusy;
      return fr;
    }
    case kIlpr: return ilpr_;
    case kIbrd: return ibrd_;
    case kFbrd: return fbrd_;
    case kLcrH: return lcr_h_;
    case kCr: return cr_;
    case kIfls: return ifls_;
    case kImsc: return imsc_;
    case kRis: return ris_;
    case kMis: return ris_ & imsc_;
    case kDmacr: return dmacr_;
    default:
      if (reg >= kIdBase && reg < kIdBase + 32) return kIds[(reg - kIdBase) / 4];
      return 0;  // unimplemented offsets, and write-only ICR
  }
}

void Pl011::write_register(uint64_t reg, uint32_t value) {
  switch (reg) {
    case kDr:
      if (tx_.count >= depth() || !tx_.push(value & 0xff)) {
        // Only without a transmitter can the FIFO be full: the byte is lost
        // as on the hardware, where a driver checks FR.TXFF first.
        ris_ |= kIntOverrun;
        rsr_ |= kRsrOverrun;
      }
      transmit_waiting();
      break;
    case kRsr: rsr_ = 0; break;
    case kIlpr: ilpr_ = value & 0xff; break;
    case kIbrd: ibrd_ = value & 0xffff; break;
    case kFbrd: fbrd_ = value & 0x3f; break;
    case kLcrH: {
      const bool fifo_was_on = (lcr_h_ & kLcrFen) != 0;
      lcr_h_ = value & 0xff;
      // Turning the FIFOs off leaves one entry of each: drop what is beyond.
      if (fifo_was_on && (lcr_h_ & kLcrFen) == 0) {
        while (rx_.count > 1) rx_.pop();
      }
      break;
    }
    case kCr: cr_ = value & 0xff87; break;
    case kIfls: ifls_ = value & 0x3f; break;
    case kImsc: imsc_ = value & kAllInterrupts; break;
    case kIcr: ris_ &= ~(value & kAllInterrupts); break;
    case kDmacr: dmacr_ = value & 0x7; break;
    default: break;  // read-only and unimplemented offsets ignore writes
  }
  update_interrupts();
}

uint64_t Pl011::read(uint64_t offset, unsigned width) {
  // Registers are 32-bit; narrower reads see the addressed bytes of one.
  const uint64_t reg = offset & ~uint64_t{3};
  const uint64_t shift = 8 * (offset & 3);
  if (width == 8) return 0;  // no 64-bit registers
  // Reading DR has a side effect: only an access that includes byte 0 pops.
  if (reg == kDr && shift != 0) return 0;
  const uint64_t v = uint64_t{read_register(reg)} >> shift;
  return width >= 4 ? v : v & ((uint64_t{1} << (8 * width)) - 1);
}

void Pl011::write(uint64_t offset, unsigned width, uint64_t value) {
  if (width == 8 || (offset & 3) != 0) return;  // registers are written whole, from byte 0
  write_register(offset, static_cast<uint32_t>(value));
}

}  // namespace hyp::server
