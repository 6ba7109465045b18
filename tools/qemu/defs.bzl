"""The command line behind //:qemu_guest, shared with the tests that run it."""

# Arguments to tools/qemu/run.sh: the launcher, the hypervisor, the UART
# server that gives the guest its console, the GIC server that gives it its
# GICv3, the RTC server that gives it a PL031, the control server behind
# hypctl (docs/control.md), Trusted Firmware-A's flash image for
# --firmware=tfa (docs/boot.md), and the guest's defaults (flags
# given after `bazel run //:qemu_guest --` come later and win).
QEMU_GUEST_ARGS = [
    "$(rootpath //tools/qemu:launch)",
    "--hyp=$(rootpath //kernel)",
    "--uart_server=$(rootpath //servers/uart:uart_server)",
    "--gic_server=$(rootpath //servers/gic:gic_server)",
    "--rtc_server=$(rootpath //servers/rtc:rtc_server)",
    "--control_server=$(rootpath //servers/control:control_server)",
    "--tfa_flash=$(rootpath //third_party/tfa:flash)",
    "--smp=1",
    "--mem=256M",
]

QEMU_GUEST_DATA = [
    "//kernel",
    "//servers/control:control_server",
    "//servers/rtc:rtc_server",
    "//servers/gic:gic_server",
    "//servers/uart:uart_server",
    "//third_party/tfa:flash",
    "//tools/qemu:launch",
]

# //:qemu_linux: the guest's arguments after QEMU_GUEST_ARGS (Debian's
# kernel, the busybox initramfs, 4 vCPUs, 1 GiB, a virtio-rng device from
# the entropy server, a disk from the block server when --disk is given;
# piped input held until the initramfs's rcS is done), shared with
# //tests:qemu_linux_piped_test.
QEMU_LINUX_ARGS = QEMU_GUEST_ARGS + [
    "--blk_server=$(rootpath //servers/virtio:blk_server)",
    "--rng_server=$(rootpath //servers/virtio:rng_server)",
    "--kernel=$(rootpath //guests/linux:kernel)",
    "--initrd=$(rootpath //guests/linux:initramfs)",
    "--smp=4",
    "--mem=1G",
    "--append=console=ttyAMA0",
    "'--input_after=rcS: ready'",
]

QEMU_LINUX_DATA = QEMU_GUEST_DATA + [
    "//guests/linux:initramfs",
    "//guests/linux:kernel",
    "//servers/virtio:blk_server",
    "//servers/virtio:rng_server",
]
