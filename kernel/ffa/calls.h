// The kernel's side of FF-A (docs/ffa.md): every call in FF-A's function
// range, from any partition, over HVC or a trapped SMC. The kernel is a
// normal-world hypervisor with no secure world behind it: it answers
// discovery, owns every partition's RX/TX buffers and notifications, and
// carries messages between partitions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/partition/partition.h"
#include "kernel/ffa/direct.h"
#include "kernel/trap/dispatch.h"

namespace hyp {

// The FF-A version the kernel implements and answers FFA_VERSION with.
inline constexpr uint32_t kFfaVersion = ffa::kVersion1_2;

// The largest RX or TX buffer a partition may map, in 4 KiB pages.
inline constexpr uint32_t kFfaMaxBufferPages = 4;

// The notification pending interrupt (FFA_FEATURES feature 1): the SGI a
// guest's vCPU is sent when a notification is set for it (vCPU 0 for global
// ones) or a message arrives in its RX buffer. An SGI, as Linux's FF-A
// driver maps the ID it is told; 8, above the eight SGIs Linux takes for
// its own IPIs. Servers have no virtual interrupts: they find what is
// pending when their wait returns.
inline constexpr uint32_t kFfaNotificationPendingIntid = 8;

// The partitions FF-A calls may name (every one in the package), set once
// before any vCPU runs; no memory transaction is live after.
void ffa_set_partitions(Partition* partitions, size_t count);

// Carries out FF-A call `fid` (SVE hint removed; ffa::is_ffa(fid)) of vCPU
// `v`: results in its registers, and what the run loop must do next.
TrapAction ffa_call(Vcpu& v, uint32_t fid);

// ---- Direct messages, for the run loop --------------------------------------
//
// A direct request goes from a guest vCPU (servers cannot block, so they
// send none) to a receiver vCPU waiting for messages (MsgState::kWaiting):
// its registers become the request, it runs, and its response becomes the
// sender's registers. Who runs when is the run loop's; these move the data
// and the states, with the races between CPUs settled here. The calls
// themselves, the delivery and the response are inline (direct.h): the
// run loop's fast path is made of them.

// The request `receiver` serves (or is being given) is answered with
// FFA_ERROR ABORTED: the receiver stops or restarts. Returns the requester,
// to be woken (null if none); the receiver waits for nothing after.
Vcpu* ffa_abort_request(Vcpu& receiver);

// A guest's FFA_MSG_WAIT ends (its wait is over): true if a request was
// delivered (its registers hold it); false if an interrupt ended it, which
// it is told with FFA_ERROR INTERRUPTED.
bool ffa_end_message_wait(Vcpu& v);

// A server waiting for messages (MsgState::kWaiting) runs for something
// else (its rings, an interrupt, a notification): it no longer waits for
// messages, and its call returns FFA_RUN. The caller holds the server's
// claim.
void ffa_server_resumed(Vcpu& sv);

}  // namespace hyp
