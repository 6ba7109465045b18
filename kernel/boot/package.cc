#include "kernel/boot/package.h"

#include <libfdt.h>

#include "kernel/arch/mm.h"

namespace hyp {
namespace {

static_assert(package::kIpaBits == static_cast<uint64_t>(arch::mm::geometry(arch::mm::Regime::kStage2).input_bits),
              "packages are checked against the Stage-2 input size");

constexpr uint64_t k2M = 2ull << 20;

Status fail(DtbError& e, Status s, const char* what) {
  e.status = s;
  e.what = what;
  return s;
}

bool read_u64(const void* fdt, int node, const char* name, uint64_t& out) {
  int len = 0;
  const auto* p = static_cast<const fdt64_t*>(fdt_getprop(fdt, node, name, &len));
  if (p == nullptr || len != 8) return false;
  out = fdt64_ld(p);
  return true;
}

bool inside(uint64_t start, uint64_t size, uint64_t region, uint64_t region_size) {
  return start >= region && size <= region_size && start - region <= region_size - size;
}

bool has_prefix(const char* s, const char* prefix) {
  for (; *prefix != '\0'; ++s, ++prefix) {
    if (*s != *prefix) return false;
  }
  return true;
}

bool overlaps(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size) { return a < b + b_size && b < a + a_size; }

// The control right: empty (every server), or the indices of the servers
// it covers, each named once (check_control() checks they are servers).
Status parse_control(const void* fdt, int node, PackagedPartition& p, DtbError& e) {
  int len = 0;
  const auto* cells = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropControl, &len));
  if (cells == nullptr) return Status::kOk;
  p.control = true;
  if (len == 0) {
    p.control_targets = ~uint32_t{0};
    return Status::kOk;
  }
  if (len < 0 || len % 4 != 0 || static_cast<size_t>(len / 4) > package::kMaxPartitions) {
    return fail(e, Status::kInvalidArgument, "control not 0..8 cells");
  }
  for (int i = 0; i < len / 4; ++i) {
    const uint32_t target = fdt32_ld(&cells[i]);
    if (target >= package::kMaxPartitions) return fail(e, Status::kOutOfRange, "control names no partition");
    if ((p.control_targets >> target & 1) != 0) return fail(e, Status::kAlreadyExists, "control names a server twice");
    p.control_targets |= 1u << target;
  }
  return Status::kOk;
}

