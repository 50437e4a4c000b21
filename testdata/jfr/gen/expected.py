"""Expected series of a JDK recording, computed from `jfr print --json` (the JDK's own reader).

Usage: expected.py RECORDING OUTDIR. Writes OUTDIR/<recording>.<suffix>.txt, folded stacks
(root first, frames `pkg/Class.method`, sorted) with pyro-jfr's value for each profile type.
lock_duration is in nanoseconds as the JDK prints it (converted per event).
"""
import json
import os
import re
import subprocess
import sys
from collections import defaultdict

EVENTS = "jdk.ExecutionSample,jdk.ObjectAllocationInNewTLAB,jdk.ObjectAllocationOutsideTLAB,jdk.ObjectAllocationSample,jdk.JavaMonitorEnter,jdk.ThreadPark"


def nanos(iso):
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?", iso)
    h, mi, s, frac = m.groups()
    ns = ((int(h or 0) * 60 + int(mi or 0)) * 60 + int(s or 0)) * 10**9
    if frac:
        ns += int(frac.ljust(9, "0")[:9])
    return ns


def main():
    path, outdir = sys.argv[1], sys.argv[2]
    out = subprocess.run(
        ["jfr", "print", "--json", "--stack-depth", "10000", "--events", EVENTS, path],
        check=True, capture_output=True, text=True).stdout
    events = json.loads(out)["recording"]["events"]
    series = defaultdict(lambda: defaultdict(int))
    for e in events:
        v = e["values"]
        st = v.get("stackTrace")
        if not st:
            continue
        frames = []
        for f in reversed(st["frames"]):
            m = f.get("method")
            if not m or not m.get("type"):
                continue
            frames.append(m["type"]["name"] + "." + m["name"])
        stack = ";".join(frames)
        t = e["type"]
        add = lambda suffix, value: value and series[suffix].__setitem__(stack, series[suffix][stack] + value)
        if t == "jdk.ExecutionSample":
            if v.get("state") and v["state"] != "STATE_SLEEPING":
                add("cpu", 1)
        elif t == "jdk.ObjectAllocationInNewTLAB":
            add("alloc_in_new_tlab_objects", 1)
            add("alloc_in_new_tlab_bytes", v["tlabSize"])
        elif t == "jdk.ObjectAllocationOutsideTLAB":
            add("alloc_outside_tlab_objects", 1)
            add("alloc_outside_tlab_bytes", v["allocationSize"])
        elif t == "jdk.ObjectAllocationSample":
            add("alloc_sample_objects", 1)
            add("alloc_sample_bytes", v["weight"])
        else:
            add("lock_count", 1)
            add("lock_duration", nanos(v["duration"]))
    os.makedirs(outdir, exist_ok=True)
    base = os.path.basename(path)
    for suffix, stacks in sorted(series.items()):
        with open(os.path.join(outdir, f"{base}.{suffix}.txt"), "w") as f:
            for stack in sorted(stacks):
                f.write(f"{stack} {stacks[stack]}\n")


main()
