#include "ffa/abi.h"

#include <cstring>

namespace hyp::ffa {
namespace {

// Both ends are little-endian AArch64 or x86-64: a copy is the encoding.
void put16(uint8_t* out, uint16_t v) { std::memcpy(out, &v, sizeof(v)); }
void put32(uint8_t* out, uint32_t v) { std::memcpy(out, &v, sizeof(v)); }
uint16_t get16(const uint8_t* in) {
  uint16_t v;
  std::memcpy(&v, in, sizeof(v));
  return v;
}
uint32_t get32(const uint8_t* in) {
  uint32_t v;
  std::memcpy(&v, in, sizeof(v));
  return v;
}

void put_uuid(uint8_t* out, const Uuid& u) {
  for (int i = 0; i < 4; ++i) put32(out + 4 * i, u.words[i]);
}
Uuid get_uuid(const uint8_t* in) {
  Uuid u;
  for (int i = 0; i < 4; ++i) u.words[i] = get32(in + 4 * i);
  return u;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool parse_uuid(const char* text, Uuid& out) {
  uint8_t bytes[16] = {};
  size_t byte = 0;
  for (size_t i = 0; i < 36; ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
      continue;
    }
    // A NUL before the end is not a digit: the loop stops there.
    const int hi = hex_digit(c);
    const int lo = hi < 0 ? -1 : hex_digit(text[++i]);
    if (lo < 0) return false;
    bytes[byte++] = static_cast<uint8_t>(hi << 4 | lo);
  }
  if (text[36] != '\0') return false;
  out = get_uuid(bytes);
  return true;
}

void write_partition_info(const PartitionInfo& info, uint32_t version, uint8_t* out) {
  put16(out, info.id);
  put16(out + 2, info.contexts);
  if (version == kVersion1_0) {
    put32(out + 4, info.properties & properties::kVersion1_0Mask);
    return;
  }
  put32(out + 4, info.properties);
  put_uuid(out + 8, info.uuid);
}

PartitionInfo read_partition_info(const uint8_t* in, uint32_t size) {
  PartitionInfo p;
  p.id = get16(in);
  p.contexts = get16(in + 2);
  p.properties = get32(in + 4);
  if (size >= kPartitionInfoSize) p.uuid = get_uuid(in + 8);
  return p;
}

bool parse_message_header(const uint8_t* buffer, uint64_t size, MessageHeader& out) {
  if (size < kMessageHeaderSize1_1) return false;
  uint8_t header[kMessageHeaderSize1_2] = {};
  std::memcpy(header, buffer, size < sizeof(header) ? size : sizeof(header));
  return check_message_header(header, size, out);
}

bool check_message_header(const uint8_t (&header)[kMessageHeaderSize1_2], uint64_t size, MessageHeader& out) {
  if (size < kMessageHeaderSize1_1) return false;
  const uint8_t* buffer = header;
  MessageHeader h;
  h.flags = get32(buffer);
  h.reserved = get32(buffer + 4);
  h.offset = get32(buffer + 8);
  const uint32_t ids = get32(buffer + 12);
  h.sender = high_id(ids);
  h.receiver = low_id(ids);
  h.size = get32(buffer + 16);
  if (h.flags != 0 || h.reserved != 0) return false;
  if (h.offset != kMessageHeaderSize1_1) {
    // An FF-A 1.2 header: 40 bytes, then (perhaps after a gap) the payload.
    if (h.offset < kMessageHeaderSize1_2 || size < kMessageHeaderSize1_2) return false;
    if (get32(buffer + 20) != 0) return false;
    h.uuid = get_uuid(buffer + 24);
  }
  // The payload lies inside the buffer (no wrap: both are 32-bit here).
  if (h.offset > size || h.size > size - h.offset) return false;
  out = h;
  return true;
}

void write_message_header(const MessageHeader& h, uint8_t* out) {
  put32(out, h.flags);
  put32(out + 4, h.reserved);
  put32(out + 8, h.offset);
  put32(out + 12, pack_ids(h.sender, h.receiver));
  put32(out + 16, h.size);
  if (h.offset >= kMessageHeaderSize1_2) {
    put32(out + 20, 0);
    put_uuid(out + 24, h.uuid);
  }
}

}  // namespace hyp::ffa
