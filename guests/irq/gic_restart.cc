// The GIC server restarted again and again while the guest configures
// interrupts and takes a stream of them: no configuration and no interrupt
// is lost or doubled. The guest (with the control right) restarts the
// server itself between rounds of: a priority and an enable written through
// the distributor or its redistributor, SGIs sent to itself, all taken
// (counted in the handler), the configuration read back.
#include <atomic>
#include <cstdint>

#include "guests/lib/check.h"
#include "guests/lib/gic.h"
#include "ipc/hypercall.h"
#include "runtime/runtime.h"

namespace {

using guest::check;
namespace gic = guest::gic;

constexpr uint64_t kGicServerId = 2;  // the second partition of the package
constexpr int kRounds = 40;
constexpr uint32_t kPerRound = 5;

std::atomic<uint32_t> g_taken[16];
std::atomic<uint32_t> g_other{0};

volatile uint8_t& priority(uint32_t intid) {
  return *reinterpret_cast<volatile uint8_t*>(gic::kRedist + gic::kRedistStride * gic::self() + 0x1'0000 + 0x400 +
                                              intid);
}

}  // namespace

extern "C" void partition_irq(rt::ExceptionFrame* /*frame*/) {
  gic::take_all([&](uint32_t id) {
    if (id < 16) {
      g_taken[id].fetch_add(1);
    } else {
      g_other.fetch_add(1);
    }
  });
}

void partition_main(uint64_t /*dtb*/) {
  gic::init_distributor();
  gic::init_cpu();
  gic::irqs_on();
  uint32_t sent[16] = {};
  uint32_t wrong_priority = 0;
  uint32_t refused = 0;
  for (int round = 0; round < kRounds; ++round) {
    const uint32_t sgi = static_cast<uint32_t>(round) % 16;
    const auto want = static_cast<uint8_t>(0x10 + 0x08 * (round % 20));
    gic::enable_private(sgi, want);
    for (uint32_t k = 0; k < kPerRound; ++k) {
      gic::send_sgi(sgi, 1);
      ++sent[sgi];
    }
    if (rt::hvc(hyp::abi::kHypServerRestart, kGicServerId).x0 != 0) ++refused;
    // Read back through the restarted server.
    if ((priority(sgi) & 0xf8) != (want & 0xf8)) ++wrong_priority;
  }
  // Every SGI was taken (they are taken as they are sent, IRQs on).
  const uint64_t end = rt::read_counter() + rt::counter_frequency() / 10;
  bool all = false;
  while (!all && rt::read_counter() < end) {
    all = true;
    for (uint32_t i = 0; i < 16; ++i) all = all && g_taken[i].load() == sent[i];
  }
  uint32_t lost = 0;
  uint32_t doubled = 0;
  for (uint32_t i = 0; i < 16; ++i) {
    if (g_taken[i].load() < sent[i]) lost += sent[i] - g_taken[i].load();
    if (g_taken[i].load() > sent[i]) doubled += g_taken[i].load() - sent[i];
  }
  check(refused == 0, "every_restart_accepted", "%u refused", refused);
  check(wrong_priority == 0, "configuration_kept_across_restarts", "%u wrong", wrong_priority);
  check(lost == 0 && doubled == 0, "no_interrupt_lost_or_doubled", "%u lost, %u doubled", lost, doubled);
  check(g_other.load() == 0, "no_other_interrupts", "%u", g_other.load());
  guest::finish("gic_restart");
}