// What only servers have (device memory, a command line, starting
// stopped).
Status parse_device_access(const void* fdt, int node, PackagedPartition& p, DtbError& e) {
  int len = 0;
  if (Status st = parse_control(fdt, node, p, e); st != Status::kOk) return st;
  const bool stopped = fdt_getprop(fdt, node, package::kPropStopped, &len) != nullptr;
  int dev_len = 0;
  const auto* dev = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropDeviceMemory, &dev_len));
  int args_len = 0;
  const char* args = static_cast<const char*>(fdt_getprop(fdt, node, package::kPropBootargs, &args_len));
  int irq_len = 0;
  const auto* irq = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropDeviceIrq, &irq_len));
  const bool pool = fdt_getprop(fdt, node, package::kPropDmaPool, &len) != nullptr;
  if (p.kind == PackagedKind::kGuest) {
    if (dev != nullptr || args != nullptr || irq != nullptr || pool || stopped) {
      return fail(e, Status::kInvalidArgument, "guest with server properties");
    }
    return Status::kOk;
  }
  p.stopped = stopped;
  if (pool && (!read_u64(fdt, node, package::kPropDmaPool, p.dma_pool_size) || p.dma_pool_size == 0 ||
               p.dma_pool_size % kPageSize != 0 || p.dma_pool_size > ipc::kMaxDmaPool)) {
    return fail(e, Status::kInvalidArgument, "dma-pool not a page multiple of at most 16 MiB");
  }
  if (irq != nullptr) {
    if (irq_len <= 0 || irq_len % 4 != 0 || static_cast<size_t>(irq_len / 4) > p.device_irqs.size()) {
      return fail(e, Status::kInvalidArgument, "device-irq not 1..8 cells");
    }
    p.device_irq_count = static_cast<size_t>(irq_len / 4);
    for (size_t i = 0; i < p.device_irq_count; ++i) {
      p.device_irqs[i] = fdt32_ld(&irq[i]);
      if (p.device_irqs[i] < package::kFirstSpi || p.device_irqs[i] >= 1020) {
        return fail(e, Status::kInvalidArgument, "device-irq not an SPI");
      }
      for (size_t j = 0; j < i; ++j) {
        if (p.device_irqs[j] == p.device_irqs[i]) return fail(e, Status::kAlreadyExists, "device-irq named twice");
      }
    }
  }
  if (dev != nullptr) {
    if (dev_len <= 0 || dev_len % 16 != 0 || static_cast<size_t>(dev_len / 16) > p.device_regions.size()) {
      return fail(e, Status::kInvalidArgument, "device-memory not 1..4 ranges");
    }
    p.device_region_count = static_cast<size_t>(dev_len / 16);
    for (size_t i = 0; i < p.device_region_count; ++i) {
      const fdt32_t* r = dev + 4 * i;
      const uint64_t base = uint64_t{fdt32_ld(&r[0])} << 32 | fdt32_ld(&r[1]);
      const uint64_t size = uint64_t{fdt32_ld(&r[2])} << 32 | fdt32_ld(&r[3]);
      if (base % kPageSize != 0 || size % kPageSize != 0 || size == 0 ||
          !inside(base, size, 0, uint64_t{1} << package::kIpaBits) ||
          overlaps(base, size, p.ram_ipa.value(), p.ram_size)) {
        return fail(e, Status::kInvalidArgument, "device-memory not page-aligned, outside the IPA space or over RAM");
      }
      for (size_t j = 0; j < i; ++j) {
        if (overlaps(base, size, p.device_regions[j].base.value(), p.device_regions[j].size)) {
          return fail(e, Status::kInvalidArgument, "device-memory ranges overlap");
        }
      }
      p.device_regions[i] = {Pa(base), size};
    }
  }
  if (args != nullptr) {
    if (args_len <= 0 || args[args_len - 1] != '\0' || static_cast<size_t>(args_len) > p.bootargs.size()) {
      return fail(e, Status::kInvalidArgument, "server bootargs not a string of at most 255 bytes");
    }
    for (int i = 0; i < args_len; ++i) p.bootargs[static_cast<size_t>(i)] = args[i];
  }
  return Status::kOk;
}

Status parse_route(const void* fdt, int node, PackagedPartition& p, DtbError& e) {
  if (p.kind != PackagedKind::kGuest) return fail(e, Status::kInvalidArgument, "route in a server");
  if (p.route_count == p.routes.size()) return fail(e, Status::kOutOfRange, "too many routes");
  PackageRoute& r = p.routes[p.route_count];
  uint64_t ipa = 0;
  int len = 0;
  const auto* server = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropServer, &len));
  const bool server_ok = server != nullptr && len == 4;
  const auto* device = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropDevice, &len));
  if (!read_u64(fdt, node, package::kPropIpa, ipa) || !read_u64(fdt, node, package::kPropSize, r.size) ||
      !server_ok || device == nullptr || len != 4) {
    return fail(e, Status::kInvalidArgument, "route needs ipa, size, server and device");
  }
  r.ipa = Ipa(ipa);
  r.server = fdt32_ld(server);
  r.device = fdt32_ld(device);
  r.irqchip = fdt_getprop(fdt, node, package::kPropIrqchip, &len) != nullptr;
  r.irq = 0;
  if (const auto* irq = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropIrq, &len)); irq != nullptr) {
    if (len != 4) return fail(e, Status::kInvalidArgument, "route irq is not one cell");
    r.irq = fdt32_ld(irq);
    if (r.irq < package::kFirstSpi || r.irq >= package::kSpiLimit || r.irqchip) {
      return fail(e, Status::kInvalidArgument, "route irq not an SPI of 32..95, or on the interrupt controller");
    }
  }
  if (ipa % kPageSize != 0 || r.size % kPageSize != 0 || r.size == 0 ||
      !inside(ipa, r.size, 0, uint64_t{1} << package::kIpaBits) || overlaps(ipa, r.size, p.ram_ipa.value(), p.ram_size)) {
    return fail(e, Status::kInvalidArgument, "route not page-aligned, outside the IPA space or over RAM");
  }
  if (r.device >= package::kMaxServerDevices) return fail(e, Status::kOutOfRange, "route device out of range");
  for (size_t i = 0; i < p.route_count; ++i) {
    if (overlaps(ipa, r.size, p.routes[i].ipa.value(), p.routes[i].size)) {
      return fail(e, Status::kInvalidArgument, "routes overlap");
    }
    if (r.irqchip && p.routes[i].irqchip) return fail(e, Status::kAlreadyExists, "two interrupt controllers");
    if (r.irq != 0 && p.routes[i].irq == r.irq) return fail(e, Status::kAlreadyExists, "two devices with one irq");
  }
  ++p.route_count;
  return Status::kOk;
}

