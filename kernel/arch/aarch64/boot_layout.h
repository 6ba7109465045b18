// Constants shared by the boot assembly and C++.
#pragma once

#define BOOT_STACK_SIZE 16384
#define BOOT_MAX_CPUS 8

// SCTLR_EL2 (non-VHE) RES1 bits: 4, 5, 11, 16, 18, 22, 23, 28, 29.
#define SCTLR_EL2_RES1 0x30C50830
// CPTR_EL2 (non-VHE): RES1 bits plus TZ and TSM, so SVE and SME trap; TFP
// clear, so FP/SIMD is usable at EL2 (by libfdt at boot).
#define CPTR_EL2_BOOT 0x33FF
// HCR_EL2.RW: EL1 is AArch64. Nothing else is trapped until partitions exist.
#define HCR_EL2_BOOT (1 << 31)
