// What an emulated device implements: reads and writes of its registers by
// offset and width. The server runtime around it does the ring I/O, range
// checks and completion; a device never sees a malformed request (ipc::
// request_well_formed() has held), but must still answer every offset in its
// window, known or not.
#pragma once

#include <cstdint>

namespace hyp::server {

class MmioDevice {
 public:
  // Size of the register window in bytes.
  virtual uint64_t window() const = 0;
  // `width` is 1, 2, 4 or 8 and `offset` is aligned to it and inside window().
  virtual uint64_t read(uint64_t offset, unsigned width) = 0;
  virtual void write(uint64_t offset, unsigned width, uint64_t value) = 0;
  // The device's reset state, as at power-on.
  virtual void reset() = 0;

 protected:
  // Devices live in servers' static or state-page memory, never on a heap.
  ~MmioDevice() = default;
};

}  // namespace hyp::server
