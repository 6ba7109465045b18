"""Checks a trace that hypctl exported (docs/control.md, "Traces").

usage: check_trace.py TRACE.json SERVER_PID GUEST_PID

The file must be one JSON object in the Chrome trace-event format, with
"traceEvents" holding process names for every partition and instant events
in time order on each CPU; and it must hold the events of the guest reading
a server's device: the guest's data aborts, requests queued on the server's
channel, the server put on a CPU, and its answers taken.
"""

import json
import sys


def main():
    path, server, guest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(path) as f:
        trace = json.load(f)
    assert trace["ok"] is True and trace["command"] == "trace", "not a trace answer"
    events = trace["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert server in names and guest in names, f"process names missing: {names}"
    records = [e for e in events if e["ph"] == "i"]
    assert records, "no records"
    last = {}
    for e in records:
        assert set(e) == {"name", "ph", "s", "ts", "pid", "tid", "args"}, e
        cpu = e["args"]["cpu"]
        assert e["ts"] >= last.get(cpu, 0), f"CPU {cpu} goes back in time at {e}"
        last[cpu] = e["ts"]
    seen = {(e["pid"], e["name"]) for e in records}
    for want in [(guest, "exit dabt"), (server, "request"), (server, "run"), (server, "answers")]:
        assert want in seen, f"no {want} in the trace"
    print(f"trace: {len(records)} records on {len(last)} CPUs, {len(names)} partitions")


if __name__ == "__main__":
    main()
