// The block server: a virtio-blk device for its guest (device 0) on the
// machine's virtio-blk device (a disk image file QEMU serves), which the
// server drives through its DMA pool, handing the disk the guest's own
// buffers by physical address (docs/virtio.md). Restarts keep the
// transport's registers in the state page; each instance resets the
// physical disk (which waits for what it had out) and issues again what
// the guest is still owed.
//
// Crash tests: besides the runtime's crash-every=N, the command line may
// ask the server to fail at the moments that matter for a disk:
//   crash-taken=N   before handing the Nth request to the disk
//   crash-issued=N  right after handing the Nth request to the disk
//   crash-done=N    when the disk finished the Nth request, before the
//                   guest is told
// each every N times, counted across instances (in the state page), and
// only in work the guest started: an instance does not fail on purpose
// while it issues again what its predecessor had out, so the kernel does
// not give up on a server that fails at every start.
#include "runtime/runtime.h"
#include "servers/lib/runtime.h"
#include "servers/virtio/blk_device.h"
#include "servers/virtio/mmio_transport.h"
#include "servers/virtio/physical_disk.h"
#include "servers/virtio/virtio_server.h"

namespace hyp::server {
namespace {

using namespace virtio_server;  // NOLINT: the shared server parts

class GrantDma final : public virtio::GuestDma {
 public:
  void attach(const ipc::ServerInfo& info) { info_ = &info; }
  uint64_t physical(uint64_t ipa, uint64_t len) const override {
    return info_ != nullptr ? guest_pa(*info_, ipa, len) : 0;
  }

 private:
  const ipc::ServerInfo* info_ = nullptr;
};

// What the server keeps in its state page.
struct State {
  virtio::TransportState transport;
  // The crash points' counts so far.
  uint64_t taken;
  uint64_t issued;
  uint64_t done;
};

// The physical disk, with the crash points of the command line.
class Disk final : public virtio::BlockBackend {
 public:
  void configure(const ipc::ServerInfo& info, State* state) {
    (void)bootarg(info, "crash-taken", taken_every_);
    (void)bootarg(info, "crash-issued", issued_every_);
    (void)bootarg(info, "crash-done", done_every_);
    state_ = state;
  }
  // Whether the crash points count (not while an instance starts).
  void arm(bool armed) { armed_ = armed; }
  virtio::PhysicalDisk& physical() { return disk_; }

  bool submit(uint16_t tag, const virtio::BlockRequest& r) override {
    if (point(taken_every_, state_->taken)) fail_on_purpose("crash-taken");
    const bool ok = disk_.submit(tag, r);
    if (ok && point(issued_every_, state_->issued)) fail_on_purpose("crash-issued");
    return ok;
  }
  bool finished(uint16_t& tag, uint8_t& status) override {
    if (!disk_.finished(tag, status)) return false;
    if (point(done_every_, state_->done)) fail_on_purpose("crash-done");
    return true;
  }
  void cancel() override { disk_.cancel(); }

 private:
  bool point(uint64_t every, uint64_t& count) const { return armed_ && every != 0 && ++count % every == 0; }

  virtio::PhysicalDisk disk_;
  State* state_ = nullptr;
  bool armed_ = false;
  uint64_t taken_every_ = 0;
  uint64_t issued_every_ = 0;
  uint64_t done_every_ = 0;
};

class BlkServer final : public Server {
 public:
  void start(const ipc::ServerInfo& info, void* state, size_t state_size, bool resumed) override {
    static_assert(sizeof(State) <= ipc::kChannelPageSize - sizeof(ipc::StateHeader));
    if (state_size < sizeof(State)) rt::power_off();
    auto* saved = static_cast<State*>(state);
    add_grants(info, memory_);
    dma_.attach(info);
    disk_.arm(false);
    disk_.configure(info, saved);
    uint64_t base = 0;
    uint32_t intid = 0;
    virtio::DmaMemory pool = dma_pool(info);
    if (!find_transport(info, virtio::BlkDevice::kDeviceId, base, intid)) {
      log("no virtio-blk device among its devices: the guest's disk is empty");
    } else {
      regs_.attach(base);
      const auto s = disk_.physical().start(regs_, pool, dma_);
      if (s != virtio::PhysicalDevice::Start::kOk) {
        log("the virtio-blk device at 0x%lx did not start (%s): the guest's disk is empty", base, virtio::describe(s));
      } else {
        virtio::DiskInfo d = disk_.physical().info();
        uint64_t read_only = 0;
        if (bootarg(info, "read-only", read_only) && read_only != 0) d.read_only = true;
        blk_.set_disk(d);
      }
    }
    transport_.attach(&saved->transport, resumed);
    line_.attach(0, info.device_irq[0]);
    transport_.run_queue(0);
    disk_.arm(true);
    const virtio::DiskInfo& d = blk_.disk();
    log("%s: disk at 0x%lx (INTID %u): %lu sectors%s%s%s", resumed ? "resumed" : "started", base, intid, d.sectors,
        d.read_only ? ", read-only" : "", d.flush ? ", flush" : "", d.discard ? ", discard" : "");
  }

  MmioDevice* device(uint32_t index) override { return index == 0 ? &transport_ : nullptr; }

  void poll() override {
    (void)disk_.physical().device().acknowledge();
    transport_.run_queue(0);
    line_.set(transport_.interrupt_pending());
  }

 private:
  virtio::GuestMemory memory_;
  GrantDma dma_;
  MmioRegisters regs_;
  Disk disk_;
  virtio::BlkDevice blk_{memory_, disk_, "hyp-virtio-blk"};
  virtio::MmioTransport transport_{blk_, memory_};
  GuestLine line_;
};

constinit BlkServer g_server;

}  // namespace
}  // namespace hyp::server

void partition_main(uint64_t /*dtb*/) { hyp::server::run(hyp::server::g_server); }
