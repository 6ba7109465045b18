// Fuzzes the FF-A parsers that read what a partition wrote: the indirect
// message header (from a TX buffer the sender controls while the kernel
// reads it), and the UUID text of a manifest. The first byte picks the
// parser; every input must end in a result or a refusal, and an accepted
// header must describe a payload inside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ffa/abi.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0];
  ++data;
  --size;
  if ((which & 1) == 0) {
    // An exact-size copy: reading past it is an AddressSanitizer report.
    std::vector<uint8_t> buffer(data, data + size);
    hyp::ffa::MessageHeader h;
    if (hyp::ffa::parse_message_header(buffer.data(), buffer.size(), h)) {
      if (h.offset < hyp::ffa::kMessageHeaderSize1_1 || h.offset > size || h.size > size - h.offset) {
        __builtin_trap();
      }
      if (h.flags != 0 || h.reserved != 0) __builtin_trap();
      // Written back, the header reads the same.
      std::vector<uint8_t> again(buffer.size());
      hyp::ffa::write_message_header(h, again.data());
      hyp::ffa::MessageHeader h2;
      if (!hyp::ffa::parse_message_header(again.data(), again.size(), h2) || h2.offset != h.offset ||
          h2.size != h.size || h2.sender != h.sender || h2.receiver != h.receiver || !(h2.uuid == h.uuid)) {
        __builtin_trap();
      }
    }
  } else {
    std::vector<char> text(data, data + size);
    text.push_back('\0');
    hyp::ffa::Uuid u;
    if (hyp::ffa::parse_uuid(text.data(), u) && std::strlen(text.data()) != 36) __builtin_trap();
  }
  return 0;
}
