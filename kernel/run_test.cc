// The run loop on the host: partitions built by the real loader in fake
// physical memory, exits driven through on_exit() as the exception entry
// would, and the test playing the device server's part on its rings.
#include "kernel/run.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ffa/abi.h"
#include "ipc/control.h"
#include "ipc/hypercall.h"
#include "ipc/psci.h"
#include "kernel/arch/cpu.h"
#include "kernel/arch/fake/fake.h"
#include "kernel/console.h"
#include "kernel/ffa/sharing.h"
#include "kernel/sched/scheduler.h"

namespace hyp {
namespace {

constexpr uint64_t k2M = 2ull << 20;
constexpr uint64_t kRamIpa = 0x4000'0000;
constexpr uint64_t kDeviceIpa = 0x900'0000;
constexpr uint64_t kUart = 0x9000'0000;  // the fake PL011 the kernel console writes to
constexpr uint64_t kMpidr[] = {0x0, 0x1};
constexpr uint64_t kFrequency = 1'000'000;  // 1 MHz: 1000 ticks per ms
constexpr uint64_t kSliceTicks = kFrequency / 1000 * sched::kSliceMs;

uint64_t esr(Ec ec, uint32_t iss) { return (uint64_t{static_cast<uint8_t>(ec)} << 26) | (1u << 25) | iss; }

// A 32-bit load into w5 (ISV, SAS = 2, SRT = 5).
TrapInfo read_trap(uint64_t ipa) {
  return {esr(Ec::kDataAbortLower, (1u << 24) | (2u << 22) | (5u << 16) | 0x07), ipa, (ipa >> 12) << 4};
}
TrapInfo hvc_trap() { return {esr(Ec::kHvc64, 0), 0, 0}; }
TrapInfo smc_trap() { return {esr(Ec::kSmc64, 0), 0, 0}; }
// A write of x`rt` to system register op0 3, op1, C12, C11, op2 (the SGI
// generation registers).
TrapInfo sgi_write_trap(uint32_t op1, uint32_t op2, uint32_t rt) {
  return {esr(Ec::kSysreg, (3u << 20) | (op2 << 17) | (op1 << 14) | (12u << 10) | (rt << 5) | (11u << 1)), 0, 0};
}
TrapInfo wfi_trap() { return {esr(Ec::kWfx, 0), 0, 0}; }

// In a death test's child: the firmware's SYSTEM_OFF (the machine powering
// off) says so and ends the process with status 0.
void firmware_exits_on_system_off() {
  arch::fake::set_smc_handler([](const arch::SmcArgs& a) -> arch::SmcResult {
    if (a.x[0] == psci::kSystemOff) {
      std::fprintf(stderr, "firmware SYSTEM_OFF\n");
      std::_Exit(0);
    }
    return {};
  });
}

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    arch::fake::reset();
    arch::fake::set_counter(kFrequency, 1);
    arch::fake::set_mmio([](Pa) -> uint32_t { return 0; },
                         [this](Pa reg, uint32_t value) {
                           if (reg == Pa(kUart)) console_ += static_cast<char>(value);
                         });
    console::init(Pa(kUart));
    tables_.add(table_memory_.base(), table_memory_.pages());
    ASSERT_EQ(phys_.add(ram_.base(), ram_.pages() * kPageSize), Status::kOk);
    auto el2 = PageTable::create(tables_, arch::mm::Regime::kEl2);
    ASSERT_TRUE(el2.ok());
    el2_ = *el2;

    PackagedPartition& server = package_.partitions[0];
    std::strcpy(server.name.data(), "srv");
    server.kind = PackagedKind::kServer;
    server.vcpus = 1;
    server.ram_ipa = Ipa(kRamIpa);
    server.ram_size = k2M;
    server.entry = Ipa(kRamIpa);
    server.dma_pool_size = 2 * kPageSize;
    PackagedPartition& guest = package_.partitions[1];
    std::strcpy(guest.name.data(), "vm");
    guest.vcpus = 3;
    guest.ram_ipa = Ipa(kRamIpa);
    guest.ram_size = k2M;
    guest.entry = Ipa(kRamIpa + 0x80);
    guest.dtb = Ipa(kRamIpa + 0x1000);
    guest.routes[0] = {Ipa(kDeviceIpa), kPageSize, 0, 0};
    guest.route_count = 1;
    // The second half of the guest's RAM, granted to the server.
    guest.grants[0] = {Ipa(kRamIpa + k2M / 2), k2M / 2, {0}, 1};
    guest.grant_count = 1;
    package_.count = 2;

    const char* why = "";
    for (size_t i = 0; i < 2; ++i) {
      ASSERT_EQ(create_partition(package_.partitions[i], static_cast<uint16_t>(i + 1), partitions_[i], env_, why),
                Status::kOk)
          << why;
    }
    partitions_[1].routes[0] = {Ipa(kDeviceIpa), kPageSize, &partitions_[0], 0};
    partitions_[1].route_count = 1;
    Partition* failed = nullptr;
    const bool online[] = {true, true};
    package_.partitions[0].stopped = server_stopped_at_boot_;
    ASSERT_EQ(run_init(partitions_, 2, &package_, env_, kMpidr, online, 2, failed), Status::kOk);
    run_start(0);
    if (server_stopped_at_boot_) {
      ASSERT_EQ(schedule(0), &vcpu(0).ctx);
      return;
    }
    // The server runs first, anywhere: it has never run. Its first wait
    // hands CPU 0 to the guest's vCPU 0.
    ASSERT_EQ(schedule(0), &server_vcpu().ctx);
    ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  }
  bool server_stopped_at_boot_ = false;

  Vcpu& vcpu(size_t i) { return partitions_[1].vcpus[i]; }
  Vcpu& server_vcpu() { return partitions_[0].vcpus[0]; }
  ChannelPages pages() { return partitions_[0].channel->pages(); }

  // vCPU `v` makes an SMCCC call by HVC.
  VcpuContext* call(Vcpu& v, uint64_t fid, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = 0) {
    v.ctx.x[0] = fid;
    v.ctx.x[1] = x1;
    v.ctx.x[2] = x2;
    v.ctx.x[3] = x3;
    return on_exit(v, ExitKind::kSync, hvc_trap());
  }
  VcpuContext* server_wait() { return call(server_vcpu(), abi::kHypServerWait); }
  VcpuContext* irq(Vcpu& v) { return on_exit(v, ExitKind::kIrq, {}); }

  // The server's part: takes the next request without answering it yet.
  ipc::Request take() {
    ipc::RingConsumer<ipc::Request, ipc::kRingEntries> in(pages().requests, pages().requests->head.load());
    ipc::Request r{};
    EXPECT_EQ(in.pop(r), ipc::RingStatus::kOk);
    return r;
  }
  void answer(const ipc::Request& r) {
    ipc::RingProducer<ipc::Response, ipc::kRingEntries> out(pages().responses, pages().responses->tail.load());
    ipc::Response resp{};
    resp.seq = r.seq;
    resp.data = r.offset + 0x100;
    EXPECT_EQ(out.push(resp), ipc::RingStatus::kOk);
    pages().state->done_seq = r.seq;
  }

  // The server's part: answers every read queued with `offset` + 0x100.
  // Returns how many requests it took.
  int serve() {
    ipc::RingConsumer<ipc::Request, ipc::kRingEntries> in(pages().requests, pages().requests->head.load());
    ipc::RingProducer<ipc::Response, ipc::kRingEntries> out(pages().responses, pages().responses->tail.load());
    ipc::Request r{};
    int taken = 0;
    while (in.pop(r) == ipc::RingStatus::kOk) {
      ++taken;
      if ((r.flags & ipc::kRequestPosted) == 0) {
        ipc::Response resp{};
        resp.seq = r.seq;
        resp.data = r.offset + 0x100;
        EXPECT_EQ(out.push(resp), ipc::RingStatus::kOk);
      }
      pages().state->done_seq = r.seq;
    }
    return taken;
  }

  // vCPU 0 (running on CPU 0) starts vCPU `i`, which the home CPU then runs.
  void start(size_t i) {
    ASSERT_EQ(call(vcpu(0), psci::kCpuOn64, i, kRamIpa + 0x200, 0x77), &vcpu(0).ctx);
    ASSERT_EQ(vcpu(0).ctx.x[0], 0u);
    ASSERT_EQ(vcpu(i).state, VcpuState::kRunnable);
  }

  std::string console_;
  arch::fake::PhysMemory ram_{16 * 512};
  arch::fake::PhysMemory table_memory_{64};
  PagePool tables_;
  PhysAllocator phys_;
  PageTable el2_;
  LoaderEnv env_{tables_, phys_, el2_};
  Package package_;
  Partition partitions_[2];
};

TEST_F(RunTest, VcpusArePlacedOverTheCpusAndOnlyVcpu0Starts) {
  EXPECT_EQ(home_of(vcpu(0)), 0u);
  EXPECT_EQ(home_of(vcpu(1)), 1u);
  EXPECT_EQ(home_of(vcpu(2)), 0u);
  EXPECT_EQ(vcpu(0).state, VcpuState::kRunning);
  EXPECT_EQ(vcpu(0).ctx.pc, kRamIpa + 0x80);
  EXPECT_EQ(vcpu(0).power.load(), VcpuPower::kOn);
  EXPECT_EQ(vcpu(1).state, VcpuState::kOff);
  EXPECT_EQ(schedule(1), nullptr) << "CPU 1 has nothing to run yet";
}

TEST_F(RunTest, CpuOnWakesTheHomeCpuWhichRunsTheVcpuAtItsEntryPoint) {
  const uint64_t wakes = arch::fake::wakes_sent_to(kMpidr[1]);
  start(1);
  EXPECT_EQ(arch::fake::wakes_sent_to(kMpidr[1]), wakes + 1);
  call(vcpu(0), psci::kAffinityInfo64, 1, 0);
  EXPECT_EQ(vcpu(0).ctx.x[0], 2u) << "ON_PENDING until it runs";
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  EXPECT_EQ(vcpu(1).ctx.pc, kRamIpa + 0x200);
  EXPECT_EQ(vcpu(1).ctx.x[0], 0x77u);
  EXPECT_EQ(arch::fake::loaded_vcpu().pc, kRamIpa + 0x200) << "its state is on the CPU";
  call(vcpu(0), psci::kAffinityInfo64, 1, 0);
  EXPECT_EQ(vcpu(0).ctx.x[0], 0u) << "ON";
  call(vcpu(0), psci::kCpuOn64, 1, kRamIpa, 0);
  EXPECT_EQ(static_cast<int64_t>(vcpu(0).ctx.x[0]), static_cast<int64_t>(psci::Ret::kAlreadyOn));
}

TEST_F(RunTest, CpuOffFreesTheCpuAndTheVcpuCanBeStartedAgain) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  EXPECT_EQ(call(vcpu(1), psci::kCpuOff), nullptr) << "CPU 1 has nothing left: it sleeps";
  EXPECT_EQ(vcpu(1).state, VcpuState::kOff);
  call(vcpu(0), psci::kAffinityInfo64, 1, 0);
  EXPECT_EQ(vcpu(0).ctx.x[0], 1u) << "OFF";
  start(1);
  EXPECT_EQ(schedule(1), &vcpu(1).ctx);
}

// A guest's virtual counter starts at zero when it is built, the same on
// all its vCPUs (one CNTVOFF_EL2 per guest), and again when it is reset;
// a server's is the physical count.
TEST_F(RunTest, AGuestsVcpusShareOneVirtualCounterOffsetANewOneAtReset) {
  const uint64_t built = vcpu(0).ctx.el2.cntvoff_el2;
  EXPECT_NE(built, 0u);
  for (size_t i = 1; i < 3; ++i) EXPECT_EQ(vcpu(i).ctx.el2.cntvoff_el2, built) << i;
  EXPECT_EQ(server_vcpu().ctx.el2.cntvoff_el2, 0u);
  arch::fake::advance_counter(1000);
  VcpuContext* next = call(vcpu(0), psci::kSystemReset);
  if (next == &server_vcpu().ctx) {  // the device reset first
    serve();
    next = server_wait();
  }
  ASSERT_EQ(next, &vcpu(0).ctx);
  EXPECT_GT(vcpu(0).ctx.el2.cntvoff_el2, built + 1000);
  EXPECT_EQ(vcpu(2).ctx.el2.cntvoff_el2, vcpu(0).ctx.el2.cntvoff_el2);
}

