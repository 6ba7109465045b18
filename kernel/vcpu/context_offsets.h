// Offsets into VcpuContext used by the exception entry assembly. Checked
// against the C++ layout in context.h.
#pragma once

#define VCPU_CONTEXT_X0 0
#define VCPU_CONTEXT_PC 248
#define VCPU_CONTEXT_PSTATE 256