Status parse_grant(const void* fdt, int node, PackagedPartition& p, DtbError& e) {
  if (p.kind != PackagedKind::kGuest) return fail(e, Status::kInvalidArgument, "grant in a server");
  if (p.grant_count == p.grants.size()) return fail(e, Status::kOutOfRange, "too many grants");
  PackageGrant& g = p.grants[p.grant_count];
  uint64_t ipa = 0;
  int len = 0;
  const auto* servers = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropServers, &len));
  if (!read_u64(fdt, node, package::kPropIpa, ipa) || !read_u64(fdt, node, package::kPropSize, g.size) ||
      servers == nullptr) {
    return fail(e, Status::kInvalidArgument, "grant needs ipa, size and servers");
  }
  if (len <= 0 || len % 4 != 0 || static_cast<size_t>(len / 4) > g.servers.size()) {
    return fail(e, Status::kInvalidArgument, "grant servers not 1..4 cells");
  }
  g.ipa = Ipa(ipa);
  g.server_count = static_cast<size_t>(len / 4);
  for (size_t i = 0; i < g.server_count; ++i) {
    g.servers[i] = fdt32_ld(&servers[i]);
    for (size_t j = 0; j < i; ++j) {
      if (g.servers[j] == g.servers[i]) return fail(e, Status::kAlreadyExists, "grant names a server twice");
    }
  }
  if (ipa % kPageSize != 0 || g.size % kPageSize != 0 || g.size == 0 || !inside(ipa, g.size, p.ram_ipa.value(), p.ram_size)) {
    return fail(e, Status::kInvalidArgument, "grant not page-aligned or outside the guest's memory");
  }
  for (size_t i = 0; i < p.grant_count; ++i) {
    if (overlaps(ipa, g.size, p.grants[i].ipa.value(), p.grants[i].size)) {
      return fail(e, Status::kInvalidArgument, "grants overlap");
    }
  }
  ++p.grant_count;
  return Status::kOk;
}

// Grants name servers by position, and each server's info page lists them.
Status check_grants(const Package& pkg, DtbError& e) {
  size_t received[package::kMaxPartitions] = {};
  for (size_t i = 0; i < pkg.count; ++i) {
    const PackagedPartition& p = pkg.partitions[i];
    for (size_t j = 0; j < p.grant_count; ++j) {
      const PackageGrant& g = p.grants[j];
      for (size_t k = 0; k < g.server_count; ++k) {
        if (g.servers[k] >= pkg.count || pkg.partitions[g.servers[k]].kind != PackagedKind::kServer) {
          return fail(e, Status::kInvalidArgument, "grant to something that is not a server");
        }
        if (++received[g.servers[k]] > ipc::kMaxServerGrants) {
          return fail(e, Status::kOutOfRange, "a server granted memory more than 4 times");
        }
      }
    }
  }
  return Status::kOk;
}

