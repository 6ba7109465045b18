"""Console steps of the run-loop regression tests (//tests/regressions)."""

# Console text that fails a test whose hostile server is to be restarted
# exactly once after a failure: a give-up, a second restart, a failed check.
# (No commas: the harness splits its fail_on flag at them.)
RESTARTED_ONCE = [
    "PANIC",
    "FAILED",
    "without progress",
    "restart 2)",
]

def pad4(n):
    return ("000" + str(n))[-4:]

def restart_race_steps(guest, count):
    """Steps for guests/restart_race: restart K is reported before `guest` writes "restart K".

    Args:
      guest: the control guest's name.
      count: how many restarts it asks for.

    Returns:
      The steps, up to the control guest's summary.
    """
    steps = []
    for k in range(1, count + 1):
        steps.append("expect:hyp: server uart (id 1) restarted (planned, restart %d): " % k)
        steps.append("expect:%s| restart %s\r\n" % (guest, pad4(k)))
    return steps + [
        "expect:%s| check restarts_accepted: ok" % guest,
        "expect:%s| restart race: 1 passed, 0 failed" % guest,
    ]

def hostile_server(bootargs):
    """The hostile test server (servers/hostile) as a package entry, misbehaving as `bootargs` says."""
    return {
        "name": "hostile",
        "kind": "server",
        "image": "//servers/hostile:hostile_server",
        "memory_mib": 4,
        "bootargs": bootargs,
    }

# The hostile server's window in a guest, where guests/hostile_client/hostile.h
# expects it. The packer knows only the PL011 model; what matters here is its
# 4 KiB window, and these guests do not read their device trees.
HOSTILE_DEVICE = [{
    "name": "hostile",
    "server": "hostile",
    "model": "pl011",
    "base": 0xa000000,
}]

def hostile_client(name, image):
    """A guest on the hostile server's window."""
    return {
        "name": name,
        "image": image,
        "memory_mib": 4,
        "devices": HOSTILE_DEVICE,
    }
