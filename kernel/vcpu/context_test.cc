#include "kernel/vcpu/context.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <type_traits>

namespace hyp {
namespace {

TEST(VcpuContext, LayoutMatchesTheAssemblyOffsets) {
  static_assert(std::is_standard_layout_v<VcpuContext>);
  EXPECT_EQ(offsetof(VcpuContext, x), size_t{VCPU_CONTEXT_X0});
  EXPECT_EQ(offsetof(VcpuContext, x) + 30 * 8, size_t{VCPU_CONTEXT_X0} + 240);  // x30
  EXPECT_EQ(offsetof(VcpuContext, pc), size_t{VCPU_CONTEXT_PC});
  EXPECT_EQ(offsetof(VcpuContext, pstate), size_t{VCPU_CONTEXT_PSTATE});
}

TEST(VcpuContext, FpStateHoldsAllThirtyTwoQuadRegisters) {
  EXPECT_EQ(sizeof(FpState::v), 32u * 16u);
  EXPECT_EQ(offsetof(VcpuContext, fp) % 16, 0u);
}

TEST(VcpuContext, El1SysregsHaveNoPadding) {
  // The save/restore code walks the struct as consecutive 64-bit slots.
  EXPECT_EQ(sizeof(El1Sysregs) % 8, 0u);
  EXPECT_EQ(sizeof(El1Sysregs), 39u * 8u);
}

}  // namespace
}  // namespace hyp
