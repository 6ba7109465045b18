// PSCI from a guest with five vCPUs on four CPUs: vCPUs 1-3 (on CPUs 1-3)
// call CPU_ON for vCPU 4 at the same moment, round after round. Each round
// exactly one call must succeed and the others be told ON_PENDING or
// ALREADY_ON; vCPU 4 must run once, with the winner's context, and turn
// itself off (CPU_OFF) when vCPU 0 lets it; AFFINITY_INFO must say ON while
// it runs and OFF once it is off. vCPU 4 shares CPU 0 with vCPU 0, which
// waits in WFI (its virtual timer set) so that vCPU 4 gets the CPU.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "ipc/psci.h"
#include "runtime/runtime.h"

namespace {

using guest::check;
using hyp::psci::Ret;

constexpr uint64_t kTarget = 4;
constexpr size_t kRacers = 3;
constexpr uint64_t kRounds = PSCI_RACE_ROUNDS;
constexpr int64_t kOn = 0;
constexpr int64_t kOff = 1;
constexpr int64_t kOnPending = 2;

alignas(16) uint8_t g_stacks[kRacers + 1][4096];
rt::SecondaryStart g_racer_start[kRacers];
rt::SecondaryStart g_target_start[kRacers];  // each racer's own: the context tells who won

std::atomic<uint64_t> g_go{0};     // the round the racers may fire
std::atomic<uint64_t> g_fired{0};  // CPU_ON calls made, all rounds
int64_t g_result[kRounds + 1][kRacers];
std::atomic<uint64_t> g_target_runs{0};
std::atomic<uint64_t> g_started_by{~0ull};
std::atomic<uint64_t> g_release{0};  // the round whose target may turn off

uint64_t top_of(size_t stack) { return reinterpret_cast<uint64_t>(&g_stacks[stack][sizeof(g_stacks[stack])]); }

void target(uint64_t racer) {
  g_started_by.store(racer);
  const uint64_t round = g_target_runs.fetch_add(1) + 1;
  while (g_release.load() < round) {
  }
  // Returning turns this vCPU off.
}

void racer(uint64_t i) {
  for (uint64_t round = 1; round <= kRounds; ++round) {
    while (g_go.load() < round) {
    }
    g_result[round][i] = rt::cpu_on(kTarget, &g_target_start[i]);
    g_fired.fetch_add(1);
  }
}

// Waits (sleeping, so that vCPU 4 may use this CPU) until `done` or about a
// second has passed; false on the time-out.
template <typename Done>
bool wait_for(Done done) {
  const uint64_t step = rt::counter_frequency() / 10000;  // 100 us
  const uint64_t give_up = rt::read_counter() + rt::counter_frequency();
  while (!done()) {
    if (rt::read_counter() > give_up) return false;
    rt::sleep_until(rt::read_counter() + step);
  }
  return true;
}

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  rt::print("psci race: %lu rounds\n", kRounds);
  check(rt::cpu_on(9, &g_racer_start[0]) == static_cast<int64_t>(Ret::kInvalidParameters), "cpu_on_unknown_mpidr", "");
  check(rt::hvc(hyp::psci::kCpuOn64, kTarget, 0x10, 0).x0 == static_cast<uint64_t>(Ret::kInvalidAddress),
        "cpu_on_entry_outside_ram", "");
  check(rt::affinity_info(kTarget) == kOff, "affinity_info_off_before_start", "");
  check(rt::affinity_info(0x100) == static_cast<int64_t>(Ret::kInvalidParameters), "affinity_info_unknown_mpidr", "");
  bool started = true;
  for (size_t i = 0; i < kRacers; ++i) {
    g_racer_start[i] = {top_of(i), racer, i};
    g_target_start[i] = {top_of(kRacers), target, i};
    started &= rt::cpu_on(i + 1, &g_racer_start[i]) == 0;
  }
  check(started, "racers_started", "");
  check(wait_for([] {
          for (uint64_t m = 1; m <= kRacers; ++m) {
            if (rt::affinity_info(m) != kOn) return false;
          }
          return true;
        }),
        "affinity_info_on_for_racers", "");

  uint64_t bad_winners = 0, bad_losers = 0, bad_context = 0, not_on = 0, not_off = 0, lost = 0, pending_seen = 0;
  for (uint64_t round = 1; round <= kRounds; ++round) {
    if (rt::affinity_info(kTarget) != kOff) ++not_off;
    g_go.store(round);
    if (!wait_for([round] { return g_fired.load() == kRacers * round; })) {
      ++lost;
      break;
    }
    pending_seen += rt::affinity_info(kTarget) == kOnPending;
    if (!wait_for([round] { return g_target_runs.load() == round; })) {
      ++lost;
      break;
    }
    if (rt::affinity_info(kTarget) != kOn) ++not_on;
    size_t winners = 0;
    uint64_t winner = ~0ull;
    for (size_t i = 0; i < kRacers; ++i) {
      const int64_t r = g_result[round][i];
      if (r == 0) {
        ++winners;
        winner = i;
      } else if (r != static_cast<int64_t>(Ret::kOnPending) && r != static_cast<int64_t>(Ret::kAlreadyOn)) {
        ++bad_losers;
        rt::print("round %lu: racer %zu got %ld\n", round, i, r);
      }
    }
    if (winners != 1) {
      ++bad_winners;
      rt::print("round %lu: %zu calls succeeded\n", round, winners);
    }
    if (g_started_by.load() != winner) ++bad_context;
    g_release.store(round);
    if (!wait_for([] { return rt::affinity_info(kTarget) == kOff; })) ++not_off;
  }
  check(lost == 0, "every_round_completed", "");
  check(bad_winners == 0, "exactly_one_cpu_on_succeeds_each_round", "%lu rounds wrong", bad_winners);
  check(bad_losers == 0, "losers_told_on_pending_or_already_on", "%lu wrong answers", bad_losers);
  check(bad_context == 0, "target_runs_with_the_winners_context", "%lu rounds wrong", bad_context);
  check(not_on == 0, "affinity_info_on_while_target_runs", "%lu rounds", not_on);
  check(not_off == 0, "affinity_info_off_after_cpu_off", "%lu rounds", not_off);
  check(g_target_runs.load() == kRounds, "target_ran_once_per_round", "%lu runs", g_target_runs.load());
  rt::print("psci race: ON_PENDING seen in %lu of %lu rounds\n", pending_seen, kRounds);
  // The racers are done: they turn themselves off.
  check(wait_for([] {
          for (uint64_t m = 1; m <= kRacers; ++m) {
            if (rt::affinity_info(m) != kOff) return false;
          }
          return true;
        }),
        "racers_turned_off", "");
  guest::finish("psci race");
}