// The package's memory grant is made before anything runs and published in
// the server's info page (with its physical address, for DMA); the server's
// window stays mapped, and the info page says the same, after the server
// restarts and after the guest resets. So does the server's DMA pool, whose
// contents a restart leaves alone.
TEST_F(RunTest, AMemoryGrantIsInPlaceFromTheStartAndLastsAcrossRestartsAndResets) {
  Partition& server = partitions_[0];
  Partition& guest = partitions_[1];
  const uint64_t granted = kRamIpa + k2M / 2;
  uint8_t pool_byte = 0;  // the pool starts zeroed
  auto check = [&](const char* when) {
    const ipc::ServerInfo& info = *pages().info;
    ASSERT_EQ(info.grant_count, 1u) << when;
    const ipc::Grant& g = info.grants[0];
    EXPECT_STREQ(g.client, "vm") << when;
    EXPECT_EQ(g.client_id, guest.id) << when;
    EXPECT_NE(g.handle & ffa::kHandleHypervisor, 0u) << when;
    EXPECT_EQ(g.ipa, granted) << when;
    EXPECT_EQ(g.size, k2M / 2) << when;
    EXPECT_EQ(g.window, borrowed_ipa(guest, 0)) << when;
    EXPECT_EQ(g.pa, guest.stage2.translate(granted)->pa.value()) << when;
    ASSERT_EQ(info.dma_pool_size, 2 * kPageSize) << when;
    for (const uint64_t off : {uint64_t{0}, kPageSize}) {
      const auto pool = server.stage2.translate(ipc::kDmaPoolIpa + off);
      ASSERT_TRUE(pool) << when;
      EXPECT_EQ(pool->pa.value(), info.dma_pool_pa + off) << when;
      EXPECT_TRUE(pool->attrs.write && !pool->attrs.exec) << when;
      EXPECT_EQ(pool->attrs.state, arch::mm::PageState::kSharedBorrowed) << when << ": not the server's to share";
    }
    EXPECT_FALSE(server.stage2.translate(ipc::kDmaPoolIpa + 2 * kPageSize)) << when;
    EXPECT_EQ(*static_cast<uint8_t*>(arch::mm::phys_to_virt(Pa(info.dma_pool_pa + 5))), pool_byte) << when;
    for (const uint64_t ipa : {granted, granted + k2M / 2 - kPageSize}) {
      const auto w = server.stage2.translate(g.window + ipa);
      ASSERT_TRUE(w) << when;
      EXPECT_EQ(w->pa, guest.stage2.translate(ipa)->pa) << when;
      EXPECT_TRUE(w->attrs.write) << when;
      EXPECT_EQ(guest.stage2.translate(ipa)->attrs.state, arch::mm::PageState::kSharedOwned) << when;
    }
    EXPECT_FALSE(server.stage2.translate(g.window + granted - kPageSize)) << when << ": only what was granted";
    EXPECT_EQ(guest.stage2.translate(kRamIpa)->attrs, kPartitionRam) << when << ": the rest is the guest's alone";
  };
  check("at start");
  pool_byte = 0x5a;
  *static_cast<uint8_t*>(arch::mm::phys_to_virt(Pa(pages().info->dma_pool_pa + 5))) = pool_byte;
  partitions_[1].control = true;
  partitions_[1].control_targets = ~0u;
  ASSERT_EQ(call(vcpu(0), abi::kHypServerRestart, server.id), &server_vcpu().ctx);
  answer(take());  // the quiesce
  ASSERT_EQ(server_wait(), &server_vcpu().ctx) << "the new instance";
  check("after a restart of the server");
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  VcpuContext* next = call(vcpu(0), psci::kSystemReset);
  if (next == &server_vcpu().ctx) {  // the device reset first
    serve();
    next = server_wait();
  }
  ASSERT_EQ(next, &vcpu(0).ctx);
  check("after a reset of the guest");
}

TEST_F(RunTest, WfiBlocksTheVcpuUntilItsTimerAndTheCpuSleepsMeanwhile) {
  const uint64_t now = arch::counter_ticks();
  // Enabled, not masked, due 5000 ticks from now in the guest's virtual time.
  arch::fake::set_virtual_timer(1, now - vcpu(0).ctx.el2.cntvoff_el2 + 5000);
  const uint64_t pc = vcpu(0).ctx.pc;
  EXPECT_EQ(on_exit(vcpu(0), ExitKind::kSync, wfi_trap()), nullptr);
  EXPECT_EQ(vcpu(0).state, VcpuState::kBlocked);
  EXPECT_EQ(arch::fake::timer_deadline(), now + 5000) << "the CPU's timer is set for the wake-up, no earlier tick";
  EXPECT_EQ(schedule(0), nullptr) << "woken early: nothing to do yet";
  arch::fake::advance_counter(5000);
  ASSERT_EQ(schedule(0), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.pc, pc + 4) << "resumes after its WFI";
  EXPECT_EQ(vcpu(0).waiting, VcpuWait::kNothing);
}

TEST_F(RunTest, AWfiWithNothingArmedSleepsWithTheTimerOff) {
  arch::fake::set_virtual_timer(0, 0);
  EXPECT_EQ(on_exit(vcpu(0), ExitKind::kSync, wfi_trap()), nullptr);
  EXPECT_EQ(arch::fake::timer_deadline(), 0u);
}

TEST_F(RunTest, TwoBusyVcpusOnOneCpuTakeTurnsAtEachSliceEnd) {
  start(2);  // homed on CPU 0 with vCPU 0
  // The first interrupt (the wake-up's) starts vCPU 0's slice.
  EXPECT_EQ(irq(vcpu(0)), &vcpu(0).ctx);
  const uint64_t deadline = arch::fake::timer_deadline();
  EXPECT_NE(deadline, 0u);
  EXPECT_LE(deadline, arch::counter_ticks() + kSliceTicks);
  arch::fake::advance_counter(kSliceTicks);
  ASSERT_EQ(irq(vcpu(0)), &vcpu(2).ctx);
  EXPECT_EQ(vcpu(0).state, VcpuState::kRunnable);
  arch::fake::advance_counter(kSliceTicks);
  ASSERT_EQ(irq(vcpu(2)), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(2).state, VcpuState::kRunnable);
  // vCPU 2 leaves (WFI, nothing armed): vCPU 0 runs alone, without a tick.
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, wfi_trap()), &vcpu(2).ctx);
  EXPECT_EQ(arch::fake::timer_deadline(), 0u);
}

TEST_F(RunTest, AReadSwitchesToTheServerOnThisCpuAndItsAnswerCompletesIt) {
  const uint64_t pc = vcpu(0).ctx.pc;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0x18)), &server_vcpu().ctx);
  EXPECT_EQ(vcpu(0).state, VcpuState::kRunning) << "it runs through the server";
  EXPECT_EQ(serve(), 1);
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x118u);
  EXPECT_EQ(vcpu(0).ctx.pc, pc + 4);
}

TEST_F(RunTest, AReadWhoseServerRunsElsewhereBlocksAndTheAnswerWakesItOnItsCpu) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  // vCPU 1 reads first: the server runs on CPU 1.
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, read_trap(kDeviceIpa + 0x4)), &server_vcpu().ctx);
  // vCPU 0 reads meanwhile: it cannot have the server, and blocks.
  EXPECT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0x8)), nullptr);
  EXPECT_EQ(vcpu(0).state, VcpuState::kBlocked);
  const uint64_t wakes = arch::fake::wakes_sent_to(kMpidr[0]);
  EXPECT_EQ(serve(), 2);
  ASSERT_EQ(server_wait(), &vcpu(1).ctx) << "back to the vCPU it stood in for";
  EXPECT_EQ(vcpu(1).ctx.x[5], 0x104u);
  EXPECT_EQ(vcpu(0).state, VcpuState::kRunnable);
  EXPECT_EQ(arch::fake::wakes_sent_to(kMpidr[0]), wakes + 1) << "CPU 0 is told";
  ASSERT_EQ(schedule(0), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x108u);
}

// The server's CPU looks for work and finds none, then a guest on another
// CPU queues a read and finds the server still claimed; the server's CPU
// lets go of it after. Without the guest's word (`wanted`), the read would
// sit in the ring with its vCPU blocked and nobody to run the server.
TEST_F(RunTest, AReadQueuedWhileTheServerIsLeavingIsNotStranded) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, read_trap(kDeviceIpa + 0x4)), &server_vcpu().ctx);
  EXPECT_EQ(serve(), 1);
  // vCPU 0's read lands between the server's last look and its release:
  // here, before the wait, which is the same to the ring.
  EXPECT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0xc)), nullptr);
  // The server sees the work at its wait; vCPU 1 has its answer and goes
  // on, and CPU 0 (told) takes the server up.
  EXPECT_EQ(server_wait(), &vcpu(1).ctx);
  ASSERT_EQ(schedule(0), &server_vcpu().ctx);
  EXPECT_EQ(serve(), 1);
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x10cu);
}

// A server with a steady stream of others' work does not keep the guest it
// stands in for from running once that guest has its answer: the guest goes
// on, and the work goes to another CPU.
TEST_F(RunTest, AGuestWithItsAnswerIsNotHeldBackByOthersWork) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, read_trap(kDeviceIpa + 0x4)), &server_vcpu().ctx);
  TrapInfo write = read_trap(kDeviceIpa);
  write.esr |= 1u << 6;
  EXPECT_EQ(serve(), 1);
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &vcpu(0).ctx);  // more work, from CPU 0
  const uint64_t events = arch::fake::events_sent();
  ASSERT_EQ(server_wait(), &vcpu(1).ctx);
  EXPECT_EQ(vcpu(1).ctx.x[5], 0x104u);
  EXPECT_GT(arch::fake::events_sent(), events) << "idle CPUs are told the server has work";
  EXPECT_NE(arch::fake::timer_deadline(), 0u) << "and this one keeps a slice while it waits";
}

// A server working in a guest's place holds the CPU no longer than a
// slice when another vCPU waits for it: the guest it stands in for ends its
// turn blocked on its read, the other runs, and the server is taken up
// again at the next slice's end (not at once, which would starve the other).
TEST_F(RunTest, AServerInAGuestsPlaceGivesWayAtTheSliceEnd) {
  start(2);
  EXPECT_EQ(irq(vcpu(0)), &vcpu(0).ctx);  // the slice starts
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0x20)), &server_vcpu().ctx);
  arch::fake::advance_counter(kSliceTicks);
  ASSERT_EQ(irq(server_vcpu()), &vcpu(2).ctx);
  EXPECT_EQ(vcpu(0).state, VcpuState::kBlocked);
  arch::fake::advance_counter(kSliceTicks);
  ASSERT_EQ(irq(vcpu(2)), &server_vcpu().ctx) << "the server's turn, its work still queued";
  EXPECT_EQ(serve(), 1);
  VcpuContext* next = server_wait();
  EXPECT_EQ(vcpu(0).state, next == &vcpu(0).ctx ? VcpuState::kRunning : VcpuState::kRunnable);
  if (next != &vcpu(0).ctx) {
    ASSERT_EQ(next, &vcpu(2).ctx);  // its slice started when it was picked, vCPU 0 queued
    arch::fake::advance_counter(kSliceTicks);
    ASSERT_EQ(irq(vcpu(2)), &vcpu(0).ctx);
  }
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x120u);
}

