// The ownership table checked cell by cell against FF-A's rules, written
// out here independently, and the properties every transition keeps.
#include "kernel/ffa/ownership.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

namespace hyp::ownership {
namespace {

constexpr State kStates[] = {State::kNone,    State::kOwned,    State::kOwnedShared,   State::kLent,
                             State::kDonated, State::kBorrowed, State::kBorrowedShared};
constexpr Op kOps[] = {Op::kShare,          Op::kLend,          Op::kDonate,
                       Op::kRetrieveShared, Op::kRetrieveLent,  Op::kRetrieveDonated,
                       Op::kDonationTaken,  Op::kRelinquish,    Op::kReclaim};
static_assert(std::size(kStates) == kStateCount && std::size(kOps) == kOpCount);

// Every allowed (operation, from) pair and where it leads; all others are
// refused.
struct Allowed {
  Op op;
  State from;
  State to;
};
constexpr Allowed kAllowed[] = {
    // Only an owner with exclusive access gives the page, in one way at a time.
    {Op::kShare, State::kOwned, State::kOwnedShared},
    {Op::kLend, State::kOwned, State::kLent},
    {Op::kDonate, State::kOwned, State::kDonated},
    // A receiver starts with nothing there.
    {Op::kRetrieveShared, State::kNone, State::kBorrowedShared},
    {Op::kRetrieveLent, State::kNone, State::kBorrowed},
    {Op::kRetrieveDonated, State::kNone, State::kOwned},
    // The donor's page goes when the receiver takes it.
    {Op::kDonationTaken, State::kDonated, State::kNone},
    // A borrower gives its access back.
    {Op::kRelinquish, State::kBorrowed, State::kNone},
    {Op::kRelinquish, State::kBorrowedShared, State::kNone},
    // The owner has back what it shared, lent, or donated and nobody took.
    {Op::kReclaim, State::kOwnedShared, State::kOwned},
    {Op::kReclaim, State::kLent, State::kOwned},
    {Op::kReclaim, State::kDonated, State::kOwned},
};

TEST(Ownership, EveryCellOfTheTable) {
  int checked = 0;
  for (const Op op : kOps) {
    for (const State from : kStates) {
      SCOPED_TRACE(std::string(name(op)) + " from " + name(from));
      const Allowed* rule = nullptr;
      for (const Allowed& a : kAllowed) {
        if (a.op == op && a.from == from) rule = &a;
      }
      const std::optional<State> to = transition(op, from);
      if (rule == nullptr) {
        EXPECT_FALSE(to.has_value()) << "refused";
      } else {
        ASSERT_TRUE(to.has_value()) << "allowed";
        EXPECT_EQ(*to, rule->to) << "to " << name(rule->to);
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 63);
}

// What each side loses or gains: a sender never gains access, a receiver
// never gains ownership except by a donation, nothing but reclaim or a
// donation makes an owner with exclusive access.
TEST(Ownership, TransitionsKeepTheirRoles) {
  for (const Op op : kOps) {
    for (const State from : kStates) {
      const auto to = transition(op, from);
      if (!to) continue;
      SCOPED_TRACE(std::string(name(op)) + " from " + name(from));
      switch (op) {
        case Op::kShare:
        case Op::kLend:
        case Op::kDonate:
          EXPECT_TRUE(owner(from) && owner(*to)) << "the sender stays the owner until the page is taken";
          EXPECT_EQ(accessible(*to), op == Op::kShare) << "only a share keeps the sender's access";
          break;
        case Op::kRetrieveShared:
        case Op::kRetrieveLent:
          EXPECT_FALSE(owner(*to));
          EXPECT_TRUE(accessible(*to));
          break;
        case Op::kRetrieveDonated:
          EXPECT_EQ(*to, State::kOwned);
          break;
        case Op::kDonationTaken:
        case Op::kRelinquish:
          EXPECT_EQ(*to, State::kNone);
          break;
        case Op::kReclaim:
          EXPECT_TRUE((owner(from) && !accessible(from)) || from == State::kOwnedShared);
          EXPECT_EQ(*to, State::kOwned);
          break;
      }
    }
  }
}

TEST(Ownership, LeafStatesRoundTrip) {
  std::set<mm::PageState> seen;
  for (const State s : kStates) {
    if (s == State::kNone) continue;  // no leaf
    EXPECT_EQ(state_of(page_state(s)), s) << name(s);
    EXPECT_TRUE(seen.insert(page_state(s)).second) << name(s) << ": two states, one encoding";
  }
  EXPECT_EQ(state_of(static_cast<mm::PageState>(7)), State::kNone) << "an unknown encoding owns nothing";
}

TEST(Ownership, AccessAndOwnership) {
  const std::set<State> accessible_states{State::kOwned, State::kOwnedShared, State::kBorrowed, State::kBorrowedShared};
  const std::set<State> owner_states{State::kOwned, State::kOwnedShared, State::kLent, State::kDonated};
  for (const State s : kStates) {
    EXPECT_EQ(accessible(s), accessible_states.count(s) == 1) << name(s);
    EXPECT_EQ(owner(s), owner_states.count(s) == 1) << name(s);
  }
}

}  // namespace
}  // namespace hyp::ownership