// Routes name servers by position; checked once every partition is known.
Status check_routes(const Package& pkg, DtbError& e) {
  bool used[package::kMaxPartitions][package::kMaxServerDevices] = {};
  for (size_t i = 0; i < pkg.count; ++i) {
    const PackagedPartition& p = pkg.partitions[i];
    for (size_t j = 0; j < i; ++j) {
      const PackagedPartition& q = pkg.partitions[j];
      for (size_t a = 0; a < p.device_irq_count; ++a) {
        for (size_t b = 0; b < q.device_irq_count; ++b) {
          if (p.device_irqs[a] == q.device_irqs[b]) return fail(e, Status::kAlreadyExists, "two servers with one device-irq");
        }
      }
      for (size_t a = 0; a < p.device_region_count; ++a) {
        for (size_t b = 0; b < q.device_region_count; ++b) {
          if (overlaps(p.device_regions[a].base.value(), p.device_regions[a].size, q.device_regions[b].base.value(),
                       q.device_regions[b].size)) {
            return fail(e, Status::kAlreadyExists, "two servers with one device");
          }
        }
      }
    }
    for (size_t j = 0; j < p.route_count; ++j) {
      const PackageRoute& r = p.routes[j];
      if (r.server >= pkg.count || pkg.partitions[r.server].kind != PackagedKind::kServer) {
        return fail(e, Status::kInvalidArgument, "route to something that is not a server");
      }
      if (used[r.server][r.device]) return fail(e, Status::kAlreadyExists, "server device routed twice");
      used[r.server][r.device] = true;
    }
  }
  return Status::kOk;
}

// The FF-A properties; the ID is checked against the others' later.
Status parse_ffa(const void* fdt, int node, PackagedPartition& p, DtbError& e) {
  int len = 0;
  if (const auto* id = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropFfaId, &len)); id != nullptr) {
    if (len != 4) return fail(e, Status::kInvalidArgument, "ffa-id is not one cell");
    const uint32_t v = fdt32_ld(id);
    if (v == 0 || v >= package::kFfaIdLimit) return fail(e, Status::kOutOfRange, "ffa-id not 1..0x7fff");
    p.ffa_id = static_cast<uint16_t>(v);
  }
  if (const auto* u = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropFfaUuid, &len)); u != nullptr) {
    if (len != 16) return fail(e, Status::kInvalidArgument, "ffa-uuid is not four cells");
    for (size_t i = 0; i < 4; ++i) p.ffa_uuid[i] = fdt32_ld(&u[i]);
  }
  if (const auto* m = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropFfaMessaging, &len));
      m != nullptr) {
    if (len != 4) return fail(e, Status::kInvalidArgument, "ffa-messaging is not one cell");
    p.ffa_messaging = fdt32_ld(m);
    if ((p.ffa_messaging & ~package::kFfaMessagingMask) != 0) {
      return fail(e, Status::kInvalidArgument, "ffa-messaging has unknown bits");
    }
    if (p.kind == PackagedKind::kServer && (p.ffa_messaging & ffa::properties::kDirectSend) != 0) {
      return fail(e, Status::kInvalidArgument, "a server with direct send");
    }
  }
  if (const auto* t = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropFfaDirectTargets, &len));
      t != nullptr) {
    if (len <= 0 || len % 4 != 0 || static_cast<size_t>(len / 4) > p.ffa_targets.size()) {
      return fail(e, Status::kInvalidArgument, "ffa-direct-targets not 1..kMaxPartitions cells");
    }
    if ((p.ffa_messaging & ffa::properties::kDirectSend) == 0) {
      return fail(e, Status::kInvalidArgument, "ffa-direct-targets without direct send");
    }
    p.ffa_target_count = static_cast<size_t>(len / 4);
    for (size_t i = 0; i < p.ffa_target_count; ++i) {
      const uint32_t v = fdt32_ld(&t[i]);
      if (v == 0 || v >= package::kFfaIdLimit) return fail(e, Status::kOutOfRange, "ffa-direct-targets not IDs");
      p.ffa_targets[i] = static_cast<uint16_t>(v);
    }
  }
  return Status::kOk;
}

