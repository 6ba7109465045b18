// The trap dispatcher: every exception a partition's vCPU takes to EL2 comes
// here with its syndrome, and leaves with the vCPU's state updated and an
// action for the scheduler. Dispatch is by exception class through a
// constexpr table; every class has a defined answer.
#pragma once

#include <cstdint>

#include "kernel/partition/partition.h"
#include "kernel/trap/esr.h"

namespace hyp {

struct TrapInfo {
  uint64_t esr;
  uint64_t far;    // FAR_EL2: the faulting virtual address, for aborts
  uint64_t hpfar;  // HPFAR_EL2: the faulting IPA's page, for Stage-2 aborts
};

enum class TrapAction : uint8_t {
  kResume,          // return to the same vCPU
  kPartitionOff,    // the partition asked to power off (PSCI SYSTEM_OFF)
  kPartitionReset,  // the partition asked to reset (PSCI SYSTEM_RESET)
  kForward,         // a guest access for a device server: vcpu.forwarded says which
  kServerWait,      // a server answered all it took (HYP_SERVER_WAIT)
  kServerRestart,   // a control partition asked to restart server x1 (HYP_SERVER_RESTART)
  kControl,         // a control partition's HYP_SERVER_STOP, _START or HYP_CONTROL_READ (x0)
  kWaitForInterrupt,  // WFI or PSCI CPU_SUSPEND: the vCPU may block (vcpu.wake_at set)
  kCpuOff,          // PSCI CPU_OFF: the vCPU leaves its CPU, off
  kCpuOn,           // PSCI CPU_ON succeeded: vcpu.started is to be made runnable
  kSendInterrupts,  // an interrupt became pending for vcpu.sent_to of vcpu.sent_in (for a
                    // server, which has none: FF-A news for it, and it is to run)
  kTimerChanged,    // the guest wrote its EL1 physical timer: its level and deadline
  kDirectRequest,   // an FF-A direct request, checked: to vcpu.direct.target
  kDirectResponse,  // an FF-A direct response, checked: to vcpu.direct.from
  kMessageWait,     // FFA_MSG_WAIT: the vCPU waits for a message (vcpu.direct.state kWaiting)
  kYield,           // FFA_YIELD: a guest gives up the rest of its slice
};

// Counts the exit in vcpu.exits.
TrapAction handle_trap(Vcpu& vcpu, const TrapInfo& info);

// Takes the vCPU loaded on this CPU to its EL1 vector with synchronous
// exception syndrome `esr` (and FAR, if not null), as the architecture would.
void inject(Vcpu& vcpu, uint64_t esr, const uint64_t* far);

}  // namespace hyp