// A server a CPU takes up by itself (work queued, nobody on it) while a vCPU
// waits there gets a slice like a vCPU: it is not left to run until its
// watchdog's budget is spent.
TEST_F(RunTest, AServerTakenUpWhileAVcpuWaitsHasASlice) {
  TrapInfo write = read_trap(kDeviceIpa);
  write.esr |= 1u << 6;  // WnR: a posted write, the server's work
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &vcpu(0).ctx);
  start(1);  // queued on CPU 1, which takes up the server first
  ASSERT_EQ(schedule(1), &server_vcpu().ctx);
  const uint64_t deadline = arch::fake::timer_deadline();
  EXPECT_NE(deadline, 0u);
  EXPECT_LE(deadline, arch::counter_ticks() + kSliceTicks) << "a slice's end, not the watchdog's";
  arch::fake::advance_counter(kSliceTicks);
  EXPECT_EQ(irq(server_vcpu()), &vcpu(1).ctx);
}

// A server taken off in the middle of a request (taken from its ring, not
// answered) must be taken up again although its ring shows no work: an idle
// CPU does it, and the guest it stood in for gets its answer.
TEST_F(RunTest, AServerTakenOffMidRequestIsTakenUpAgain) {
  start(2);
  EXPECT_EQ(irq(vcpu(0)), &vcpu(0).ctx);
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0x30)), &server_vcpu().ctx);
  const ipc::Request r = take();
  arch::fake::advance_counter(kSliceTicks);
  ASSERT_EQ(irq(server_vcpu()), &vcpu(2).ctx) << "taken off mid-request";
  ASSERT_EQ(schedule(1), &server_vcpu().ctx) << "the idle CPU takes it up";
  answer(r);
  EXPECT_EQ(server_wait(), nullptr) << "nothing else for CPU 1";
  EXPECT_EQ(vcpu(0).state, VcpuState::kRunnable);
  arch::fake::advance_counter(kSliceTicks);
  ASSERT_EQ(irq(vcpu(2)), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x130u);
}

// The new instance's first wait completes the restart call of the guest it
// stands in for and, at the same time, a read replayed to it whose vCPU is
// blocked on another CPU: that vCPU must be woken too.
TEST_F(RunTest, AReadAnsweredAtTheWaitThatCompletesARestartWakesItsVcpu) {
  partitions_[1].control = true;
  partitions_[1].control_targets = ~0u;
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  ASSERT_EQ(call(vcpu(0), abi::kHypServerRestart, partitions_[0].id), &server_vcpu().ctx);
  EXPECT_EQ(on_exit(vcpu(1), ExitKind::kSync, read_trap(kDeviceIpa + 0x40)), nullptr);
  answer(take());  // the quiesce; the read stays queued
  ASSERT_EQ(server_wait(), &server_vcpu().ctx) << "the new instance, here";
  EXPECT_EQ(serve(), 1) << "the read, replayed";
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[0], 0u) << "the restart call succeeded";
  EXPECT_EQ(vcpu(1).state, VcpuState::kRunnable);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  EXPECT_EQ(vcpu(1).ctx.x[5], 0x140u);
}

// A server that takes a read and waits without answering it is not left
// owing: here the reader is blocked on another CPU, and the guest the
// server stands in for has its answer, so the server counts as having work
// and the reader's CPU takes it up. Its next wait that takes nothing fails
// it: it is restarted with the read replayed.
TEST_F(RunTest, AServerThatWaitsOwingAnAnswerGoesOnAndIsFailed) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, read_trap(kDeviceIpa + 0x4)), &server_vcpu().ctx);
  EXPECT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0x50)), nullptr);
  answer(take());  // vCPU 1's read
  (void)take();    // vCPU 0's, taken and never answered
  ASSERT_EQ(server_wait(), &vcpu(1).ctx) << "vCPU 1 has its answer";
  EXPECT_EQ(vcpu(1).ctx.x[5], 0x104u);
  EXPECT_EQ(console_.find("owing"), std::string::npos);
  ASSERT_EQ(schedule(0), &server_vcpu().ctx) << "owing counts as work";
  ASSERT_EQ(server_wait(), &server_vcpu().ctx) << "failed, and restarted here";
  EXPECT_NE(console_.find("failed: it waits owing an answer"), std::string::npos) << console_;
  EXPECT_NE(console_.find("1 requests replayed"), std::string::npos) << console_;
  EXPECT_EQ(serve(), 1);
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x150u);
}

// vCPU 0 is blocked on a read whose answer the server has published but
// not yet reported at a wait; another guest's writes fill the ring, and the
// push that makes room takes that answer. The vCPU is woken then, not left
// blocked until some later wait happens to answer someone else.
TEST_F(RunTest, AnAnswerTakenByAnotherGuestsPushWakesItsVcpu) {
  start(1);
  start(2);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, read_trap(kDeviceIpa + 0x4)), &server_vcpu().ctx);
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0x8)), &vcpu(2).ctx);
  ASSERT_EQ(vcpu(0).state, VcpuState::kBlocked);
  EXPECT_EQ(serve(), 2);  // both answered in the ring; the server has not waited yet
  TrapInfo write = read_trap(kDeviceIpa);
  write.esr |= 1u << 6;
  for (int i = 0; i < 70; ++i) ASSERT_EQ(on_exit(vcpu(2), ExitKind::kSync, write), &vcpu(2).ctx) << i;
  ASSERT_TRUE(vcpu(0).pending.done.load()) << "its answer was taken by vCPU 2's push";
  EXPECT_EQ(vcpu(0).state, VcpuState::kRunnable);
}

// A server taken up at a guest's slice end gets a slice of its own: its
// timer is not left at the old, passed slice end (which would take it off
// again before it ran at all).
TEST_F(RunTest, AServerTakenUpAtASliceEndGetsAFreshSlice) {
  start(2);
  EXPECT_EQ(irq(vcpu(0)), &vcpu(0).ctx);  // the slice starts
  TrapInfo write = read_trap(kDeviceIpa);
  write.esr |= 1u << 6;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &vcpu(0).ctx);  // work for a server nobody runs
  arch::fake::advance_counter(kSliceTicks);
  ASSERT_EQ(irq(vcpu(0)), &server_vcpu().ctx) << "the server first at the slice end";
  EXPECT_GT(arch::fake::timer_deadline(), arch::counter_ticks());
  EXPECT_EQ(irq(server_vcpu()), &server_vcpu().ctx) << "not taken off before its slice ends";
}

// A posted write to a server nobody runs, from a vCPU alone on its CPU:
// the CPU keeps a slice, at whose end it takes the server up.
TEST_F(RunTest, APostedWriteToAnIdleServerIsTakenUpAtTheWritersSliceEnd) {
  TrapInfo write = read_trap(kDeviceIpa);
  write.esr |= 1u << 6;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &vcpu(0).ctx);
  EXPECT_NE(arch::fake::timer_deadline(), 0u);
  arch::fake::advance_counter(kSliceTicks);
  ASSERT_EQ(irq(vcpu(0)), &server_vcpu().ctx);
  EXPECT_EQ(serve(), 1);
  EXPECT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(arch::fake::timer_deadline(), 0u) << "nobody waits any more: no tick";
}

// ---- Virtual interrupts ----------------------------------------------------

// The INTID in LR `i` of `l`, if that LR holds one in `state`.
bool lr_holds(const ListRegisters& l, uint32_t intid, uint64_t state) {
  for (uint32_t i = 0; i < arch::list_registers(); ++i) {
    if (l.lr[i] != 0 && (l.lr[i] & vgic::lr::kIntidMask) == intid && (l.lr[i] & vgic::lr::kStateMask) == state) {
      return true;
    }
  }
  return false;
}

// Whether SGI 5 of vCPU `vcpu` is still owed to it (pending, in an LR or not).
bool vgic_pending(Partition& p, uint32_t vcpu) {
  const Result<vgic::Vgic::State> st = p.vgic.state(vcpu, 5);
  return st.ok() && st->pending;
}

void enable_irq(Partition& p, uint32_t vcpu, uint32_t intid, vgic::Trigger t = vgic::Trigger::kEdge) {
  vgic::Kick k;
  ASSERT_EQ(p.vgic.configure(vcpu, intid, {true, true, t, 0x80, 0}, k), Status::kOk);
}

// vCPU 0 sends SGI 5 to vCPU 1, which runs on CPU 1: CPU 1 is interrupted
// and, at that exit, puts the SGI in vCPU 1's list registers.
TEST_F(RunTest, AnSgiToAVcpuRunningElsewhereInterruptsItsCpuAndLandsInItsLrs) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  enable_irq(partitions_[1], 1, 5);
  const uint64_t wakes = arch::fake::wakes_sent_to(kMpidr[1]);
  vcpu(0).ctx.x[3] = uint64_t{5} << 24 | 0b10;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, sgi_write_trap(0, 5, 3)), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.pc, kRamIpa + 0x80 + 4) << "stepped over the MSR";
  EXPECT_GT(arch::fake::wakes_sent_to(kMpidr[1]), wakes);
  EXPECT_TRUE(vcpu(1).irqs_changed.load());
  ASSERT_EQ(irq(vcpu(1)), &vcpu(1).ctx);
  EXPECT_TRUE(lr_holds(arch::fake::hardware_lrs(), 5, vgic::lr::kPending));
  EXPECT_FALSE(vcpu(1).irqs_changed.load());
}

TEST_F(RunTest, AnSgiWakesAVcpuInWfiAndAnSgiToNobodyChangesNothing) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  enable_irq(partitions_[1], 1, 2);
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, wfi_trap()), nullptr) << "blocked; CPU 1 sleeps";
  EXPECT_EQ(vcpu(1).state, VcpuState::kBlocked);
  vcpu(0).ctx.x[7] = uint64_t{2} << 24 | (uint64_t{1} << 16) | 0b10;  // Aff1 = 1: no such vCPU
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, sgi_write_trap(0, 5, 7)), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(1).state, VcpuState::kBlocked);
  vcpu(0).ctx.x[7] = uint64_t{2} << 24 | 0b10;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, sgi_write_trap(0, 5, 7)), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(1).state, VcpuState::kRunnable);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  EXPECT_TRUE(lr_holds(arch::fake::hardware_lrs(), 2, vgic::lr::kPending));
}

// WFI with an interrupt pending returns at once; with it taken and
// deactivated (the guest's CPU interface, played here), WFI blocks.
TEST_F(RunTest, WfiDoesNotBlockWhileAnInterruptIsPending) {
  enable_irq(partitions_[1], 0, 9);
  vcpu(0).ctx.x[1] = uint64_t{9} << 24 | 0b1;  // to itself
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, sgi_write_trap(0, 5, 1)), &vcpu(0).ctx);
  ASSERT_TRUE(lr_holds(arch::fake::hardware_lrs(), 9, vgic::lr::kPending));
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, wfi_trap()), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).state, VcpuState::kRunning);
  for (uint64_t& lr : arch::fake::hardware_lrs().lr) {
    if ((lr & vgic::lr::kIntidMask) == 9) lr &= ~vgic::lr::kStateMask;  // acknowledged and deactivated
  }
  EXPECT_EQ(on_exit(vcpu(0), ExitKind::kSync, wfi_trap()), nullptr);
  EXPECT_EQ(vcpu(0).state, VcpuState::kBlocked);
}

TEST_F(RunTest, SgiRegistersAreWriteOnlyAndNamedByTheirGroup) {
  enable_irq(partitions_[1], 0, 4);  // group 1
  TrapInfo read = sgi_write_trap(0, 5, 2);
  read.esr |= 1;  // direction: read
  const uint64_t pc = vcpu(0).ctx.pc;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read), &vcpu(0).ctx);
  EXPECT_NE(vcpu(0).ctx.pc, pc + 4) << "UNDEFINED: taken to the guest's vector";
  vcpu(0).ctx.pc = pc;
  vcpu(0).ctx.x[2] = uint64_t{4} << 24 | 0b1;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, sgi_write_trap(2, 7, 2)), &vcpu(0).ctx);  // ICC_SGI0R_EL1
  EXPECT_FALSE(lr_holds(arch::fake::hardware_lrs(), 4, vgic::lr::kPending)) << "group 0 only";
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, sgi_write_trap(1, 6, 2)), &vcpu(0).ctx);  // ICC_ASGI1R_EL1
  EXPECT_FALSE(lr_holds(arch::fake::hardware_lrs(), 4, vgic::lr::kPending));
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, sgi_write_trap(0, 5, 2)), &vcpu(0).ctx);  // ICC_SGI1R_EL1
  EXPECT_TRUE(lr_holds(arch::fake::hardware_lrs(), 4, vgic::lr::kPending));
}

