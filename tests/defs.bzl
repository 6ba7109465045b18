"""qemu_test: an integration test that boots the hypervisor in QEMU."""

load("//tools/qemu:defs.bzl", "QEMU_LINUX_ARGS", "QEMU_LINUX_DATA")

def qemu_test(
        name,
        steps,
        image = "//kernel",
        package = None,
        append = "",
        smp = 4,
        mem = "1G",
        fail_on = ["PANIC"],
        exit = "kill",
        timeout_s = 30,
        crash_report = "",
        extra_args = [],
        control = False,
        host_data = [],
        firmware = ["qemu"],
        **kwargs):
    """Boots `image` in a fresh QEMU and checks the console against `steps`.

    Args:
      name: test name.
      steps: "expect:TEXT", "next:TEXT", "stream:NAME|TEXT", "find:NAME|TEXT", "seen:N:TEXT",
        "send:TEXT" and "host:COMMAND" steps, in order (tests/harness/console_script.h).
      image: the hypervisor image target.
      package: the boot package target (hyp_package), if any.
      append: hypervisor command line.
      smp: CPUs.
      mem: RAM size.
      fail_on: console text that fails the test at once.
      exit: after the last step, "kill" QEMU, or wait for it to exit with
        status "zero" or "any".
      timeout_s: seconds for the whole script.
      crash_report: text of the console line that reports a server crash;
        stream steps then allow one doubled character per report, in the
        guest's text just before it.
      extra_args: more harness flags.
      control: give QEMU the control channel's virtconsole; "host:" steps
        then find hypctl in $HYPCTL and its socket in $HYP_CONTROL_SOCKET.
      host_data: files the "host:" steps use.
      firmware: what starts the hypervisor, one test for each: "qemu"
        (QEMU's -kernel) is test `name`; "tfa" (Trusted Firmware-A, the
        hypervisor as BL33; docs/boot.md) is test `name` with "_tfa" before
        its "_test".
      **kwargs: passed to the test rule (size, tags, ...).
    """
    args = [
        "$(rootpath //tests/harness:qemu_test_runner)",
        "--hyp=$(rootpath %s)" % image,
        "--smp=%d" % smp,
        "--mem=%s" % mem,
        "--timeout_s=%d" % timeout_s,
        "'--fail_on=%s'" % ",".join(fail_on).replace("'", "'\\''"),
        "--exit=%s" % exit,
    ]
    data = [image, "//tests/harness:qemu_test_runner"]
    if append:
        args.append("'--hyp_append=%s'" % append.replace("'", "'\\''"))
    if crash_report:
        args.append("'--crash_report=%s'" % crash_report.replace("'", "'\\''"))
    if package:
        args.append("--package=$(rootpath %s)" % package)
        data.append(package)
    if control:
        args += ["--control_channel", "--hypctl=$(rootpath //tools:hypctl)"]
        data.append("//tools:hypctl")
    data += host_data
    # Test arguments are split like a shell command line: quote each step.
    quoted_steps = ["'%s'" % s.replace("'", "'\\''") for s in steps]
    tags = kwargs.pop("tags", [])
    size = kwargs.pop("size", "small")
    for fw in firmware:
        if fw not in ["qemu", "tfa"]:
            fail("firmware must be \"qemu\" or \"tfa\", not %r" % fw)
        fw_args = []
        fw_data = []
        if fw == "tfa":
            fw_args = ["--firmware=tfa", "--tfa_flash=$(rootpath //third_party/tfa:flash)"]
            fw_data = ["//third_party/tfa:flash"]
        native.sh_test(
            name = name if fw == "qemu" else (name[:-5] if name.endswith("_test") else name) + "_tfa_test",
            srcs = ["//tests/harness:run_test.sh"],
            args = args + fw_args + extra_args + ["--"] + quoted_steps,
            data = data + fw_data,
            # QEMU runs several threads of its own; on two cores these tests
            # must not run beside each other.
            tags = tags + ["exclusive", "qemu"] + (["tfa"] if fw == "tfa" else []),
            size = size,
            **kwargs
        )

