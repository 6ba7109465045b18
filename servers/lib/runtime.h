// What every device server links on top of the partition runtime
// (runtime/): its own stage-1 MMU with caches, the channel
// (ipc/channel.h) and the loop that serves it, and logging. A server
// implements Server: its devices' registers and, if it has any, the work
// its devices do outside register accesses.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ipc/channel.h"
#include "servers/lib/mmio_device.h"

namespace hyp::server {

class Server {
 public:
  // Called at each start. `state` is the state page after its header,
  // `resumed` whether it holds what the previous instance left there (a
  // restart) or is zeroed (the first start).
  virtual void start(const ipc::ServerInfo& info, void* state, size_t state_size, bool resumed) = 0;
  // Device `index` (a request's `device`), or null if there is none.
  virtual MmioDevice* device(uint32_t index) = 0;
  // Once per turn of the loop, after the requests: the devices' own work.
  virtual void poll() {}
  // Console owners: one kernel log line (no line ending) to print.
  virtual void log_line(const char* text, size_t length) {
    (void)text;
    (void)length;
  }
  // Before a planned restart: everything the next instance needs must be in
  // the state page afterwards.
  virtual void quiesce() {}

 protected:
  ~Server() = default;
};

// Serves the channel forever. `name` is for the server's own log lines.
[[noreturn]] void run(Server& server);

// The sequence number of the request being served (0 between requests).
// A kernel call whose effect must not be doubled when a restarted instance
// serves the same request again passes it (HYP_IRQ_SIGNAL's x5).
uint64_t current_request();

// Crash tests: fails the server as a fault would (an access to nothing),
// after logging `why`. The kernel restarts it (docs/servers.md).
[[noreturn]] void fail_on_purpose(const char* why);

// A line for the console, through the kernel (prefixed with the server's name).
void log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Whether `key=N` is in the server's command line; N in `value`.
bool bootarg(const ipc::ServerInfo& info, const char* key, uint64_t& value);

}  // namespace hyp::server
