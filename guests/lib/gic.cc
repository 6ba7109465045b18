#include "guests/lib/gic.h"

namespace guest::gic {
namespace {

volatile uint32_t& reg32(uint64_t address) { return *reinterpret_cast<volatile uint32_t*>(address); }
volatile uint8_t& reg8(uint64_t address) { return *reinterpret_cast<volatile uint8_t*>(address); }
volatile uint64_t& reg64(uint64_t address) { return *reinterpret_cast<volatile uint64_t*>(address); }

uint64_t sgi_base() { return kRedist + kRedistStride * self() + 0x1'0000; }

}  // namespace

uint32_t self() {
  uint64_t mpidr;
  asm volatile("mrs %0, mpidr_el1" : "=r"(mpidr));
  return static_cast<uint32_t>(mpidr & 0xff);
}

void init_distributor() { reg32(kDist + 0x0) = 0b10; }  // GICD_CTLR.EnableGrp1

void init_cpu() {
  const uint64_t rd = kRedist + kRedistStride * self();
  reg32(rd + 0x14) = 0;  // GICR_WAKER: ProcessorSleep off
  while ((reg32(rd + 0x14) & 0b100) != 0) {
  }
  asm volatile("msr S3_0_C12_C12_5, %0\n\tisb" : : "r"(uint64_t{7}));  // ICC_SRE_EL1
  asm volatile("msr S3_0_C4_C6_0, %0" : : "r"(uint64_t{0xff}));        // ICC_PMR_EL1
  asm volatile("msr S3_0_C12_C12_3, %0" : : "r"(uint64_t{0}));         // ICC_BPR1_EL1
  asm volatile("msr S3_0_C12_C12_4, %0" : : "r"(uint64_t{0}));         // ICC_CTLR_EL1: EOImode 0
  asm volatile("msr S3_0_C12_C12_7, %0\n\tisb" : : "r"(uint64_t{1}));  // ICC_IGRPEN1_EL1
}

void enable_private(uint32_t intid, uint8_t priority) {
  const uint64_t s = sgi_base();
  reg32(s + 0x80) = reg32(s + 0x80) | (1u << intid);  // IGROUPR0
  reg8(s + 0x400 + intid) = priority;                 // IPRIORITYR
  reg32(s + 0x100) = 1u << intid;                     // ISENABLER0
}

void enable_spi(uint32_t intid, uint8_t priority, bool edge, uint32_t target) {
  const uint64_t n = intid / 32;
  reg32(kDist + 0x80 + 4 * n) = reg32(kDist + 0x80 + 4 * n) | (1u << (intid % 32));  // IGROUPR
  reg8(kDist + 0x400 + intid) = priority;
  const uint64_t cfg = kDist + 0xc00 + 4 * (intid / 16);
  const uint32_t bit = 2u << (2 * (intid % 16));
  reg32(cfg) = edge ? reg32(cfg) | bit : reg32(cfg) & ~bit;
  reg64(kDist + 0x6000 + 8 * intid) = target;  // IROUTER: Aff0
  reg32(kDist + 0x100 + 4 * n) = 1u << (intid % 32);
}

void send_sgi(uint32_t intid, uint16_t targets) {
  const uint64_t v = (uint64_t{intid & 0xf} << 24) | targets;
  asm volatile("msr S3_0_C12_C11_5, %0\n\tisb" : : "r"(v));  // ICC_SGI1R_EL1
}

uint32_t acknowledge() {
  uint64_t v;
  asm volatile("mrs %0, S3_0_C12_C12_0" : "=r"(v));  // ICC_IAR1_EL1
  return static_cast<uint32_t>(v & 0xffffff);
}

void end(uint32_t intid) { asm volatile("msr S3_0_C12_C12_1, %0\n\tisb" : : "r"(uint64_t{intid})); }  // ICC_EOIR1_EL1

uint8_t running_priority() {
  uint64_t v;
  asm volatile("mrs %0, S3_0_C12_C11_3" : "=r"(v));  // ICC_RPR_EL1
  return static_cast<uint8_t>(v);
}

}  // namespace guest::gic