def _pad4(n):
    return ("000" + str(n))[-4:]

def counted_steps(name, lines, every):
    """Steps that check guest `name`'s "count NNNN" lines arrive each once, in order.

    The first line is found anywhere; every later byte must follow the one
    before it (next: steps), so a lost or repeated character fails the test.
    Every `every` lines the guest asks for a planned restart of the UART
    server (partition 1): the kernel's and the server's lines about it must
    sit between the two count lines.
    """
    steps = ["expect:%s| count 0000\r\n" % name]
    for i in range(1, lines):
        if every and i % every == 0:
            steps.append("next:hyp: %s asks for a restart of server uart (id 1)\r\n" % name)
            steps.append("next:hyp: server uart (id 1) restarted (planned, restart %d): 0 requests replayed\r\n" %
                         (i // every))
            steps.append("next:uart| resumed (1 clients)\r\n")
        steps.append("next:%s| count %s\r\n" % (name, _pad4(i)))
    steps.append("next:%s| count done\r\n" % name)
    return steps

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

def unpolled_tx_steps(name):
    """Steps that check every byte guests/unpolled_tx writes arrives, in order.

    The guest writes DR without reading FR: three sections of five lines
    ("SECTION LL " and 60 characters of _ALPHABET from index 11 * LL on),
    then "unpolled done". The first line is found anywhere; every later byte
    must follow the one before it (next: steps).
    """
    lines = []
    for section in ["off32", "on16", "on8"]:
        for line in range(5):
            chars = "".join([_ALPHABET[(11 * line + i) % len(_ALPHABET)] for i in range(60)])
            lines.append("%s %s %s" % (section, _pad4(line)[2:], chars))
    lines.append("unpolled done")
    return ["expect:%s| %s\r\n" % (name, lines[0])] + ["next:%s| %s\r\n" % (name, l) for l in lines[1:]]

def streamed_count_steps(name, lines):
    """Steps that check guest `name`'s "count NNNN" lines, each once and in order, across crashes.

    The first line is found anywhere; from it on, one stream: step reads
    everything the guest prints through its PL011 up to "count done": other
    sources' lines (crash reports, restarts) may come between and split a
    line, and with qemu_test's crash_report each reported crash may have
    doubled one character before its report; nothing may be lost, reordered
    or repeated otherwise.
    """
    text = "".join(["count %s\n" % _pad4(i) for i in range(1, lines)]) + "count done\n"
    return ["expect:%s| count 0000\r\n" % name, "stream:%s|%s" % (name, text)]

# The UART server as packages name it (partition 1 when listed first), with
# the physical PL011 page, and the PL011 a guest gets from it at the address
# test guests use (guests/lib/uart.h).
UART_SERVER = {
    "name": "uart",
    "kind": "server",
    "image": "//servers/uart:uart_server",
    "memory_mib": 4,
    "device_memory": [(0x9000000, 0x1000)],
    # The UART's SPI on QEMU's virt (SPI 1): its receive interrupt.
    "device_irqs": [33],
}

# The GIC server, and the GICv3 a guest gets from it, where QEMU's virt has
# its own: the distributor at 0x08000000, the redistributors at 0x080a0000
# (guests/lib/gic.h).
GIC_SERVER = {
    "name": "gic",
    "kind": "server",
    "image": "//servers/gic:gic_server",
    "memory_mib": 4,
}

GICV3 = [{
    "name": "gic",
    "server": "gic",
    "model": "gicv3",
    "base": 0x8000000,
}]

PL011 = [{
    "name": "serial",
    "server": "uart",
    "model": "pl011",
    "base": 0x9000000,
}]

# The entropy server (servers/virtio/rng_server.cc), as the Linux packages
# name it: the second page of virtio-mmio transports, where QEMU's
# virtio-rng device goes (RNG_QEMU), their interrupts, and a DMA pool.
RNG_SERVER = {
    "name": "rng",
    "kind": "server",
    "image": "//servers/virtio:rng_server",
    "memory_mib": 4,
    "device_memory": [(0xa001000, 0x1000)],
    "device_irqs": [56, 57, 58, 59, 60, 61, 62, 63],
    "dma_pool_kib": 64,
}

RNG_QEMU = "-device virtio-rng-device,bus=virtio-mmio-bus.8"

# The RTC server (servers/rtc/rtc_server.cc): QEMU's PL031, whose SPI (2)
# it takes, and a PL031 for the guest at the same address.
RTC_SERVER = {
    "name": "rtc",
    "kind": "server",
    "image": "//servers/rtc:rtc_server",
    "memory_mib": 4,
    "device_memory": [(0x9010000, 0x1000)],
    "device_irqs": [34],
}

PL031 = [{
    "name": "rtc",
    "server": "rtc",
    "model": "pl031",
    "base": 0x9010000,
}]

# The control server (servers/control/control_server.cc): the fourth page
# of virtio-mmio transports, where qemu_test(control = True) puts QEMU's
# virtconsole (transport 24) behind the test's control socket. It may act
# on every server.
CONTROL_SERVER = {
    "name": "control",
    "kind": "server",
    "image": "//servers/control:control_server",
    "memory_mib": 4,
    "device_memory": [(0xa003000, 0x1000)],
    "device_irqs": [72, 73, 74, 75, 76, 77, 78, 79],
    "dma_pool_kib": 64,
    "control": True,
}

VIRTIO_RNG = [{
    "name": "rng",
    "server": "rng",
    "model": "virtio-mmio",
    "base": 0xa001000,
}]

# The block server (servers/virtio/blk_server.cc): the first page of
# virtio-mmio transports, where --disk puts QEMU's virtio-blk device
# (transport 0), their interrupts, and a DMA pool.
BLK_SERVER = {
    "name": "blk",
    "kind": "server",
    "image": "//servers/virtio:blk_server",
    "memory_mib": 4,
    "device_memory": [(0xa000000, 0x1000)],
    "device_irqs": [48, 49, 50, 51, 52, 53, 54, 55],
    "dma_pool_kib": 256,
}

VIRTIO_BLK = [{
    "name": "disk",
    "server": "blk",
    "model": "virtio-mmio",
    "base": 0xa000000,
}]

# A shell line for a Linux guest with the RTC server's PL031: after 5 s of
# the guest's own time, it prints "clock-2-ok" if the guest's clock is within
# 2 s of the PL031's, which counts the host's seconds. A counter frequency
# the firmware got wrong makes the guest's time run fast or slow.
GUEST_CLOCK_CHECK = ("sleep 5; d=$$(( $$(date +%s) - $$(cat /sys/class/rtc/rtc0/since_epoch) )); " +
                     "[ $$d -ge -2 ] && [ $$d -le 2 ] && echo clock-$$((1+1))-ok")

def qemu_linux_piped_test(name, lines, expected, launcher_args = [], tags = []):
    """Pipes `lines` into //:qemu_linux's command line, as a user would.

    The launcher holds the input until rcS is done; QEMU must exit 0 by
    itself (the last line powers off), every text in `expected` must appear
    in order, and nothing may be left in TMPDIR (tools/qemu/qemu_guest_test.sh).

    Args:
      name: test name.
      lines: shell lines typed in; none may hold a single quote.
      expected: console texts, in order; none may hold a single quote.
      launcher_args: more launcher flags (after //:qemu_linux's own, so they win).
      tags: more test tags.
    """
    native.sh_test(
        name = name,
        size = "medium",
        srcs = ["//tools/qemu:qemu_guest_test.sh"],
        args = ["--timeout=240", "'--input=%s\\n'" % "\\n".join(lines)] +
               ["'%s'" % e for e in expected] + ["--"] + QEMU_LINUX_ARGS + launcher_args,
        data = QEMU_LINUX_DATA,
        tags = tags + ["exclusive", "qemu"],
    )
