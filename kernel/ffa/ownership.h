// Page ownership and access, as FF-A's memory calls change it (DEN0077,
// "Ownership and access states"): each page has, for each partition, one
// state, kept in that partition's Stage-2 leaf (mm::PageState in the
// software bits) or, for kNone, no leaf at all. A call changes the states of
// every page it names, for the sender and its receivers, by the table here:
// a pure function of (operation, state), with no other input, so that what
// the kernel does is exactly what the table says. The table is also what the
// protocol model checks (tests/model, generated from this one).
//
// Which operation a call makes for whom:
//
//   FFA_MEM_SHARE                 the sender's pages: kShare
//   FFA_MEM_LEND                  the sender's pages: kLend
//   FFA_MEM_DONATE                the sender's pages: kDonate
//   FFA_MEM_RETRIEVE_REQ          the receiver's: kRetrieveShared (a share,
//                                 or a loan to several), kRetrieveLent (a
//                                 loan to one), kRetrieveDonated (a
//                                 donation), and with the last the donor's
//                                 pages kDonationTaken
//   FFA_MEM_RELINQUISH            the borrower's pages: kRelinquish
//   FFA_MEM_RECLAIM               the owner's pages: kReclaim (once every
//                                 borrower has relinquished; a donation
//                                 only before it was taken)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "kernel/arch/mm.h"

namespace hyp::ownership {

namespace mm = arch::mm;

enum class State : uint8_t {
  kNone,            // no leaf: neither owned nor accessible
  kOwned,           // owner, exclusive access
  kOwnedShared,     // owner, access shared with its borrowers (keeps its own)
  kLent,            // owner, access lent away: none here
  kDonated,         // given away, not taken yet: no access; the donor may reclaim
  kBorrowed,        // borrower, exclusive access
  kBorrowedShared,  // borrower, access shared with the owner or other borrowers
};
inline constexpr size_t kStateCount = 7;

enum class Op : uint8_t {
  kShare,
  kLend,
  kDonate,
  kRetrieveShared,
  kRetrieveLent,
  kRetrieveDonated,
  kDonationTaken,
  kRelinquish,
  kReclaim,
};
inline constexpr size_t kOpCount = 9;

// What a state becomes; nothing where the operation is refused (the call
// fails with DENIED, and no page changes).
struct Transition {
  bool allowed = false;
  State to = State::kNone;
};

// kTable[op][from]. Only an owner with exclusive access sends; only a
// partition with nothing there retrieves; only a borrower relinquishes;
// only an owner that gave something reclaims.
inline constexpr Transition kTable[kOpCount][kStateCount] = {
    // from: kNone, kOwned, kOwnedShared, kLent, kDonated, kBorrowed, kBorrowedShared
    /* kShare */ {{}, {true, State::kOwnedShared}, {}, {}, {}, {}, {}},
    /* kLend */ {{}, {true, State::kLent}, {}, {}, {}, {}, {}},
    /* kDonate */ {{}, {true, State::kDonated}, {}, {}, {}, {}, {}},
    /* kRetrieveShared */ {{true, State::kBorrowedShared}, {}, {}, {}, {}, {}, {}},
    /* kRetrieveLent */ {{true, State::kBorrowed}, {}, {}, {}, {}, {}, {}},
    /* kRetrieveDonated */ {{true, State::kOwned}, {}, {}, {}, {}, {}, {}},
    /* kDonationTaken */ {{}, {}, {}, {}, {true, State::kNone}, {}, {}},
    /* kRelinquish */ {{}, {}, {}, {}, {}, {true, State::kNone}, {true, State::kNone}},
    /* kReclaim */ {{}, {}, {true, State::kOwned}, {true, State::kOwned}, {true, State::kOwned}, {}, {}},
};

constexpr std::optional<State> transition(Op op, State from) {
  const Transition& t = kTable[static_cast<size_t>(op)][static_cast<size_t>(from)];
  if (!t.allowed) return std::nullopt;
  return t.to;
}

// Whether a partition may touch a page in state `s` at all (its Stage-2
// leaf gives access). Owners keep their own permissions while they share;
// borrowers get what they were granted.
constexpr bool accessible(State s) {
  return s == State::kOwned || s == State::kOwnedShared || s == State::kBorrowed || s == State::kBorrowedShared;
}

// Whether the partition owns the page (it may send it, or reclaim it).
constexpr bool owner(State s) {
  return s == State::kOwned || s == State::kOwnedShared || s == State::kLent || s == State::kDonated;
}

// The state kept in a Stage-2 leaf, and back. kNone has no leaf.
constexpr mm::PageState page_state(State s) {
  switch (s) {
    case State::kOwnedShared: return mm::PageState::kSharedOwned;
    case State::kLent: return mm::PageState::kLent;
    case State::kDonated: return mm::PageState::kDonated;
    case State::kBorrowed: return mm::PageState::kBorrowed;
    case State::kBorrowedShared: return mm::PageState::kSharedBorrowed;
    default: return mm::PageState::kOwned;
  }
}
constexpr State state_of(mm::PageState p) {
  switch (p) {
    case mm::PageState::kSharedOwned: return State::kOwnedShared;
    case mm::PageState::kLent: return State::kLent;
    case mm::PageState::kDonated: return State::kDonated;
    case mm::PageState::kBorrowed: return State::kBorrowed;
    case mm::PageState::kSharedBorrowed: return State::kBorrowedShared;
    case mm::PageState::kOwned: return State::kOwned;
  }
  return State::kNone;  // no other value is ever written
}

// Names, for messages and the generated model.
const char* name(State s);
const char* name(Op op);

}  // namespace hyp::ownership