// The virtual timer fires while vCPU 0 runs: it goes to an LR mapped to
// the physical PPI (HW = 1), which the kernel leaves active. When the vCPU
// leaves its CPU, the mapping ends and the physical PPI is deactivated.
TEST_F(RunTest, TheVirtualTimerIsMappedWhileItsVcpuRunsAndEndedWhenItLeaves) {
  enable_irq(partitions_[1], 0, 27, vgic::Trigger::kLevel);
  start(2);  // a second vCPU on CPU 0, so that vCPU 0 has a slice
  arch::fake::take_interrupts({false, true, false});
  arch::fake::set_virtual_timer(0b101, 0);  // enabled, condition met: its output is high
  ASSERT_EQ(irq(vcpu(0)), &vcpu(0).ctx);
  EXPECT_EQ(arch::fake::deactivations(27), 0) << "active until the guest deactivates it";
  const ListRegisters& hw = arch::fake::hardware_lrs();
  ASSERT_TRUE(lr_holds(hw, 27, vgic::lr::kPending));
  bool mapped = false;
  for (uint64_t lr : hw.lr) mapped = mapped || ((lr & vgic::lr::kHw) != 0 && ((lr >> 32) & 0x1fff) == 27);
  EXPECT_TRUE(mapped);
  arch::fake::advance_counter(kSliceTicks);
  ASSERT_EQ(irq(vcpu(0)), &vcpu(2).ctx) << "the slice ends";
  EXPECT_EQ(arch::fake::deactivations(27), 1);
  EXPECT_TRUE(lr_holds(vcpu(0).ctx.lrs, 27, vgic::lr::kPending)) << "still owed to vCPU 0";
  for (uint64_t lr : vcpu(0).ctx.lrs.lr) EXPECT_EQ(lr & vgic::lr::kHw, 0u);
}

// The guest turns its timer off without an exit (CNTV_CTL_EL0): an
// injection it has not taken is withdrawn at its next refill, and the
// physical PPI ended, so that it neither takes a stale interrupt nor reads
// one as pending (GICR_ISPENDR0).
TEST_F(RunTest, AVirtualTimerTurnedOffBeforeTheGuestTookItsInterruptIsWithdrawn) {
  enable_irq(partitions_[1], 0, 27, vgic::Trigger::kLevel);
  start(1);
  arch::fake::set_virtual_timer(0b101, 0);
  arch::fake::take_interrupts({false, true, false});
  ASSERT_EQ(irq(vcpu(0)), &vcpu(0).ctx);
  ASSERT_TRUE(lr_holds(arch::fake::hardware_lrs(), 27, vgic::lr::kPending));
  arch::fake::set_virtual_timer(0, 0);  // the guest's write
  // Any refill looks at the timer again: here, an SGI the guest sends itself.
  enable_irq(partitions_[1], 0, 1);
  vcpu(0).ctx.x[1] = uint64_t{1} << 24 | 0b1;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, sgi_write_trap(0, 5, 1)), &vcpu(0).ctx);
  EXPECT_FALSE(lr_holds(arch::fake::hardware_lrs(), 27, vgic::lr::kPending));
  EXPECT_EQ(arch::fake::deactivations(27), 1) << "the physical PPI is free to fire again";
  const Result<vgic::Vgic::State> st = partitions_[1].vgic.state(0, 27);
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->pending);
}

// The same, seen when the vCPU leaves its CPU with the timer's interrupt
// still waiting while disabled in the vGIC.
TEST_F(RunTest, AVirtualTimerLowWhenItsVcpuLeavesIsNotOwedAfterwards) {
  start(2);
  arch::fake::set_virtual_timer(0b101, 0);
  arch::fake::take_interrupts({false, true, false});
  ASSERT_EQ(irq(vcpu(0)), &vcpu(0).ctx);
  EXPECT_EQ(arch::fake::deactivations(27), 0) << "disabled: waits with the physical PPI active";
  arch::fake::set_virtual_timer(0b111, 0);  // masked by the guest
  arch::fake::advance_counter(kSliceTicks);
  ASSERT_EQ(irq(vcpu(0)), &vcpu(2).ctx);
  EXPECT_EQ(arch::fake::deactivations(27), 1);
  Result<vgic::Vgic::State> st = partitions_[1].vgic.state(0, 27);
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->pending) << "nothing owed: enabling it now delivers nothing";
}

TEST_F(RunTest, AServersOwnTimerIsMaskedAndEnded) {
  TrapInfo write = read_trap(kDeviceIpa);
  write.esr |= 1u << 6;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &vcpu(0).ctx);
  ASSERT_EQ(schedule(1), &server_vcpu().ctx);
  arch::fake::take_interrupts({false, true, false});
  ASSERT_EQ(irq(server_vcpu()), &server_vcpu().ctx);
  EXPECT_EQ(arch::fake::deactivations(27), 1);
  EXPECT_NE(arch::fake::loaded_vcpu().el1.cntv_ctl_el0 & 2, 0u) << "IMASK";
}

TEST_F(RunTest, AMaintenanceInterruptFillsTheLrsAgainAndIsEnded) {
  for (uint32_t i = 0; i < 6; ++i) enable_irq(partitions_[1], 0, i);
  vcpu(0).ctx.x[1] = uint64_t{1} << 40;  // IRM: everyone else, nobody
  for (uint32_t i = 0; i < 6; ++i) {
    vcpu(0).ctx.x[1] = uint64_t{i} << 24 | 0b1;
    ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, sgi_write_trap(0, 5, 1)), &vcpu(0).ctx);
  }
  ListRegisters& hw = arch::fake::hardware_lrs();
  EXPECT_NE(arch::fake::ich_hcr() & vgic::kHcrNpie, 0u) << "six pending, four LRs";
  for (uint64_t& lr : hw.lr) lr &= ~vgic::lr::kStateMask;  // all four taken and done
  arch::fake::take_interrupts({false, false, true});
  ASSERT_EQ(irq(vcpu(0)), &vcpu(0).ctx);
  EXPECT_EQ(arch::fake::deactivations(25), 1);
  int pending = 0;
  for (uint64_t lr : hw.lr) pending += (lr & vgic::lr::kPending) != 0 ? 1 : 0;
  EXPECT_EQ(pending, 2) << "the other two";
  EXPECT_EQ(arch::fake::ich_hcr() & vgic::kHcrNpie, 0u);
}

// A wake-up of a running guest takes the short way (only its list
// registers are refilled) unless something else may need the CPU: a vCPU
// queued there, or a broadcast asking every CPU to look, since the CPU's
// last full look.
TEST_F(RunTest, AWakeUpTakesTheShortWayOnlyWhenNothingElseCameMeanwhile) {
  enable_irq(partitions_[1], 0, 3);
  ASSERT_EQ(irq(vcpu(0)), &vcpu(0).ctx);  // a full look
  EXPECT_EQ(arch::fake::timer_deadline(), 0u) << "alone: no slice";
  // An SGI to itself, told as another CPU would tell it: refilled.
  vgic::Kick k;
  ASSERT_EQ(partitions_[1].vgic.raise(0, 3, k), Status::kOk);
  vcpu(0).irqs_changed.store(true);
  ASSERT_EQ(irq(vcpu(0)), &vcpu(0).ctx);
  EXPECT_TRUE(lr_holds(arch::fake::hardware_lrs(), 3, vgic::lr::kPending));
  // vCPU 2 queued on this CPU: the next wake-up looks in full and starts a slice.
  start(2);
  ASSERT_EQ(irq(vcpu(0)), &vcpu(0).ctx);
  EXPECT_NE(arch::fake::timer_deadline(), 0u) << "vCPU 2 waits: a slice";
  EXPECT_EQ(vcpu(0).ctx.el2.hcr_el2 & (uint64_t{1} << 13), uint64_t{1} << 13) << "and WFI traps again";
}

TEST_F(RunTest, AWakeUpAfterABroadcastLooksInFull) {
  TrapInfo write = read_trap(kDeviceIpa);
  write.esr |= 1u << 6;
  ASSERT_EQ(irq(vcpu(0)), &vcpu(0).ctx);  // a full look
  // The server gets work nobody runs, and every CPU is asked to look.
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &vcpu(0).ctx);
  arch::timer_arm_at(0);
  arch::send_event();
  ASSERT_EQ(irq(vcpu(0)), &vcpu(0).ctx);
  EXPECT_NE(arch::fake::timer_deadline(), 0u) << "a server waits: this CPU keeps a slice to take it up";
}

// A device's interrupt (an SPI a server owns) makes its server run on a
// CPU that looks for work; the server's next wait ends the interrupt at the
// distributor. One nobody owns is ended at once.
TEST_F(RunTest, ADevicesInterruptRunsItsServerWhoseWaitEndsIt) {
  constexpr uint64_t kDist = 0x800'0000;
  std::vector<std::pair<uint64_t, uint32_t>> writes;
  arch::fake::set_mmio([](Pa) -> uint32_t { return 0; },
                       [&](Pa reg, uint32_t value) {
                         if (reg.value() >= kDist && reg.value() < kDist + 0x1'0000) writes.push_back({reg.value(), value});
                       });
  run_set_interrupt_controller(Pa(kDist));
  package_.partitions[0].device_irqs[0] = 40;
  package_.partitions[0].device_irq_count = 1;
  EXPECT_EQ(schedule(1), nullptr) << "nothing to do yet";
  arch::fake::take_device_interrupt(40);
  ASSERT_EQ(schedule(1), &server_vcpu().ctx) << "its server runs";
  EXPECT_TRUE(writes.empty()) << "not ended before the server has seen to it";
  EXPECT_EQ(server_wait(), nullptr);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0], (std::pair<uint64_t, uint32_t>{kDist + 0x380 + 4, 1u << 8})) << "GICD_ICACTIVER1, INTID 40";
  EXPECT_EQ(schedule(1), nullptr);
  arch::fake::take_device_interrupt(77);  // nobody's
  EXPECT_EQ(schedule(1), nullptr);
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[1], (std::pair<uint64_t, uint32_t>{kDist + 0x380 + 8, 1u << 13}));
  run_set_interrupt_controller(Pa(0));
}

// CNTP_<reg>_EL0 (op0 3, op1 3, CRn 14, CRm 2, op2) with x`rt`.
TrapInfo cntp_trap(uint32_t op2, uint32_t rt, bool read) {
  return {esr(Ec::kSysreg, (3u << 20) | (op2 << 17) | (3u << 14) | (14u << 10) | (rt << 5) | (2u << 1) | (read ? 1 : 0)),
          0, 0};
}

// The EL1 physical timer, emulated: armed through its registers, it arms
// the CPU's timer; when that fires, PPI 30 is pending for the guest; the
// guest turning it off lowers the line.
TEST_F(RunTest, TheEmulatedPhysicalTimerRaisesPpi30AtItsDeadline) {
  enable_irq(partitions_[1], 0, 30, vgic::Trigger::kLevel);
  const uint64_t now = arch::counter_ticks();
  vcpu(0).ctx.x[4] = now + 5000;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, cntp_trap(2, 4, false)), &vcpu(0).ctx);  // CVAL
  vcpu(0).ctx.x[4] = 1;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, cntp_trap(1, 4, false)), &vcpu(0).ctx);  // CTL: enable
  EXPECT_EQ(arch::fake::timer_deadline(), now + 5000) << "the CPU's timer, for the guest's";
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, cntp_trap(1, 6, true)), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[6], 1u) << "enabled, not yet due";
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, cntp_trap(0, 6, true)), &vcpu(0).ctx);  // TVAL
  EXPECT_GT(static_cast<int64_t>(vcpu(0).ctx.x[6]), 0);
  EXPECT_FALSE(lr_holds(arch::fake::hardware_lrs(), 30, vgic::lr::kPending));
  arch::fake::advance_counter(5000);
  ASSERT_EQ(irq(vcpu(0)), &vcpu(0).ctx);
  EXPECT_TRUE(lr_holds(arch::fake::hardware_lrs(), 30, vgic::lr::kPending)) << "due: PPI 30 pending";
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, cntp_trap(1, 6, true)), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[6], 1u | 4u) << "ISTATUS";
  vcpu(0).ctx.x[4] = 0;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, cntp_trap(1, 4, false)), &vcpu(0).ctx);  // off
  EXPECT_FALSE(lr_holds(arch::fake::hardware_lrs(), 30, vgic::lr::kPending)) << "its line fell: taken back";
}