// IDs are unique; direct targets are other partitions that take direct requests.
Status check_ffa(Package& pkg, DtbError& e) {
  for (size_t i = 0; i < pkg.count; ++i) {
    PackagedPartition& p = pkg.partitions[i];
    if (p.ffa_id == 0) p.ffa_id = static_cast<uint16_t>(i + 1);
  }
  for (size_t i = 0; i < pkg.count; ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (pkg.partitions[j].ffa_id == pkg.partitions[i].ffa_id) {
        return fail(e, Status::kAlreadyExists, "two partitions with one FF-A ID");
      }
    }
  }
  for (size_t i = 0; i < pkg.count; ++i) {
    const PackagedPartition& p = pkg.partitions[i];
    for (size_t t = 0; t < p.ffa_target_count; ++t) {
      const PackagedPartition* target = nullptr;
      for (size_t j = 0; j < pkg.count; ++j) {
        if (pkg.partitions[j].ffa_id == p.ffa_targets[t]) target = &pkg.partitions[j];
      }
      if (target == nullptr || target == &p || (target->ffa_messaging & ffa::properties::kDirectReceive) == 0) {
        return fail(e, Status::kInvalidArgument, "a direct target is no other partition that receives direct requests");
      }
    }
  }
  return Status::kOk;
}

Status parse_partition(const void* fdt, int node, PackagedPartition& p, DtbError& e) {
  int len = 0;
  const char* name = fdt_get_name(fdt, node, &len);
  if (name == nullptr || len <= 0 || static_cast<size_t>(len) >= p.name.size()) {
    return fail(e, Status::kInvalidArgument, "partition name missing or too long");
  }
  for (int i = 0; i < len; ++i) p.name[static_cast<size_t>(i)] = name[i];

  const char* kind = static_cast<const char*>(fdt_getprop(fdt, node, package::kPropKind, &len));
  if (kind != nullptr && fdt_stringlist_contains(kind, len, package::kKindGuest)) {
    p.kind = PackagedKind::kGuest;
  } else if (kind != nullptr && fdt_stringlist_contains(kind, len, package::kKindServer)) {
    p.kind = PackagedKind::kServer;
  } else {
    return fail(e, Status::kNotSupported, "partition kind is neither guest nor server");
  }
  const auto* vcpus = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropVcpus, &len));
  if (vcpus == nullptr || len != 4) return fail(e, Status::kInvalidArgument, "partition vcpus missing");
  p.vcpus = fdt32_ld(vcpus);
  if (p.vcpus == 0 || p.vcpus > package::kMaxVcpus) return fail(e, Status::kOutOfRange, "partition vcpus out of range");

  const auto* mem = static_cast<const fdt32_t*>(fdt_getprop(fdt, node, package::kPropMemory, &len));
  if (mem == nullptr || len != 16) return fail(e, Status::kInvalidArgument, "partition memory missing");
  const uint64_t ram_ipa = uint64_t{fdt32_ld(&mem[0])} << 32 | fdt32_ld(&mem[1]);
  p.ram_size = uint64_t{fdt32_ld(&mem[2])} << 32 | fdt32_ld(&mem[3]);
  p.ram_ipa = Ipa(ram_ipa);
  if (ram_ipa % k2M != 0 || p.ram_size % k2M != 0 || p.ram_size == 0 ||
      !inside(ram_ipa, p.ram_size, 0, uint64_t{1} << package::kIpaBits)) {
    return fail(e, Status::kInvalidArgument, "partition memory not 2 MiB aligned or outside the IPA space");
  }

  uint64_t entry = 0;
  uint64_t dtb = 0;
  if (!read_u64(fdt, node, package::kPropEntry, entry) || !read_u64(fdt, node, package::kPropDtb, dtb)) {
    return fail(e, Status::kInvalidArgument, "partition entry or dtb missing");
  }
  if (!inside(entry, 4, ram_ipa, p.ram_size) || !inside(dtb, 8, ram_ipa, p.ram_size) || (entry & 3) != 0 ||
      (dtb & 7) != 0) {
    return fail(e, Status::kOutOfRange, "partition entry or dtb outside its memory");
  }
  p.entry = Ipa(entry);
  p.dtb = Ipa(dtb);

  if (Status st = parse_device_access(fdt, node, p, e); st != Status::kOk) return st;
  if (Status st = parse_ffa(fdt, node, p, e); st != Status::kOk) return st;

  int load = 0;
  fdt_for_each_subnode(load, fdt, node) {
    const char* child = fdt_get_name(fdt, load, nullptr);
    if (child != nullptr && has_prefix(child, package::kRoutePrefix)) {
      if (Status st = parse_route(fdt, load, p, e); st != Status::kOk) return st;
      continue;
    }
    if (child != nullptr && has_prefix(child, package::kGrantPrefix)) {
      if (Status st = parse_grant(fdt, load, p, e); st != Status::kOk) return st;
      continue;
    }
    if (p.load_count == p.loads.size()) return fail(e, Status::kOutOfRange, "too many loads");
    PackageLoad& l = p.loads[p.load_count];
    uint64_t ipa = 0;
    if (!read_u64(fdt, load, package::kPropIpa, ipa)) return fail(e, Status::kInvalidArgument, "load without ipa");
    const void* data = fdt_getprop(fdt, load, package::kPropData, &len);
    if (data == nullptr || len < 0) return fail(e, Status::kInvalidArgument, "load without data");
    l.ipa = Ipa(ipa);
    l.data = static_cast<const uint8_t*>(data);
    l.size = static_cast<uint64_t>(len);
    if (!inside(ipa, l.size, ram_ipa, p.ram_size)) return fail(e, Status::kOutOfRange, "load outside its memory");
    for (size_t i = 0; i < p.load_count; ++i) {
      const PackageLoad& o = p.loads[i];
      if (ipa < o.ipa.value() + o.size && o.ipa.value() < ipa + l.size) {
        return fail(e, Status::kInvalidArgument, "loads overlap");
      }
    }
    ++p.load_count;
  }
  if (load != -FDT_ERR_NOTFOUND) return fail(e, Status::kInvalidArgument, "malformed partition node");
  return Status::kOk;
}

