// The messages of a device server's rings: the kernel sends requests
// (forwarded MMIO accesses and lifecycle commands) on one ring, the server
// answers on another. Fixed-size and plain, so they copy through shared
// memory as bytes.
#pragma once

#include <cstdint>
#include <type_traits>

namespace hyp::ipc {

enum class RequestKind : uint8_t {
  kRead = 1,     // answer with the register's value
  kWrite = 2,    // answer when done, unless posted
  kReset = 3,    // put the device in its reset state
  kQuiesce = 4,  // finish what is in flight, save state, answer, then stop
  kResume = 5,   // start again (after a restart: from the saved state)
};

inline constexpr uint8_t kRequestPosted = 1u << 0;  // a write no one waits for

struct Request {
  uint64_t seq;     // increases by one per request on this ring
  uint64_t offset;  // byte offset in the device's register window
  uint64_t data;    // writes: the value, zero-extended
  uint16_t vcpu;    // the guest vCPU that made the access
  uint8_t device;   // which of the server's devices
  RequestKind kind;
  uint8_t width;    // bytes: 1, 2, 4 or 8
  uint8_t flags;
  uint16_t reserved;
};

enum class ResponseStatus : uint32_t {
  kOk = 0,
  kBadRequest = 1,  // the server refused the request as malformed
  kNoDevice = 2,
};

struct Response {
  uint64_t seq;   // the request's
  uint64_t data;  // reads: the value, zero-extended
  ResponseStatus status;
  uint32_t reserved;
  uint64_t reserved2;
};

static_assert(sizeof(Request) == 32 && std::is_trivially_copyable_v<Request>);
static_assert(sizeof(Response) == 32 && std::is_trivially_copyable_v<Response>);

// Checks what a server must not trust either: the kind, a width of 1, 2, 4
// or 8, an offset aligned to it, and data that fits in it.
constexpr bool request_well_formed(const Request& r) {
  const bool mmio = r.kind == RequestKind::kRead || r.kind == RequestKind::kWrite;
  if (!mmio) {
    return r.kind == RequestKind::kReset || r.kind == RequestKind::kQuiesce || r.kind == RequestKind::kResume;
  }
  if (r.width != 1 && r.width != 2 && r.width != 4 && r.width != 8) return false;
  if ((r.offset & (r.width - 1u)) != 0) return false;
  if (r.width < 8 && (r.data >> (8 * r.width)) != 0) return false;
  if (r.kind == RequestKind::kRead && (r.flags & kRequestPosted) != 0) return false;
  return true;
}

}  // namespace hyp::ipc