TEST_F(RunTest, AVcpuInWfiIsWokenByItsPhysicalTimer) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  const uint64_t now = arch::counter_ticks();
  vcpu(1).ctx.x[2] = 3000;
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, cntp_trap(0, 2, false)), &vcpu(1).ctx);  // TVAL
  vcpu(1).ctx.x[2] = 1;
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, cntp_trap(1, 2, false)), &vcpu(1).ctx);
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, wfi_trap()), nullptr);
  EXPECT_EQ(vcpu(1).state, VcpuState::kBlocked);
  EXPECT_GE(vcpu(1).wake_at, now + 3000);
  EXPECT_LE(vcpu(1).wake_at, now + 3100);
  EXPECT_EQ(arch::fake::timer_deadline(), vcpu(1).wake_at) << "CPU 1 sleeps until then";
}

// A vCPU turned off with its timers' interrupts up: turned on again (its
// context, timers included, reset), neither PPI 30 nor PPI 27 is left
// pending.
TEST_F(RunTest, TurningOffDropsThePhysicalTimersLine) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  enable_irq(partitions_[1], 1, 30, vgic::Trigger::kLevel);
  enable_irq(partitions_[1], 1, 27, vgic::Trigger::kLevel);
  arch::fake::take_interrupts({false, true, false});  // its virtual timer fires
  ASSERT_EQ(irq(vcpu(1)), &vcpu(1).ctx);
  ASSERT_TRUE(partitions_[1].vgic.state(1, 27)->pending);
  vcpu(1).ctx.x[2] = 0;
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, cntp_trap(0, 2, false)), &vcpu(1).ctx);  // TVAL 0: due now
  vcpu(1).ctx.x[2] = 1;
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, cntp_trap(1, 2, false)), &vcpu(1).ctx);
  ASSERT_TRUE(partitions_[1].vgic.state(1, 30)->line);
  ASSERT_EQ(call(vcpu(1), psci::kCpuOff), nullptr);
  EXPECT_FALSE(partitions_[1].vgic.state(1, 30)->line);
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  EXPECT_FALSE(partitions_[1].vgic.state(1, 30)->pending);
  EXPECT_FALSE(partitions_[1].vgic.state(1, 27)->pending) << "no virtual timer behind it any more";
}

TEST_F(RunTest, ServersHaveNoPhysicalTimer) {
  const uint64_t pc = server_vcpu().ctx.pc;
  (void)schedule(1);  // nothing: the server waits
  server_vcpu().ctx.x[1] = 1;
  (void)on_exit(server_vcpu(), ExitKind::kSync, cntp_trap(1, 1, false));
  EXPECT_NE(server_vcpu().ctx.pc, pc + 4) << "UNDEFINED, not emulated";
}

// A write to the guest's interrupt controller is not posted: the guest
// waits for the server to have applied it (here, on its CPU), and only
// then goes past the store.
TEST_F(RunTest, AWriteToTheInterruptControllerWaitsForItsAnswer) {
  partitions_[1].routes[0].irqchip = true;
  TrapInfo write = read_trap(kDeviceIpa + 0x100);
  write.esr |= 1u << 6;
  vcpu(0).ctx.x[5] = 0x20;
  const uint64_t pc = vcpu(0).ctx.pc;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &server_vcpu().ctx) << "switched to the server";
  EXPECT_EQ(vcpu(0).ctx.pc, pc) << "not past the store yet";
  const ipc::Request r = take();
  EXPECT_EQ(r.kind, ipc::RequestKind::kWrite);
  EXPECT_EQ(r.flags & ipc::kRequestPosted, 0) << "an answer is waited for";
  EXPECT_EQ(r.data, 0x20u);
  answer(r);
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.pc, pc + 4);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x20u) << "a write changes no register";
  partitions_[1].routes[0].irqchip = false;
}

// A sender on CPU 0 sends SGIs, one at a time, to vCPU 1 while vCPU 1, on
// CPU 1, takes them and waits in WFI again and again: each is taken, none
// is left pending while vCPU 1 sleeps (a CPU sleeps only until it is
// woken, and a wait nothing ends is counted).
TEST_F(RunTest, SgisRacingAVcpuGoingInAndOutOfWfiNeverLeaveItAsleep) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  enable_irq(partitions_[1], 1, 5);
  arch::fake::set_wait_limit(std::chrono::milliseconds(1000));
  std::atomic<bool> stop{false};
  std::atomic<int> taken{0};
  std::thread cpu1([&] {
    uint64_t wakes = arch::fake::wakes_sent_to(kMpidr[1]);
    while (!stop.load()) {
      for (uint64_t& lr : arch::fake::hardware_lrs().lr) {  // the guest takes and ends SGI 5
        if ((lr & vgic::lr::kIntidMask) == 5 && (lr & vgic::lr::kPending) != 0) {
          lr &= ~vgic::lr::kStateMask;
          taken.fetch_add(1);
        }
      }
      VcpuContext* next = on_exit(vcpu(1), ExitKind::kSync, wfi_trap());
      while (next == nullptr && !stop.load()) {  // blocked: CPU 1 sleeps until woken, as cpu_loop() does
        arch::wait_for_event();
        next = schedule(1);
      }
      if (next == nullptr) break;
      ASSERT_EQ(next, &vcpu(1).ctx);
      if (arch::fake::wakes_sent_to(kMpidr[1]) != wakes) {  // the wake-up SGI, taken
        wakes = arch::fake::wakes_sent_to(kMpidr[1]);
        ASSERT_EQ(irq(vcpu(1)), &vcpu(1).ctx);
      }
    }
  });
  // One SGI at a time, each sent whenever vCPU 1 happens to be (going
  // into WFI, blocked, waking, running), and each must be taken.
  int lost = 0;
  for (int i = 0; i < 1000 && lost == 0; ++i) {
    const int before = taken.load();
    vcpu(0).ctx.x[1] = uint64_t{5} << 24 | 0b10;
    ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, sgi_write_trap(0, 5, 1)), &vcpu(0).ctx);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (taken.load() == before && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    if (taken.load() == before) ++lost;
  }
  stop.store(true);
  arch::send_event();
  cpu1.join();
  EXPECT_EQ(lost, 0) << "an SGI left pending while vCPU 1 slept";
  EXPECT_FALSE(vgic_pending(partitions_[1], 1));
  EXPECT_EQ(arch::fake::waits_slept_through(), 0u) << "a wait no SGI ended: a wake-up lost";
}

// A vCPU turned off with an SGI pending in its LRs gets it after it is
// turned on again (its context is reset): the SGI waited, not lost.
TEST_F(RunTest, AnSgiPendingAtCpuOffIsDeliveredAfterCpuOn) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  enable_irq(partitions_[1], 1, 6);
  vcpu(1).ctx.x[1] = uint64_t{6} << 24 | 0b10;
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, sgi_write_trap(0, 5, 1)), &vcpu(1).ctx);
  ASSERT_TRUE(lr_holds(arch::fake::hardware_lrs(), 6, vgic::lr::kPending));
  ASSERT_EQ(call(vcpu(1), psci::kCpuOff), nullptr);
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  EXPECT_TRUE(lr_holds(arch::fake::hardware_lrs(), 6, vgic::lr::kPending));
}

// The vCPU a stopper waits for turns itself off instead of taking the
// stopper's interrupt: the stopper is told all the same.
TEST_F(RunTest, AVcpuTurningOffWhileItsPartitionIsResetWakesTheStopper) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  arch::fake::set_wait_limit(std::chrono::milliseconds(500));
  std::thread cpu1([&] {
    while (arch::fake::wakes_sent_to(kMpidr[1]) < 2) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (void)call(vcpu(1), psci::kCpuOff);
  });
  (void)call(vcpu(0), psci::kSystemReset);
  cpu1.join();
  EXPECT_EQ(arch::fake::waits_slept_through(), 0u) << "the stopper slept with nobody to wake it";
  EXPECT_EQ(vcpu(1).state, VcpuState::kOff);
}

// A vCPU reset with its partition while it waited in a restart call: the
// restart still happens, but its end answers nobody (not the vCPU's next,
// unrelated read).
TEST_F(RunTest, ARestartCallerResetWithItsPartitionIsForgotten) {
  partitions_[1].control = true;
  partitions_[1].control_targets = ~0u;
  start(2);
  TrapInfo write = read_trap(kDeviceIpa);
  write.esr |= 1u << 6;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &vcpu(0).ctx);
  ASSERT_EQ(schedule(1), &server_vcpu().ctx);
  ASSERT_EQ(call(vcpu(0), abi::kHypServerRestart, partitions_[0].id), &vcpu(2).ctx);
  ASSERT_EQ(vcpu(0).state, VcpuState::kBlocked);
  ASSERT_EQ(call(vcpu(2), psci::kSystemReset), &vcpu(0).ctx);
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0x60)), nullptr);
  ASSERT_EQ(vcpu(0).state, VcpuState::kBlocked);
  (void)take();    // the write
  answer(take());  // the quiesce
  ASSERT_EQ(server_wait(), &server_vcpu().ctx) << "restarted";
  VcpuContext* next = server_wait();  // the new instance's first wait: the read is still queued
  EXPECT_EQ(next, &server_vcpu().ctx);
  EXPECT_EQ(vcpu(0).state, VcpuState::kBlocked) << "woken with its read unanswered";
  EXPECT_FALSE(vcpu(0).pending.done.load());
  while (next == &server_vcpu().ctx) {
    serve();
    next = server_wait();
  }
  ASSERT_EQ(schedule(0), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x160u);
}

// The last vCPU of a partition turning itself off stops the partition:
// nobody is left to turn one on.
TEST_F(RunTest, TheLastVcpuTurningOffStopsThePartition) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  EXPECT_EQ(call(vcpu(1), psci::kCpuOff), nullptr);
  EXPECT_EQ(partitions_[1].state, PartitionState::kRunning);
  EXPECT_EXIT(
      {
        firmware_exits_on_system_off();
        (void)call(vcpu(0), psci::kCpuOff);
      },
      ::testing::ExitedWithCode(0), "firmware SYSTEM_OFF");
}

// The watchdog counts a server's time on the CPU across the interrupts
// that split it: two stretches of 300 ms of one run, without a wait in
// between, exceed the 500 ms budget, and the server is restarted.
TEST_F(RunTest, TheWatchdogCountsARunAcrossInterrupts) {
  constexpr uint64_t k300Ms = kFrequency / 1000 * 300;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0x70)), &server_vcpu().ctx);
  arch::fake::advance_counter(k300Ms);
  ASSERT_EQ(irq(server_vcpu()), &server_vcpu().ctx) << "300 ms: within its budget";
  EXPECT_EQ(console_.find("ran past its budget"), std::string::npos);
  arch::fake::advance_counter(k300Ms);
  ASSERT_EQ(irq(server_vcpu()), &server_vcpu().ctx) << "600 ms: restarted";
  EXPECT_NE(console_.find("failed: it ran past its budget without waiting"), std::string::npos) << console_;
  EXPECT_EQ(serve(), 1) << "the read, replayed";
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x170u);
}