// A control right names servers only; `control;` alone covers every
// server there is.
Status check_control(Package& pkg, DtbError& e) {
  uint32_t servers = 0;
  for (size_t i = 0; i < pkg.count; ++i) {
    if (pkg.partitions[i].kind == PackagedKind::kServer) servers |= 1u << i;
  }
  for (size_t i = 0; i < pkg.count; ++i) {
    PackagedPartition& p = pkg.partitions[i];
    if (p.control_targets == ~uint32_t{0}) p.control_targets = servers;
    if ((p.control_targets & ~servers) != 0) return fail(e, Status::kInvalidArgument, "control names a guest");
  }
  return Status::kOk;
}

}  // namespace

Status parse_package_into(const void* blob, size_t size, Package& pkg, DtbError& e) {
  pkg = Package{};
  if (blob == nullptr || size < sizeof(fdt_header) || fdt_magic(blob) != FDT_MAGIC) {
    return fail(e, Status::kInvalidArgument, "package is not a device tree");
  }
  if (fdt_totalsize(blob) > size) return fail(e, Status::kOutOfRange, "package truncated");
  if (fdt_check_full(blob, fdt_totalsize(blob)) != 0) return fail(e, Status::kInvalidArgument, "malformed package");
  if (fdt_node_check_compatible(blob, 0, package::kCompatible) != 0) {
    return fail(e, Status::kNotSupported, "not a hyp,package-1");
  }
  const int parts = fdt_path_offset(blob, package::kPartitionsNode);
  if (parts < 0) return fail(e, Status::kNotFound, "package has no partitions");
  int node = 0;
  fdt_for_each_subnode(node, blob, parts) {
    if (pkg.count == pkg.partitions.size()) return fail(e, Status::kOutOfRange, "too many partitions");
    if (Status s = parse_partition(blob, node, pkg.partitions[pkg.count], e); s != Status::kOk) return s;
    ++pkg.count;
  }
  if (node != -FDT_ERR_NOTFOUND) return fail(e, Status::kInvalidArgument, "malformed partitions node");
  if (pkg.count == 0) return fail(e, Status::kNotFound, "package has no partitions");
  if (Status s = check_routes(pkg, e); s != Status::kOk) return s;
  if (Status s = check_grants(pkg, e); s != Status::kOk) return s;
  if (Status s = check_control(pkg, e); s != Status::kOk) return s;
  return check_ffa(pkg, e);
}

Result<Package> parse_package(const void* blob, size_t size, DtbError& e) {
  Package pkg;
  if (Status s = parse_package_into(blob, size, pkg, e); s != Status::kOk) return s;
  return pkg;
}

}  // namespace hyp
