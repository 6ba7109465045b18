// PSCI SYSTEM_RESET restarts the partition alone: the first boot leaves a
// mark in memory outside its image and asks for a reset; the second boot
// finds the mark (memory is kept, the image is put back) and powers off.
#include <cstdint>

#include "guests/lib/check.h"
#include "runtime/runtime.h"
#include "ipc/psci.h"

namespace {

// 4 MiB into RAM: beyond the image, below the device tree.
volatile uint64_t* const kMark = reinterpret_cast<volatile uint64_t*>(0x4040'0000);
constexpr uint64_t kMagic = 0x7265'7365'7421'2121;

// In .data: the reset copies the image back, so this is 1 again on every boot.
volatile int g_image_value = 1;

}  // namespace

void partition_main(uint64_t /*dtb*/) {
  if (*kMark != kMagic) {
    rt::print("reset test: first boot\n");
    *kMark = kMagic;
    g_image_value = 2;
    rt::hvc(hyp::psci::kSystemReset);  // does not return
    rt::print("reset test: SYSTEM_RESET returned\n");
    return;
  }
  rt::print("reset test: second boot\n");
  guest::check(g_image_value == 1, "image_restored", "value %d", g_image_value);
  guest::finish("reset test");
}
