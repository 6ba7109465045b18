#include "kernel/ffa/ownership.h"

namespace hyp::ownership {

const char* name(State s) {
  switch (s) {
    case State::kNone: return "none";
    case State::kOwned: return "owned";
    case State::kOwnedShared: return "owned_shared";
    case State::kLent: return "lent";
    case State::kDonated: return "donated";
    case State::kBorrowed: return "borrowed";
    case State::kBorrowedShared: return "borrowed_shared";
  }
  return "?";
}

const char* name(Op op) {
  switch (op) {
    case Op::kShare: return "share";
    case Op::kLend: return "lend";
    case Op::kDonate: return "donate";
    case Op::kRetrieveShared: return "retrieve_shared";
    case Op::kRetrieveLent: return "retrieve_lent";
    case Op::kRetrieveDonated: return "retrieve_donated";
    case Op::kDonationTaken: return "donation_taken";
    case Op::kRelinquish: return "relinquish";
    case Op::kReclaim: return "reclaim";
  }
  return "?";
}

}  // namespace hyp::ownership
