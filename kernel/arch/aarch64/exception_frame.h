// The register frame the EL2 vectors save for an unexpected exception. Its
// offsets are used by exceptions.S and checked against the struct here.
#pragma once

#define EXCEPTION_FRAME_X0 0
#define EXCEPTION_FRAME_SP 248
#define EXCEPTION_FRAME_ELR 256
#define EXCEPTION_FRAME_SPSR 264
#define EXCEPTION_FRAME_ESR 272
#define EXCEPTION_FRAME_FAR 280
#define EXCEPTION_FRAME_SIZE 288

#ifndef __ASSEMBLER__
#include <cstddef>
#include <cstdint>

namespace hyp::arch {

struct ExceptionFrame {
  uint64_t x[31];
  uint64_t sp;  // SP at the time of the exception
  uint64_t elr;
  uint64_t spsr;
  uint64_t esr;
  uint64_t far;
};

static_assert(offsetof(ExceptionFrame, x) == EXCEPTION_FRAME_X0);
static_assert(offsetof(ExceptionFrame, sp) == EXCEPTION_FRAME_SP);
static_assert(offsetof(ExceptionFrame, elr) == EXCEPTION_FRAME_ELR);
static_assert(offsetof(ExceptionFrame, spsr) == EXCEPTION_FRAME_SPSR);
static_assert(offsetof(ExceptionFrame, esr) == EXCEPTION_FRAME_ESR);
static_assert(offsetof(ExceptionFrame, far) == EXCEPTION_FRAME_FAR);
static_assert(sizeof(ExceptionFrame) == EXCEPTION_FRAME_SIZE);
static_assert(EXCEPTION_FRAME_SIZE % 16 == 0, "SP must stay 16-byte aligned");

}  // namespace hyp::arch
#endif
