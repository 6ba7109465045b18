// The check framework of bare-metal test guests: each check prints one line
// that the integration tests read, and a summary ends the run.
#pragma once

namespace guest {

// Prints "check NAME: ok" or "check NAME: FAILED (...)".
void check(bool ok, const char* name, const char* fmt = "", ...) __attribute__((format(printf, 3, 4)));
// Prints the summary line and returns the number of failures.
int finish(const char* suite);

}  // namespace guest
