// FF-A memory sharing in the kernel (docs/ffa.md, "Memory sharing"): the
// transactions FFA_MEM_SHARE, _LEND and _DONATE create, their retrieval,
// relinquishing and reclaiming, and the page ownership changes each makes
// (kernel/ffa/ownership.h), applied to the partitions' Stage-2 tables all
// or nothing.
//
// All memory transactions are serialized by one lock (they are rare next
// to the partitions' work, and one order for everything keeps them
// simple); under it a call takes the ffa.lock of the partitions whose
// buffers it reads or writes, then the page pool's (a PageTable::Batch).
//
// Where a receiver sees what it was given: every partition's RAM starts at
// the same IPA, so a receiver maps a sender's pages in a window of its own
// IPA space kept for that sender: at kBorrowBase + the sender's VMID *
// kBorrowWindow + the page's IPA in the sender. The retrieve response
// gives the receiver these addresses.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ffa/memory.h"
#include "kernel/partition/partition.h"
#include "kernel/trap/dispatch.h"

namespace hyp {

inline constexpr uint64_t kBorrowBase = uint64_t{1} << 39;
inline constexpr uint64_t kBorrowWindow = uint64_t{1} << 35;  // a sender's IPAs below 32 GiB

// The receiver's IPA of `sender`'s page at `ipa` (< kBorrowWindow).
constexpr uint64_t borrowed_ipa(const Partition& sender, uint64_t ipa) {
  return kBorrowBase + uint64_t{sender.vmid} * kBorrowWindow + ipa;
}

// The kernel's limits: transactions live at once, and address ranges in one.
inline constexpr size_t kMaxMemTransactions = 32;
inline constexpr size_t kMaxMemRanges = 32;
// The longest descriptor a send in fragments may have (longer ones describe
// more than kMaxMemRanges ranges anyway), and partitions that may have one
// in progress at once (one each).
inline constexpr size_t kMaxFragmentedDescriptor = 4096;

// Forgets every transaction (ffa_set_partitions() calls it).
void ffa_memory_init();

// The calls, for ffa_call(): results in `v`'s registers.
TrapAction ffa_mem_send(Vcpu& v, uint32_t fid, ffa::Transfer transfer);
TrapAction ffa_mem_retrieve(Vcpu& v, uint32_t fid);
TrapAction ffa_mem_relinquish(Vcpu& v);
// FFA_MEM_FRAG_TX: the next fragment of a send's descriptor (the first came
// with FFA_MEM_SHARE, _LEND or _DONATE, whose w2 was less than w1).
// FFA_MEM_FRAG_RX: always INVALID_PARAMETERS (retrieve responses are whole).
TrapAction ffa_mem_frag_tx(Vcpu& v);
TrapAction ffa_mem_frag_rx(Vcpu& v);
TrapAction ffa_mem_reclaim(Vcpu& v);

// `p` stops, or starts afresh (none of its vCPUs runs): what it shared,
// lent or donated is its own again, taken from whoever retrieved it, and
// those transactions end; what it borrowed is given back (its transactions
// go on for their other receivers). Pages donated to it stay its own.
void ffa_memory_release(Partition& p);

// Boot grants (docs/ffa.md, "Boot grants"): the kernel shares `owner`'s
// [ipa, ipa + size) with each of `servers` and retrieves it for them,
// readable and writable, not executable, in their windows, as
// FFA_MEM_SHARE and FFA_MEM_RETRIEVE_REQ would. Neither side can undo it:
// a server's FFA_MEM_RELINQUISH and the owner's FFA_MEM_RECLAIM are
// refused, and ffa_memory_release() leaves it alone, so it lasts across
// restarts of the servers and resets of the owner. The FF-A handle in
// `handle`; the error of the first check that fails, with nothing changed.
ffa::Error ffa_memory_grant(Partition& owner, Partition* const* servers, size_t count, uint64_t ipa, uint64_t size,
                            uint64_t& handle);

// A boot grant as a server sees it: the owner's [ipa, ipa + size) is the
// server's [window + ipa, window + ipa + size).
struct MemoryGrant {
  const Partition* owner;
  uint64_t handle;
  uint64_t ipa;
  uint64_t size;
  uint64_t window;
};

// The boot grants `server` receives, up to `max` of them in `out`, in
// handle order; how many there are.
size_t ffa_memory_grants_to(const Partition& server, MemoryGrant* out, size_t max);

// Transactions live or being sent in fragments, for tests and the
// model-based checks.
size_t ffa_mem_transactions();

}  // namespace hyp
