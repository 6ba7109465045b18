// Where the host control channel's Unix socket is (docs/control.md): the
// launcher puts QEMU's virtconsole there, and hypctl connects to it.
#pragma once

#include <cstddef>
#include <string>

namespace hyp::tools {

// The longest path a Unix socket can have, plus one.
inline constexpr size_t kMaxSocketPath = 108;

// `flag` if not empty; otherwise $HYP_CONTROL_SOCKET if set; otherwise
// $TMPDIR (or /tmp)/hyp-control-UID.sock, or /tmp/hyp-control-UID.sock if
// that would be too long for a socket.
std::string control_socket_path(const std::string& flag);

}  // namespace hyp::tools