// A hostile vCPU on CPU 1 calls CPU_ON for vCPU 2 over and over while
// vCPU 0 resets the partition: the reset waits for it to leave its CPU,
// and after the reset nothing it started runs: only vCPU 0, at its entry.
TEST_F(RunTest, ACpuOnRacingASystemResetLeavesOnlyVcpu0Running) {
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  arch::fake::set_wait_limit(std::chrono::milliseconds(2000));
  std::atomic<bool> go{false};
  std::atomic<int> calls{0};
  std::thread cpu1([&] {
    while (!go.load()) std::this_thread::yield();
    // Until vCPU 1 is taken off its CPU by the reset. CPU 1 takes the
    // interrupt a wake-up sends it, as the hardware would, between calls.
    uint64_t wakes = arch::fake::wakes_sent_to(kMpidr[1]);
    VcpuContext* next = &vcpu(1).ctx;
    while (next == &vcpu(1).ctx) {
      if (arch::fake::wakes_sent_to(kMpidr[1]) != wakes) {
        wakes = arch::fake::wakes_sent_to(kMpidr[1]);
        next = irq(vcpu(1));
      } else {
        next = call(vcpu(1), psci::kCpuOn64, 2, kRamIpa + 0x300, 0x99);
        calls.fetch_add(1);
      }
    }
  });
  go.store(true);
  while (calls.load() < 3) std::this_thread::yield();  // the race is on
  VcpuContext* next = call(vcpu(0), psci::kSystemReset);
  cpu1.join();
  if (next == &server_vcpu().ctx) {  // the device reset first
    serve();
    next = server_wait();
  }
  ASSERT_EQ(next, &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.pc, kRamIpa + 0x80);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(vcpu(i).state, VcpuState::kOff) << i;
    EXPECT_EQ(vcpu(i).power.load(), VcpuPower::kOff) << i;
  }
  EXPECT_EQ(schedule(1), nullptr) << "nothing left on CPU 1";
  EXPECT_EQ(arch::fake::waits_slept_through(), 0u);
}

TEST_F(RunTest, SystemResetStopsEveryVcpuEvenOneRunningOnAnotherCpu) {
  start(1);
  start(2);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);  // vCPU 1 runs on CPU 1; vCPU 2 waits on CPU 0
  vcpu(0).ctx.el1.ttbr0_el1 = 0x1234;  // state that a reset must not keep
  arch::fake::set_wait_limit(std::chrono::milliseconds(5000));
  std::atomic<bool> done{false};
  std::atomic<int> served{0};
  // CPU 1: interrupted by the stopper's wake-up, as the hardware would do.
  // Once vCPU 1 has left, CPU 1 is idle and may take up the server for the
  // device reset the stopper queues (or CPU 0 does, whichever comes first).
  std::thread cpu1([&] {
    while (arch::fake::wakes_sent_to(kMpidr[1]) < 2 && !done.load()) std::this_thread::yield();
    VcpuContext* next1 = irq(vcpu(1));
    if (next1 == &server_vcpu().ctx) {
      served.fetch_add(serve());
      next1 = server_wait();
    }
    EXPECT_EQ(next1, nullptr) << "vCPU 1 left, and CPU 1 has nothing else";
  });
  VcpuContext* next = call(vcpu(0), psci::kSystemReset);
  done.store(true);
  cpu1.join();
  if (next == &server_vcpu().ctx) {  // the device reset, here
    served.fetch_add(serve());
    next = server_wait();
  }
  if (next == nullptr) next = schedule(0);  // CPU 0 slept while CPU 1 ran the server
  EXPECT_EQ(served.load(), 1) << "the device reset, served once";
  ASSERT_EQ(next, &vcpu(0).ctx) << "then vCPU 0 starts again on its CPU";
  EXPECT_EQ(vcpu(0).ctx.pc, kRamIpa + 0x80);
  EXPECT_EQ(vcpu(0).ctx.el1.ttbr0_el1, 0u);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(vcpu(i).state, VcpuState::kOff) << i;
    EXPECT_EQ(vcpu(i).power.load(), VcpuPower::kOff) << i;
  }
  EXPECT_NE(console_.find("partition vm (id 2) reset"), std::string::npos) << console_;
  EXPECT_FALSE(partitions_[1].stopping.load());
  EXPECT_EQ(arch::fake::waits_slept_through(), 0u);
}

// SYSTEM_OFF waits for the posted writes queued before it (a last line of
// output) when it can run their server here; when another CPU has the
// server, the power-off is not lost: the partition stops at once, and with
// it the machine (its last partition), by the firmware's SYSTEM_OFF.
TEST_F(RunTest, SystemOffWithItsServerBusyElsewhereStillStopsThePartition) {
  TrapInfo write = read_trap(kDeviceIpa);
  write.esr |= 1u << 6;  // WnR: a posted write
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &vcpu(0).ctx);
  ASSERT_EQ(schedule(1), &server_vcpu().ctx) << "CPU 1 takes up the server's work";
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &vcpu(0).ctx);
  EXPECT_EXIT(
      {
        firmware_exits_on_system_off();
        (void)call(vcpu(0), psci::kSystemOff);
      },
      ::testing::ExitedWithCode(0), "firmware SYSTEM_OFF");
}

TEST_F(RunTest, OfTwoVcpusStoppingTheirPartitionTheSecondGivesWay) {
  start(2);
  partitions_[1].stopping.store(true);  // another vCPU is at it
  // vCPU 0 just leaves; so does vCPU 2 when its CPU picks it.
  EXPECT_EQ(call(vcpu(0), psci::kSystemOff), nullptr);
  EXPECT_EQ(vcpu(0).state, VcpuState::kStopped);
  EXPECT_EQ(vcpu(2).state, VcpuState::kStopped);
}

// ---- FF-A direct messages through the run loop ------------------------------
//
// The server (FF-A ID 1) receives direct requests, the guest (ID 2) sends
// them. By HVC #0 they take the exit's fast path; by SMC (and HVC with the
// SVE hint) the general dispatch: the answers must be the same.

class DirectMessageTest : public RunTest {
 protected:
  void SetUp() override {
    RunTest::SetUp();
    partitions_[0].ffa.messaging = ffa::properties::kDirectReceive;
    partitions_[1].ffa.messaging = ffa::properties::kDirectSend;
  }

  // vCPU `v` makes FF-A call `x[0]` with all eight registers, by `trap`.
  VcpuContext* ffa_by(Vcpu& v, std::array<uint64_t, 8> x, TrapInfo trap = hvc_trap()) {
    for (size_t i = 0; i < 8; ++i) v.ctx.x[i] = x[i];
    return on_exit(v, ExitKind::kSync, trap);
  }

