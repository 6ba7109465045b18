// Exercises every class of trap a partition can cause and checks the
// kernel's answer to each (docs/abi.md, docs/vcpu.md).
#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"
#include "ipc/hypercall.h"
#include "ipc/psci.h"

namespace {

using rt::Caught;
using guest::check;

constexpr uint64_t kNotSupported = hyp::abi::kSmcccNotSupported;
constexpr uint64_t kPsciVersion = hyp::psci::kVersion;
constexpr uint64_t kPsciFeatures = hyp::psci::kFeatures;
constexpr uint64_t kPsciSystemOff = hyp::psci::kSystemOff;
constexpr uint64_t kPsciCpuSuspend = hyp::psci::kCpuSuspend64;

uint64_t ec_of(const Caught& c) { return c.esr >> 26; }

#define READ_SYSREG(name)                           \
  ({                                                \
    uint64_t v_;                                    \
    asm volatile("mrs %0, " #name : "=r"(v_)::"memory"); \
    v_;                                             \
  })

void calls() {
  auto v = rt::hvc(hyp::abi::kHypVersion);
  check(v.x0 == 0 && v.x1 == hyp::abi::kHypAbiVersion, "hyp_version", "x0 %lx x1 %lx", v.x0, v.x1);
  v = rt::hvc(0x8600'0fff);
  check(v.x0 == kNotSupported, "unknown_hvc_not_supported", "x0 %lx", v.x0);
  v = rt::smc(0xC200'1234);
  check(v.x0 == kNotSupported, "unknown_smc_not_supported", "x0 %lx", v.x0);
  v = rt::smc(kPsciVersion);
  check(v.x0 == 0x1'0001, "psci_version_by_smc", "x0 %lx", v.x0);
  v = rt::hvc(kPsciVersion);
  check(v.x0 == 0x1'0001, "psci_version_by_hvc", "x0 %lx", v.x0);
  v = rt::hvc(kPsciFeatures, kPsciSystemOff);
  const auto off = v.x0;
  v = rt::hvc(kPsciFeatures, kPsciCpuSuspend);
  const auto suspend = v.x0;  // 0: original power_state format, no OS-initiated mode
  v = rt::hvc(kPsciFeatures, 0x8400'00ff);
  check(off == 0 && suspend == 0 && v.x0 == kNotSupported, "psci_features", "SYSTEM_OFF %lx CPU_SUSPEND %lx unknown %lx",
        off, suspend, v.x0);
  v = rt::hvc(hyp::abi::kSmcccVersion);
  check(v.x0 == 0x1'0001, "smccc_version", "x0 %lx", v.x0);
  uint64_t x0;
  asm volatile("mov x0, %1\n\thvc #1\n\tmov %0, x0" : "=r"(x0) : "r"(kPsciVersion) : "x0", "x1", "x2", "x3", "memory");
  check(x0 == kNotSupported, "hvc_nonzero_immediate", "x0 %lx", x0);
  v = rt::hvc(hyp::abi::kHypDebugWrite, 0x1000, 4);
  check(static_cast<int64_t>(v.x0) < 0, "debug_write_outside_memory_refused", "x0 %lx", v.x0);
  v = rt::hvc(hyp::abi::kVendorHypUid);
  check(v.x0 == hyp::abi::kVendorHypUidWords[0] && v.x3 == hyp::abi::kVendorHypUidWords[3], "vendor_hyp_uid",
        "%lx %lx %lx %lx", v.x0, v.x1, v.x2, v.x3);
  v = rt::smc(hyp::psci::kMigrateInfoType);
  check(v.x0 == 2, "migrate_info_type", "x0 %lx", v.x0);
  // QEMU's -cpu max has RNDR: TRNG is offered, 192 bits fill x1..x3.
  const auto version = rt::hvc(hyp::abi::kTrngVersion).x0;
  v = rt::hvc(hyp::abi::kTrngRnd64, 192);
  const auto again = rt::hvc(hyp::abi::kTrngRnd64, 192);
  check(version == hyp::abi::kTrngVersion1_0 && v.x0 == 0 && again.x0 == 0 &&
            (v.x1 != again.x1 || v.x2 != again.x2 || v.x3 != again.x3),
        "trng_random_bits", "version %lx status %lx", version, v.x0);
}

void id_registers() {
  const uint64_t pfr0 = READ_SYSREG(id_aa64pfr0_el1);
  check(((pfr0 >> 32) & 0xf) == 0 && ((pfr0 >> 4) & 0xf) != 0, "id_aa64pfr0_hides_sve", "%lx", pfr0);
  const uint64_t pfr1 = READ_SYSREG(id_aa64pfr1_el1);
  check(((pfr1 >> 24) & 0xf) == 0 && ((pfr1 >> 8) & 0xf) == 0, "id_aa64pfr1_hides_sme_mte", "%lx", pfr1);
  const uint64_t zfr0 = READ_SYSREG(S3_0_C0_C4_4);
  check(zfr0 == 0, "id_aa64zfr0_zero", "%lx", zfr0);
  const uint64_t dfr0 = READ_SYSREG(id_aa64dfr0_el1);
  check(((dfr0 >> 8) & 0xf) == 0, "id_aa64dfr0_hides_pmu", "%lx", dfr0);
  const uint64_t mpidr = READ_SYSREG(mpidr_el1);
  check((mpidr & 0xff'00ff'ffff) == 0, "mpidr_is_vcpu_index", "%lx", mpidr);
  const uint64_t midr = READ_SYSREG(midr_el1);
  check(midr != 0, "midr_visible", "%lx", midr);
}

void sysreg_rule() {
  rt::arm_catch();
  const uint64_t mdscr = READ_SYSREG(mdscr_el1);
  check(mdscr == 0 && !rt::caught().taken, "debug_register_reads_zero", "%lx", mdscr);

  rt::arm_catch();
  (void)READ_SYSREG(pmcr_el0);
  Caught c = rt::caught();
  check(c.taken && ec_of(c) == 0, "pmu_register_undefined", "taken %d esr %lx", c.taken, c.esr);

  // The EL1 physical timer is emulated (as KVM offers it): its registers
  // trap and read back what was written; disabled, it says no status.
  rt::arm_catch();
  asm volatile("msr cntp_cval_el0, %0\n\tmsr cntp_ctl_el0, %1\n\tisb" ::"r"(uint64_t{0x1234'5678}), "r"(uint64_t{2}));
  const uint64_t cval = READ_SYSREG(cntp_cval_el0);
  const uint64_t ctl = READ_SYSREG(cntp_ctl_el0);
  check(!rt::caught().taken && cval == 0x1234'5678 && ctl == 2, "physical_timer_emulated", "cval %lx ctl %lx", cval,
        ctl);

  // With SVE enabled at EL1 (CPACR_EL1.ZEN), SVE instructions reach the
  // kernel's CPTR_EL2.TZ trap, which answers UNDEFINED: SVE is not offered.
  asm volatile("msr cpacr_el1, %0\n\tisb" ::"r"((uint64_t{3} << 20) | (uint64_t{3} << 16)));
  rt::arm_catch();
  asm volatile(".inst 0x04bf5020" ::: "x0", "memory");  // RDVL x0, #1 (SVE)
  c = rt::caught();
  check(c.taken && ec_of(c) == 0, "sve_instruction_undefined", "taken %d esr %lx", c.taken, c.esr);

  // Cache maintenance to the point of unification is the partition's own
  // (a kernel loading code does it): nothing traps it, on CPUs with
  // FEAT_EVT too (HCR_EL2.TOCU, TICAB clear).
  rt::arm_catch();
  const uint64_t line = reinterpret_cast<uint64_t>(&sysreg_rule);
  asm volatile("dc cvau, %0\n\tdsb ish\n\tic ivau, %0\n\tic iallu\n\tic ialluis\n\tdsb ish\n\tisb" ::"r"(line)
               : "memory");
  c = rt::caught();
  check(!c.taken, "cache_maintenance_to_pou_not_trapped", "taken %d esr %lx", c.taken, c.esr);

  const uint64_t t0 = rt::read_counter();
  const uint64_t t1 = rt::read_counter();
  check(t1 >= t0 && rt::counter_frequency() != 0, "virtual_counter_readable", "%lu %lu", t0, t1);

  // FP/SIMD is the partition's own: enable it at EL1 and move a value through D0.
  asm volatile("msr cpacr_el1, %0\n\tisb" ::"r"(uint64_t{3} << 20));
  uint64_t out;
  asm volatile("mov x1, %1\n\t.inst 0x9e670020\n\t.inst 0x9e660002\n\tmov %0, x2"  // fmov d0, x1; fmov x2, d0
               : "=r"(out)
               : "r"(uint64_t{0x1234'5678'9abc'def0})
               : "x1", "x2", "memory");
  check(out == 0x1234'5678'9abc'def0, "fp_simd_usable", "%lx", out);
}

}  // namespace

void partition_main(uint64_t dtb) {
  rt::print("trap test: started, device tree at 0x%lx\n", dtb);
  check(dtb != 0 && *reinterpret_cast<volatile uint32_t*>(dtb) == 0xedfe0dd0, "dtb_in_x0", "%lx", dtb);
  calls();
  id_registers();
  sysreg_rule();
  guest::finish("trap test");
}
