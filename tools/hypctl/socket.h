// Where the host control channel's Unix socket is (docs/control.md): the
// launcher puts QEMU's virtconsole there, and hypctl connects to it.
#pragma once

#include <string>

namespace hyp::tools {

// `flag` if not empty; otherwise $HYP_CONTROL_SOCKET if set; otherwise
// $TMPDIR (or /tmp)/hyp-control-UID.sock.
std::string control_socket_path(const std::string& flag);

}  // namespace hyp::tools
