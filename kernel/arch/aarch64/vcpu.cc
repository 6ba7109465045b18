#include "kernel/arch/vcpu.h"

#include "kernel/arch/aarch64/sysreg.h"

namespace hyp::arch {

El1ExceptionRegs read_el1_exception_regs() {
  return {
      .vbar_el1 = HYP_READ_SYSREG(vbar_el1),
      .elr_el1 = HYP_READ_SYSREG(elr_el1),
      .spsr_el1 = HYP_READ_SYSREG(spsr_el1),
      .esr_el1 = HYP_READ_SYSREG(esr_el1),
      .far_el1 = HYP_READ_SYSREG(far_el1),
  };
}

void write_el1_exception_regs(const El1ExceptionRegs& regs) {
  HYP_WRITE_SYSREG(elr_el1, regs.elr_el1);
  HYP_WRITE_SYSREG(spsr_el1, regs.spsr_el1);
  HYP_WRITE_SYSREG(esr_el1, regs.esr_el1);
  HYP_WRITE_SYSREG(far_el1, regs.far_el1);
}

// The ID register space op0 = 3, op1 = 0, CRn = 0, CRm = 1..7, op2 = 0..7:
// MRS needs the encoding as an immediate, hence one case per register.
uint64_t read_id_register(uint32_t key) {
  switch (key) {
#define HYP_ID_CASE(crm, op2)                      \
  case (3u << 20) | (op2 << 17) | (crm << 1):      \
    return HYP_READ_SYSREG(S3_0_C0_C##crm##_##op2);
#define HYP_ID_ROW(crm) \
  HYP_ID_CASE(crm, 0) HYP_ID_CASE(crm, 1) HYP_ID_CASE(crm, 2) HYP_ID_CASE(crm, 3) \
  HYP_ID_CASE(crm, 4) HYP_ID_CASE(crm, 5) HYP_ID_CASE(crm, 6) HYP_ID_CASE(crm, 7)
    HYP_ID_ROW(1)
    HYP_ID_ROW(2)
    HYP_ID_ROW(3)
    HYP_ID_ROW(4)
    HYP_ID_ROW(5)
    HYP_ID_ROW(6)
    HYP_ID_ROW(7)
#undef HYP_ID_ROW
#undef HYP_ID_CASE
    default:
      return 0;
  }
}

}  // namespace hyp::arch