  // The server, run for a read of vCPU 0, answers it and waits for messages
  // (FFA_MSG_WAIT as its wait); vCPU 0 goes on.
  void server_waits_for_messages() {
    ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0x18)), &server_vcpu().ctx);
    EXPECT_EQ(serve(), 1);
    ASSERT_EQ(ffa_by(server_vcpu(), {ffa::kVersion, ffa::kVersion1_2}), &server_vcpu().ctx);
    ASSERT_EQ(ffa_by(server_vcpu(), {ffa::kMsgWait}), &vcpu(0).ctx);
    ASSERT_EQ(server_vcpu().direct.state.load(), MsgState::kWaiting);
  }

  void guest_negotiates() {
    ASSERT_EQ(ffa_by(vcpu(0), {ffa::kVersion, ffa::kVersion1_2}), &vcpu(0).ctx);
  }

  static int32_t error(const Vcpu& v) {
    return v.ctx.x[0] == ffa::kError ? static_cast<int32_t>(v.ctx.x[2]) : 0;
  }
  static int32_t code(ffa::Error e) { return static_cast<int32_t>(e); }

  // One round trip from vCPU 0 by `trap`: the server sees the request in
  // its registers, answers each word plus 0x10, and vCPU 0 resumes with
  // the answer.
  void round_trip(TrapInfo trap, uint32_t req, uint32_t resp) {
    const uint64_t guest_pc = vcpu(0).ctx.pc;
    const uint64_t exits = vcpu(0).exits[static_cast<size_t>(Esr(trap.esr).ec())].value();
    ASSERT_EQ(ffa_by(vcpu(0), {req, ffa::pack_ids(2, 1), 0, 0x1'0000'0003, 4, 5, 6, 0xffff'ffff'0000'0007}, trap),
              &server_vcpu().ctx)
        << "the server runs in the guest's place";
    EXPECT_EQ(vcpu(0).exits[static_cast<size_t>(Esr(trap.esr).ec())].value(), exits + 1);
    EXPECT_EQ(vcpu(0).state, VcpuState::kRunning);
    EXPECT_EQ(vcpu(0).waiting, VcpuWait::kDirect);
    const Vcpu& sv = server_vcpu();
    const bool wide = ffa::is_smc64(req);
    EXPECT_EQ(sv.ctx.x[0], req);
    EXPECT_EQ(sv.ctx.x[1], ffa::pack_ids(2, 1));
    EXPECT_EQ(sv.ctx.x[2], 0u);
    EXPECT_EQ(sv.ctx.x[3], wide ? 0x1'0000'0003u : 3u) << "SMC32 carries 32 bits";
    EXPECT_EQ(sv.ctx.x[6], 6u);
    EXPECT_EQ(sv.ctx.x[7], wide ? 0xffff'ffff'0000'0007u : 7u);
    ASSERT_EQ(ffa_by(server_vcpu(), {resp, ffa::pack_ids(1, 2), 0, sv.ctx.x[3] + 0x10, sv.ctx.x[4] + 0x10,
                                       sv.ctx.x[5] + 0x10, sv.ctx.x[6] + 0x10, sv.ctx.x[7] + 0x10},
                       trap),
              &vcpu(0).ctx)
        << "the response goes straight back to the guest";
    const Vcpu& g = vcpu(0);
    EXPECT_EQ(g.waiting, VcpuWait::kNothing);
    EXPECT_EQ(g.ctx.x[0], resp);
    EXPECT_EQ(g.ctx.x[1], ffa::pack_ids(1, 2));
    EXPECT_EQ(g.ctx.x[2], 0u);
    EXPECT_EQ(g.ctx.x[3], (wide ? 0x1'0000'0003u : 3u) + 0x10);
    EXPECT_EQ(g.ctx.x[4], 0x14u);
    EXPECT_EQ(g.ctx.x[7], wide ? 0xffff'ffff'0000'0017u : 0x17u);
    EXPECT_EQ(g.ctx.pc, guest_pc + (Esr(trap.esr).ec() == Ec::kSmc64 ? 4 : 0)) << "resumed after its call";
    EXPECT_EQ(server_vcpu().direct.state.load(), MsgState::kWaiting) << "its response waits for the next";
  }
};

TEST_F(DirectMessageTest, ARoundTripByHvcRunsTheServerInTheGuestsPlace) {
  server_waits_for_messages();
  guest_negotiates();
  round_trip(hvc_trap(), ffa::kMsgSendDirectReq64, ffa::kMsgSendDirectResp64);
  round_trip(hvc_trap(), ffa::kMsgSendDirectReq32, ffa::kMsgSendDirectResp32);
  round_trip(hvc_trap(), ffa::kMsgSendDirectReq64, ffa::kMsgSendDirectResp64);
}

TEST_F(DirectMessageTest, ARoundTripBySmcTakesTheGeneralWayWithTheSameResults) {
  server_waits_for_messages();
  guest_negotiates();
  round_trip(smc_trap(), ffa::kMsgSendDirectReq64, ffa::kMsgSendDirectResp64);
  round_trip(smc_trap(), ffa::kMsgSendDirectReq32, ffa::kMsgSendDirectResp32);
  // The two ways mixed: asked by HVC, answered by SMC, and back.
  round_trip(hvc_trap(), ffa::kMsgSendDirectReq64, ffa::kMsgSendDirectResp64);
}

TEST_F(DirectMessageTest, TheSveHintTakesTheGeneralWayAndIsNotPassedOn) {
  server_waits_for_messages();
  guest_negotiates();
  ASSERT_EQ(ffa_by(vcpu(0), {ffa::kMsgSendDirectReq64 | ffa::kSveHint, ffa::pack_ids(2, 1), 0, 9}),
            &server_vcpu().ctx);
  EXPECT_EQ(server_vcpu().ctx.x[0], ffa::kMsgSendDirectReq64);
  EXPECT_EQ(server_vcpu().ctx.x[3], 9u);
  ASSERT_EQ(ffa_by(server_vcpu(), {ffa::kMsgSendDirectResp64 | ffa::kSveHint, ffa::pack_ids(1, 2), 0, 10}),
            &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[0], ffa::kMsgSendDirectResp64);
  EXPECT_EQ(vcpu(0).ctx.x[3], 10u);
}

// Each misuse by either way: the caller resumes at once with the error, and
// nothing else changes.
TEST_F(DirectMessageTest, RequestsTheKernelRefusesResumeTheGuestWithTheError) {
  for (const TrapInfo trap : {hvc_trap(), smc_trap()}) {
    SCOPED_TRACE(Esr(trap.esr).ec() == Ec::kSmc64 ? "smc" : "hvc");
    auto refused = [&](std::array<uint64_t, 8> x, ffa::Error e, const char* what) {
      EXPECT_EQ(ffa_by(vcpu(0), x, trap), &vcpu(0).ctx) << what;
      EXPECT_EQ(error(vcpu(0)), code(e)) << what;
      EXPECT_EQ(vcpu(0).waiting, VcpuWait::kNothing) << what;
    };
    const uint64_t req = ffa::kMsgSendDirectReq64;
    if (partitions_[1].ffa.version.load() == 0) {
      refused({req, ffa::pack_ids(2, 1)}, ffa::Error::kNotSupported, "before FFA_VERSION");
      guest_negotiates();
    }
    refused({req, ffa::pack_ids(2, 1)}, ffa::Error::kBusy, "the server does not wait for messages");
    refused({req, ffa::pack_ids(3, 1)}, ffa::Error::kInvalidParameters, "another sender's ID");
    refused({req, ffa::pack_ids(2, 2)}, ffa::Error::kInvalidParameters, "to itself");
    refused({req, ffa::pack_ids(2, 9)}, ffa::Error::kInvalidParameters, "to nobody");
    refused({req, uint64_t{1} << 32 | ffa::pack_ids(2, 1)}, ffa::Error::kInvalidParameters, "bits above w1");
    refused({req, ffa::pack_ids(2, 1), 1u << 31}, ffa::Error::kInvalidParameters, "a framework message");
    refused({ffa::kMsgSendDirectResp64, ffa::pack_ids(2, 1)}, ffa::Error::kDenied, "a response, serving nothing");
    partitions_[1].ffa.messaging = 0;
    refused({req, ffa::pack_ids(2, 1)}, ffa::Error::kDenied, "not a sender by its manifest");
    partitions_[1].ffa.messaging = ffa::properties::kDirectSend;
    partitions_[0].ffa.messaging = 0;
    refused({req, ffa::pack_ids(2, 1)}, ffa::Error::kDenied, "not a receiver by its manifest");
    partitions_[0].ffa.messaging = ffa::properties::kDirectReceive;
  }
  EXPECT_EQ(server_vcpu().direct.state.load(), MsgState::kNone);
}

TEST_F(DirectMessageTest, AServerClaimedByAnotherCpuIsBusy) {
  server_waits_for_messages();
  guest_negotiates();
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  // vCPU 1 reads: the server runs on CPU 1 (for its ring, not a message).
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, read_trap(kDeviceIpa + 0x4)), &server_vcpu().ctx);
  for (const TrapInfo trap : {hvc_trap(), smc_trap()}) {
    ASSERT_EQ(ffa_by(vcpu(0), {ffa::kMsgSendDirectReq64, ffa::pack_ids(2, 1)}, trap), &vcpu(0).ctx);
    EXPECT_EQ(error(vcpu(0)), code(ffa::Error::kBusy));
  }
  EXPECT_EQ(server_vcpu().cpu, 1u) << "still CPU 1's";
}

// A server's response that lies, and one when it serves nothing: refused,
// and the server goes on; the guest it stands in for still waits.
TEST_F(DirectMessageTest, AServersBadResponseIsRefusedAndTheGuestWaitsOn) {
  server_waits_for_messages();
  guest_negotiates();
  ASSERT_EQ(ffa_by(vcpu(0), {ffa::kMsgSendDirectReq64, ffa::pack_ids(2, 1), 0, 1}), &server_vcpu().ctx);
  for (const TrapInfo trap : {hvc_trap(), smc_trap()}) {
    auto refused = [&](std::array<uint64_t, 8> x, ffa::Error e, const char* what) {
      EXPECT_EQ(ffa_by(server_vcpu(), x, trap), &server_vcpu().ctx) << what;
      EXPECT_EQ(error(server_vcpu()), code(e)) << what;
      EXPECT_EQ(vcpu(0).waiting, VcpuWait::kDirect) << what;
      EXPECT_EQ(vcpu(0).ctx.x[0], ffa::kMsgSendDirectReq64) << what << ": the guest's registers untouched";
    };
    refused({ffa::kMsgSendDirectResp64, ffa::pack_ids(1, 3)}, ffa::Error::kInvalidParameters, "to another");
    refused({ffa::kMsgSendDirectResp64, ffa::pack_ids(3, 2)}, ffa::Error::kInvalidParameters, "as another");
    refused({ffa::kMsgSendDirectResp64, ffa::pack_ids(1, 2), 5}, ffa::Error::kInvalidParameters, "with flags");
    refused({ffa::kMsgSendDirectReq64, ffa::pack_ids(1, 2)}, ffa::Error::kDenied, "a server asking");
    refused({ffa::kMsgWait}, ffa::Error::kDenied, "waiting while it serves");
  }
  ASSERT_EQ(ffa_by(server_vcpu(), {ffa::kMsgSendDirectResp64, ffa::pack_ids(1, 2), 0, 2}), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[3], 2u);
}


// ---- Control calls (docs/control.md) ----------------------------------------

class ControlTest : public RunTest {
 protected:
  static constexpr uint64_t kBuffer = kRamIpa + 0x10000;  // in the guest's own RAM

  // The guest (vCPU 0, on CPU 0) makes control call `fid`; returns x0.
  int64_t control(uint64_t fid, uint64_t x1 = 0, uint64_t x2 = 0, uint64_t x3 = kBuffer, uint64_t x4 = 4096) {
    vcpu(0).ctx.x[4] = x4;
    EXPECT_EQ(call(vcpu(0), fid, x1, x2, x3), &vcpu(0).ctx) << "the guest goes on at once";
    return static_cast<int64_t>(vcpu(0).ctx.x[0]);
  }
  template <typename T>
  T read_back(uint64_t ipa = kBuffer) {
    T out;
    auto pa = partitions_[1].translate(Ipa(ipa), false);
    EXPECT_TRUE(pa.ok());
    std::memcpy(&out, arch::mm::phys_to_virt(*pa), sizeof(out));
    return out;
  }
  ipc::ControlPartition server_record() {
    EXPECT_EQ(control(abi::kHypControlRead, 0), 0);
    const auto sys = read_back<ipc::ControlSystem>();
    EXPECT_EQ(sys.count, 2u);
    return sys.partitions[0];
  }
  static int64_t err(Status st) { return -static_cast<int64_t>(st); }
  void grant_control() {
    partitions_[1].control = true;
    partitions_[1].control_targets = 1u << 0;
  }
  // The guest's 32-bit read of the server's device: what w5 gets, when the
  // kernel answers it without the server.
  uint64_t read_without_server(uint64_t offset) {
    vcpu(0).ctx.x[5] = 0xdead;
    const uint64_t pc = vcpu(0).ctx.pc;
    EXPECT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + offset)), &vcpu(0).ctx);
    EXPECT_EQ(vcpu(0).ctx.pc, pc + 4) << "completed, not aborted";
    return vcpu(0).ctx.x[5];
  }
};

TEST_F(ControlTest, CallsNeedTheRightOverThatServerAndBadInputChangesNothing) {
  const uint16_t id = partitions_[0].id;
  const uint32_t tail = pages().requests->tail.load();
  for (uint64_t fid : {abi::kHypServerStop, abi::kHypServerStart, abi::kHypControlRead}) {
    EXPECT_EQ(control(fid, id), err(Status::kDenied)) << "no control right";
  }
  partitions_[1].control = true;
  partitions_[1].control_targets = 0;
  EXPECT_EQ(control(abi::kHypServerStop, id), err(Status::kDenied)) << "its right does not cover the server";
  EXPECT_EQ(control(abi::kHypServerStart, id), err(Status::kDenied));
  EXPECT_EQ(control(abi::kHypServerRestart, id), err(Status::kDenied));
  grant_control();
  EXPECT_EQ(control(abi::kHypServerStop, partitions_[1].id), err(Status::kNotFound)) << "a guest is no server";
  EXPECT_EQ(control(abi::kHypServerStop, 77), err(Status::kNotFound));
  EXPECT_EQ(control(abi::kHypServerStart, id), err(Status::kBusy)) << "it runs already";
  // Reads: the buffer must be the caller's own RAM, and big enough.
  EXPECT_EQ(control(abi::kHypControlRead, 0, 0, kBuffer, sizeof(ipc::ControlSystem) - 1), err(Status::kOutOfRange));
  EXPECT_EQ(control(abi::kHypControlRead, 0, 0, kDeviceIpa), err(Status::kDenied)) << "a device window";
  EXPECT_EQ(control(abi::kHypControlRead, 0, 0, kRamIpa + k2M - 100), err(Status::kDenied)) << "runs off its RAM";
  EXPECT_EQ(control(abi::kHypControlRead, 0, 0, ~uint64_t{0} - 10), err(Status::kDenied)) << "wraps";
  EXPECT_EQ(control(abi::kHypControlRead, 0, 0, 0x1000), err(Status::kDenied)) << "below its RAM";
  EXPECT_EQ(control(abi::kHypControlRead, 9), err(Status::kNotSupported));
  EXPECT_EQ(control(abi::kHypControlRead, 1, uint64_t{id} << 8 | 1), err(Status::kOutOfRange)) << "no vCPU 1";
  EXPECT_EQ(control(abi::kHypControlRead, 1, uint64_t{99} << 8), err(Status::kNotFound));
  EXPECT_EQ(pages().requests->tail.load(), tail) << "nothing was queued for the server";
  const auto rec = server_record();
  EXPECT_EQ(rec.life, static_cast<uint8_t>(ipc::Life::kRunning));
  EXPECT_EQ(rec.restarts, 0u);
}

TEST_F(ControlTest, TheSystemReadSaysWhatRunsWhereAndTheExitReadCountsByReason) {
  grant_control();
  ASSERT_EQ(control(abi::kHypControlRead, 0), 0);
  EXPECT_EQ(vcpu(0).ctx.x[1], sizeof(ipc::ControlSystem));
  const auto sys = read_back<ipc::ControlSystem>();
  EXPECT_EQ(sys.version, ipc::kControlVersion);
  EXPECT_EQ(sys.cpus, 2u);
  ASSERT_EQ(sys.count, 2u);
  const ipc::ControlPartition& srv = sys.partitions[0];
  const ipc::ControlPartition& vm = sys.partitions[1];
  EXPECT_STREQ(srv.name, "srv");
  EXPECT_EQ(srv.server, 1u);
  EXPECT_EQ(srv.controllable, 1u);
  EXPECT_EQ(srv.life, static_cast<uint8_t>(ipc::Life::kRunning));
  EXPECT_STREQ(vm.name, "vm");
  EXPECT_EQ(vm.server, 0u);
  EXPECT_EQ(vm.life, static_cast<uint8_t>(ipc::Life::kRunning));
  ASSERT_EQ(vm.vcpu_count, 3u);
  EXPECT_EQ(vm.vcpus[0].state, static_cast<uint8_t>(ipc::VcpuRunState::kRunning));
  EXPECT_EQ(vm.vcpus[0].cpu, 0u);
  EXPECT_EQ(vm.vcpus[1].state, static_cast<uint8_t>(ipc::VcpuRunState::kOff));
  EXPECT_GE(vm.vcpus[0].exits, 1u);
  // A served read counts as a request served, and as a data abort exit.
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa)), &server_vcpu().ctx);
  serve();
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(server_record().served, 1u);
  ASSERT_EQ(control(abi::kHypControlRead, 1, uint64_t{partitions_[1].id} << 8 | 0), 0);
  const auto exits = read_back<ipc::ControlExits>();
  EXPECT_EQ(exits.reasons, ipc::kExitReasonCount);
  EXPECT_EQ(exits.counts[static_cast<size_t>(Ec::kDataAbortLower)], 1u);
  EXPECT_EQ(exits.counts[static_cast<size_t>(Ec::kHvc64)], vcpu(0).exits[static_cast<size_t>(Ec::kHvc64)].value());
}

