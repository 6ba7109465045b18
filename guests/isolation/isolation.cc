// Two partitions built from this one image, told apart by their command
// line (/chosen/bootargs is not parsed: the role is the first word).
//
//  keeper: writes a secret into its memory, says so, and stays alive for a
//          while so the secret is in memory while the prober looks;
//  prober: waits for the secret to exist, then searches its whole memory
//          for it, and touches addresses outside its memory; it must find
//          nothing and be refused everywhere.
#include <cstddef>
#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"

extern "C" char __image_end[];

namespace {

using guest::check;

constexpr size_t kSecretBytes = 64;

// The secret is computed, never stored as a constant, so that it exists only
// where the keeper writes it. The prober compares against it on the fly.
uint8_t secret_byte(size_t i) { return static_cast<uint8_t>((i * 73 + 0x5b) ^ 0xc3); }

uint64_t ticks_for_ms(uint64_t ms) { return rt::counter_frequency() * ms / 1000; }

void wait_ms(uint64_t ms) {
  const uint64_t end = rt::read_counter() + ticks_for_ms(ms);
  while (rt::read_counter() < end) {
  }
}

// Reads the guest's own device tree for the memory size (the reg of the
// node /memory@40000000, big-endian cells). Minimal, for this test only.
uint64_t memory_size(uint64_t dtb) {
  const auto* blob = reinterpret_cast<const uint8_t*>(dtb);
  const auto be32 = [&](size_t off) {
    return uint32_t{blob[off]} << 24 | uint32_t{blob[off + 1]} << 16 | uint32_t{blob[off + 2]} << 8 | blob[off + 3];
  };
  const uint32_t total = be32(4);
  // Find the string "device_type\0" value "memory" is not needed: the packer
  // puts memory's reg as <0 0x40000000 hi lo>; search for that prefix.
  for (uint32_t off = 40; off + 16 <= total; off += 4) {
    if (be32(off) == 0 && be32(off + 4) == 0x4000'0000 && be32(off - 8) == 16) {
      return uint64_t{be32(off + 8)} << 32 | be32(off + 12);
    }
  }
  return 0;
}

alignas(64) volatile uint8_t g_secret[kSecretBytes];

// Copies of the secret in [ram, ram + size).
size_t count_secrets(uint64_t ram, uint64_t size) {
  size_t found = 0;
  for (uint64_t a = ram; a + kSecretBytes <= ram + size; a += 8) {
    const auto* p = reinterpret_cast<const volatile uint8_t*>(a);
    size_t i = 0;
    while (i < kSecretBytes && p[i] == secret_byte(i)) ++i;
    if (i == kSecretBytes) ++found;
  }
  return found;
}

void keeper(uint64_t dtb) {
  for (size_t i = 0; i < kSecretBytes; ++i) g_secret[i] = secret_byte(i);
  rt::print("keeper: secret planted at IPA 0x%lx\n", reinterpret_cast<uint64_t>(&g_secret[0]));
  // The search the prober runs does find the secret where it is.
  const size_t found = count_secrets(0x4000'0000, memory_size(dtb));
  check(found == 1, "secret_found_in_own_memory", "found %zu copies", found);
  wait_ms(3000);
  rt::print("keeper: done\n");
}

void prober(uint64_t dtb) {
  wait_ms(500);  // the keeper plants its secret first
  const uint64_t ram = 0x4000'0000;
  const uint64_t size = memory_size(dtb);
  check(size >= (2u << 20), "memory_size_from_dtb", "%lu", size);
  const size_t found = count_secrets(ram, size);
  check(found == 0, "secret_not_in_own_memory", "found %zu copies", found);

  // Outside its memory: below, just above, far above, and at the kernel's
  // physical location in case IPAs and PAs were confused (it lies inside
  // this partition's IPA range, so it must read this partition's own bytes).
  const uint64_t outside[] = {0x3fff'f000, ram + size, ram + size + (1ull << 30), 0x80'0000'0000 - 0x1000};
  for (uint64_t a : outside) {
    rt::arm_catch();
    (void)*reinterpret_cast<volatile uint64_t*>(a);
    const auto c = rt::caught();
    check(c.taken && (c.esr >> 26) == 0x25, "outside_memory_refused", "IPA %lx taken %d esr %lx", a, c.taken, c.esr);
  }
  const auto* at_kernel = reinterpret_cast<const volatile uint32_t*>(0x4020'0000 + 56);
  check(reinterpret_cast<uint64_t>(__image_end) > 0x4020'0000 || *at_kernel != 0x644d5241,
        "kernel_image_not_visible", "magic %x", *at_kernel);
}

bool starts_with(const char* s, const char* prefix) {
  while (*prefix != '\0') {
    if (*s++ != *prefix++) return false;
  }
  return true;
}

// The first word of /chosen/bootargs: found by scanning the device tree's
// structure block for the property's value.
const char* role(uint64_t dtb) {
  const auto* blob = reinterpret_cast<const char*>(dtb);
  for (size_t off = 0; off < 4096; ++off) {
    if (starts_with(blob + off, "role=")) return blob + off + 5;
  }
  return "";
}

}  // namespace

void partition_main(uint64_t dtb) {
  const char* r = role(dtb);
  if (starts_with(r, "keeper")) {
    keeper(dtb);
    // keeper-sync: the prober is a device server whose register at
    // 0x09000000 runs one step of its sweep per read and says 1 when all
    // is done; reading it until then keeps the machine from powering off
    // under a prober still at work.
    if (starts_with(r, "keeper-sync")) {
      uint32_t steps = 0;
      while (*reinterpret_cast<volatile uint32_t*>(0x0900'0000) != 1 && steps < 100'000) ++steps;
      check(steps < 100'000, "prober_finished_first", "%u steps", steps);
    }
    guest::finish("keeper");
  } else {
    prober(dtb);
    guest::finish("prober");
  }
}
