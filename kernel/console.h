// The kernel's polled console: a PL011 transmitter driven by the kernel
// alone. It serves boot (before the UART server runs) and fatal reports;
// in between, log lines go to the UART server through a sink
// (docs/servers.md, "The console").
// Lines from different CPUs do not interleave: each call writes whole under
// a lock.
#pragma once

#include <cstddef>

#include "base/addr.h"

namespace hyp::console {

// Starts using the PL011 whose registers are at `base` (identity-mapped).
void init(Pa base);

bool ready();

// Writes `len` bytes, turning "\n" into "\r\n".
void write(const char* text, size_t len);

void print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Where print() sends its text once a UART server owns the console (the
// kernel's log ring to it); null sends it to the PL011 again. write() and
// print_fatal() always use the PL011: they are for boot and fatal reports.
using Sink = void (*)(const char* text, size_t len);
void set_sink(Sink sink);

// For fatal reports: takes the lock if it can within a bounded wait, and
// writes regardless (a CPU that died holding the lock must not silence us).
void print_fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace hyp::console