TEST_F(ControlTest, TheTraceRecordsAForwardedReadInOrderOnlyWhileOn) {
  grant_control();
  const uint16_t srv = partitions_[0].id;
  const uint16_t vm = partitions_[1].id;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa)), &server_vcpu().ctx);
  serve();
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  ASSERT_EQ(control(abi::kHypTraceSet, 1), 0);
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 4)), &server_vcpu().ctx);
  serve();
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  ASSERT_EQ(control(abi::kHypTraceSet, 0), 0);
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 8)), &server_vcpu().ctx);
  serve();
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  ASSERT_EQ(control(abi::kHypControlRead, 2, 0), 0);
  const auto t = read_back<ipc::ControlTrace>();
  EXPECT_EQ(t.cpu, 0u);
  EXPECT_EQ(t.frequency, kFrequency);
  EXPECT_EQ(t.on, 0u);
  using E = ipc::TraceEvent;
  struct Want {
    E event;
    uint16_t partition;
    uint32_t arg;
  };
  // The guest's data abort, the request, the switch to the server, its
  // wait (an HVC exit), the answer taken, the switch back; then the guest's
  // HVC that stopped the trace. Nothing of the read before or after.
  const Want want[] = {{E::kExit, vm, 0x24},   {E::kRequest, srv, 2}, {E::kSwitch, srv, vm}, {E::kExit, srv, 0x16},
                       {E::kAnswer, srv, 1},   {E::kSwitch, vm, srv}, {E::kExit, vm, 0x16}};
  ASSERT_EQ(t.count, std::size(want));
  uint64_t last = 0;
  for (size_t i = 0; i < std::size(want); ++i) {
    const ipc::TraceRecord& r = t.records[i];
    EXPECT_EQ(r.event, static_cast<uint8_t>(want[i].event)) << i;
    EXPECT_EQ(r.partition, want[i].partition) << i;
    EXPECT_EQ(r.arg, want[i].arg) << i;
    EXPECT_EQ(r.cpu, 0u);
    EXPECT_GE(r.ticks, last) << "in time order";
    last = r.ticks;
  }
  // Read from where it left off: nothing more. Another CPU's ring is empty;
  // a CPU that does not exist is refused.
  ASSERT_EQ(control(abi::kHypControlRead, 2, t.first + t.count), 0);
  EXPECT_EQ(read_back<ipc::ControlTrace>().count, 0u);
  ASSERT_EQ(control(abi::kHypControlRead, 2, uint64_t{1} << 48), 0);
  EXPECT_EQ(read_back<ipc::ControlTrace>().count, 0u);
  EXPECT_EQ(control(abi::kHypControlRead, 2, uint64_t{2} << 48), err(Status::kOutOfRange));
  EXPECT_EQ(control(abi::kHypTraceSet, 2), err(Status::kInvalidArgument));
  // Started again: emptied.
  ASSERT_EQ(control(abi::kHypTraceSet, 1), 0);
  ASSERT_EQ(control(abi::kHypTraceSet, 0), 0);
  ASSERT_EQ(control(abi::kHypControlRead, 2, 0), 0);
  EXPECT_EQ(read_back<ipc::ControlTrace>().count, 1u) << "only the HVC that stopped it";
}

TEST_F(ControlTest, AStoppedServersDevicesReadAsZeroAndAStartRebuildsIt) {
  grant_control();
  const uint16_t id = partitions_[0].id;
  ASSERT_EQ(control(abi::kHypServerStop, id), 0);
  EXPECT_EQ(server_record().life, static_cast<uint8_t>(ipc::Life::kStopping));
  EXPECT_EQ(control(abi::kHypServerStop, id), err(Status::kBusy)) << "one under way";
  EXPECT_EQ(control(abi::kHypServerRestart, id), err(Status::kBusy));
  // An idle CPU takes the server up; it answers the quiesce and is stopped.
  ASSERT_EQ(schedule(1), &server_vcpu().ctx);
  EXPECT_EQ(serve(), 1);
  EXPECT_EQ(server_wait(), nullptr);
  EXPECT_EQ(server_record().life, static_cast<uint8_t>(ipc::Life::kStopped));
  EXPECT_EQ(schedule(1), nullptr) << "a stopped server is not run";
  const uint32_t tail = pages().requests->tail.load();
  EXPECT_EQ(read_without_server(0xfe0), 0u);
  const uint64_t pc = vcpu(0).ctx.pc;
  vcpu(0).ctx.x[5] = 1;
  TrapInfo write = read_trap(kDeviceIpa);
  write.esr |= 1u << 6;  // WnR
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, write), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.pc, pc + 4) << "a write is ignored";
  EXPECT_EQ(pages().requests->tail.load(), tail) << "nothing queued for it";
  EXPECT_EQ(control(abi::kHypServerStop, id), err(Status::kBusy));
  EXPECT_EQ(control(abi::kHypServerRestart, id), err(Status::kBusy)) << "not running";

  // Start: rebuilt from its image (its RAM cleared), run by the first CPU
  // to look; its devices are served again.
  auto* ram = static_cast<uint8_t*>(arch::mm::phys_to_virt(partitions_[0].memory[0].pa));
  ram[k2M - 1] = 0x5a;
  ASSERT_EQ(control(abi::kHypServerStart, id), 0);
  EXPECT_EQ(ram[k2M - 1], 0u);
  EXPECT_EQ(server_record().life, static_cast<uint8_t>(ipc::Life::kStarting));
  EXPECT_EQ(control(abi::kHypServerStart, id), err(Status::kBusy)) << "started already";
  ASSERT_EQ(schedule(1), &server_vcpu().ctx);
  EXPECT_EQ(server_vcpu().ctx.pc, kRamIpa) << "from its entry";
  EXPECT_EQ(server_wait(), nullptr);
  const auto rec = server_record();
  EXPECT_EQ(rec.life, static_cast<uint8_t>(ipc::Life::kRunning));
  EXPECT_EQ(rec.restarts, 1u);
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 8)), &server_vcpu().ctx);
  EXPECT_EQ(serve(), 1);
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x108u);
}

TEST_F(ControlTest, AReadWaitingWhenTheStopCompletesGetsZero) {
  grant_control();
  start(1);
  ASSERT_EQ(schedule(1), &vcpu(1).ctx);
  ASSERT_EQ(control(abi::kHypServerStop, partitions_[0].id), 0);
  // vCPU 1 reads after the quiesce: the server, on CPU 1, answers only the
  // quiesce and is stopped; the read is answered with zero.
  ASSERT_EQ(on_exit(vcpu(1), ExitKind::kSync, read_trap(kDeviceIpa + 4)), &server_vcpu().ctx);
  ipc::Request q = take();
  EXPECT_EQ(q.kind, ipc::RequestKind::kQuiesce);
  answer(q);
  vcpu(1).ctx.x[5] = 0xdead;
  EXPECT_EQ(server_wait(), &vcpu(1).ctx);
  EXPECT_EQ(vcpu(1).ctx.x[5], 0u);
}

TEST_F(ControlTest, AServerWithTheRightRestartsItselfWithoutWaiting) {
  partitions_[0].control = true;
  partitions_[0].control_targets = 1u << 0;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa)), &server_vcpu().ctx);
  server_vcpu().ctx.x[0] = abi::kHypServerRestart;
  server_vcpu().ctx.x[1] = partitions_[0].id;
  ASSERT_EQ(on_exit(server_vcpu(), ExitKind::kSync, hvc_trap()), &server_vcpu().ctx) << "it goes on";
  EXPECT_EQ(server_vcpu().ctx.x[0], 0u);
  EXPECT_EQ(serve(), 2) << "the guest's read, then the quiesce";
  ASSERT_EQ(server_wait(), &server_vcpu().ctx) << "the new instance";
  EXPECT_EQ(server_vcpu().ctx.pc, kRamIpa);
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x100u);
  EXPECT_NE(console_.find("restarted (planned, restart 1)"), std::string::npos) << console_;
  // It may not stop itself.
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa)), &server_vcpu().ctx);
  server_vcpu().ctx.x[0] = abi::kHypServerStop;
  server_vcpu().ctx.x[1] = partitions_[0].id;
  ASSERT_EQ(on_exit(server_vcpu(), ExitKind::kSync, hvc_trap()), &server_vcpu().ctx);
  EXPECT_EQ(server_vcpu().ctx.x[0], static_cast<uint64_t>(err(Status::kInvalidArgument)));
  EXPECT_EQ(serve(), 1) << "the read only: no quiesce was queued";
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  // A server without the right is refused, and goes on.
  partitions_[0].control = false;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa)), &server_vcpu().ctx);
  server_vcpu().ctx.x[0] = abi::kHypServerStop;
  ASSERT_EQ(on_exit(server_vcpu(), ExitKind::kSync, hvc_trap()), &server_vcpu().ctx);
  EXPECT_EQ(server_vcpu().ctx.x[0], static_cast<uint64_t>(err(Status::kDenied)));
}

class StoppedAtBootTest : public ControlTest {
 protected:
  StoppedAtBootTest() { server_stopped_at_boot_ = true; }
};

TEST_F(StoppedAtBootTest, AServerTheManifestStopsIsNotRunUntilStarted) {
  EXPECT_EQ(vcpu(0).state, VcpuState::kRunning) << "the guest first: the server is not started";
  EXPECT_EQ(schedule(1), nullptr);
  grant_control();
  const auto rec = server_record();
  EXPECT_EQ(rec.life, static_cast<uint8_t>(ipc::Life::kNotStarted));
  EXPECT_EQ(read_without_server(0x0), 0u);
  ASSERT_EQ(control(abi::kHypServerStart, partitions_[0].id), 0);
  ASSERT_EQ(schedule(1), &server_vcpu().ctx);
  EXPECT_EQ(server_wait(), nullptr);
  EXPECT_EQ(server_record().life, static_cast<uint8_t>(ipc::Life::kRunning));
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa + 0x10)), &server_vcpu().ctx);
  EXPECT_EQ(serve(), 1);
  ASSERT_EQ(server_wait(), &vcpu(0).ctx);
  EXPECT_EQ(vcpu(0).ctx.x[5], 0x110u);
}

TEST_F(ControlTest, AFailureIsRecordedAndAStartRevivesAServerGivenUpOn) {
  grant_control();
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa)), &server_vcpu().ctx);
  ASSERT_EQ(call(server_vcpu(), psci::kSystemOff), &server_vcpu().ctx) << "restarted";
  ASSERT_EQ(call(server_vcpu(), psci::kSystemOff), &server_vcpu().ctx) << "restarted";
  ASSERT_EQ(call(server_vcpu(), psci::kSystemOff), &vcpu(0).ctx) << "given up: the read aborts";
  // Later accesses abort too (a stopped server's would read as zero).
  const uint64_t pc = vcpu(0).ctx.pc;
  ASSERT_EQ(on_exit(vcpu(0), ExitKind::kSync, read_trap(kDeviceIpa)), &vcpu(0).ctx);
  EXPECT_NE(vcpu(0).ctx.pc, pc + 4) << "taken to its abort vector";
  auto rec = server_record();
  EXPECT_EQ(rec.life, static_cast<uint8_t>(ipc::Life::kFailed));
  EXPECT_GE(rec.failures, 3u);
  EXPECT_STREQ(rec.last_failure, "it stopped itself (PSCI SYSTEM_OFF/RESET)");
  EXPECT_NE(rec.last_failure_us, 0u);
  ASSERT_EQ(control(abi::kHypServerStart, partitions_[0].id), 0);
  ASSERT_EQ(schedule(1), &server_vcpu().ctx);
  EXPECT_EQ(server_wait(), nullptr);
  EXPECT_EQ(server_record().life, static_cast<uint8_t>(ipc::Life::kRunning));
}

}  // namespace
}  // namespace hyp
