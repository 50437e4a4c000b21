#!/usr/bin/env python3
"""A month of one agent against a release `ingest-server` (or the binary given), then what users
read: the issue's shape (one app, a 60-stack folded upload every 10 s for `--days` days, stacks
of 5-25 frames drawn from a fixed agent-like set), ingested back-dated by `--clients` keep-alive
connections, then `/render` (format=json, as the UI asks) over the last 1 h, 24 h, 7 d and 30 d,
and Grafana's `SelectMergeStacktraces` and `SelectSeries` (step 15 s for 1 h, 1 h for 30 d) over
the same ranges. Prints medians, the server's peak RSS during each group of reads (sampled every
10 ms from /proc), the data dir's size against the folded input, and the answers' totals, which
must agree between ranges of every binary.

    python3 benches/load/month.py [--days 30] [--bin PATH] [--reads 7] [--timeout 60]

A binary without rollups (before pyro-store) answers a long range slowly or not at all; the
script reports a timeout and goes on.
"""
import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
APP = "month.cpu"


def agent_stacks(rng):
    """300 possible stacks of 5-25 frames over ~400 frame names, as one service's agent sees."""
    frames = [f"pkg{rng.randrange(40)}.Fn{i}" for i in range(400)]
    stacks = []
    for _ in range(300):
        depth = rng.randrange(5, 26)
        stacks.append(";".join(rng.choice(frames) for _ in range(depth)))
    return stacks


def bodies(rng, stacks, n):
    out = []
    for _ in range(n):
        chosen = rng.sample(stacks, 60)
        out.append("".join(f"{s} {rng.randrange(1, 40)}\n" for s in chosen).encode())
    return out


class Rss:
    """Peak RSS of a process, sampled every 10 ms while active."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.peak = max(self.peak, int(line.split()[1]) * 1024)
            except OSError:
                return
            time.sleep(0.01)

    def take(self):
        p, self.peak = self.peak, 0
        return p


def request(addr, method, path, body=None, headers=None, timeout=60):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    t = time.perf_counter()
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, data, time.perf_counter() - t
    except (TimeoutError, OSError) as e:
        return 0, str(e).encode(), time.perf_counter() - t
    finally:
        c.close()


def ingest(addr, writes, clients):
    lock = threading.Lock()
    it = iter(writes)
    failed = [0]

    def worker():
        host, port = addr.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=120)
        while True:
            with lock:
                nxt = next(it, None)
            if nxt is None:
                break
            at, body = nxt
            path = f"/ingest?name={APP}&from={at}&until={at + 10}&sampleRate=100&spyName=bench"
            for _ in range(5):
                try:
                    c.request("POST", path, body=body)
                    r = c.getresponse()
                    r.read()
                    if r.status == 200:
                        break
                except OSError:
                    c.close()
                    c = http.client.HTTPConnection(host, int(port), timeout=120)
            else:
                failed[0] += 1

    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return failed[0]


def metric(addr, name):
    status, body, _ = request(addr, "GET", "/metrics")
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/ingest-server"))
    ap.add_argument("--reads", type=int, default=7)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--dir", help="reuse this data dir (skips ingest when it holds data)")
    a = ap.parse_args()
    if a.bin.startswith(ROOT):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "pyro-ingest-server"],
                       cwd=ROOT, check=True)
    d = a.dir or tempfile.mkdtemp(prefix="month-")
    fresh = not os.path.exists(os.path.join(d, "pyro.redb"))
    p = subprocess.Popen([a.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", d,
                          "--request-timeout-secs", str(int(a.timeout))],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    addr = p.stdout.readline().decode().strip().removeprefix("listening on ")
    rss = Rss(p.pid)
    now = int(time.time()) // 10 * 10
    n = int(a.days * 8640)
    try:
        if fresh:
            rng = random.Random(7)
            stacks = agent_stacks(rng)
            pool = bodies(rng, stacks, 512)
            input_bytes = sum(len(pool[i % len(pool)]) for i in range(n))
            writes = ((now - (n - i) * 10, pool[i % len(pool)]) for i in range(n))
            t = time.perf_counter()
            failed = ingest(addr, writes, a.clients)
            dt = time.perf_counter() - t
            print(f"ingested {n} writes ({input_bytes / 1e9:.2f} GB folded) in {dt:.1f} s "
                  f"({n / dt:.0f} writes/s, {a.clients} clients), {failed} failed; "
                  f"peak RSS {rss.take() / 1e6:.0f} MB")
            with open(os.path.join(d, "input_bytes"), "w") as f:
                f.write(str(input_bytes))
        input_bytes = int(open(os.path.join(d, "input_bytes")).read())
        t = time.perf_counter()
        while True:
            pending = metric(addr, "pyro_rollups_pending")
            rolled = metric(addr, "pyro_rollups")
            # The roller's first pass may not have marked anything yet right after a start.
            if pending is None or (pending == 0 and (rolled or time.perf_counter() - t > 3)):
                break
            if time.perf_counter() - t > 1800:
                print(f"rollups still pending after 30 min: {pending}")
                break
            time.sleep(1)
        if pending is not None:
            print(f"rollups done {time.perf_counter() - t:.1f} s after ingest; "
                  f"{metric(addr, 'pyro_rollups'):.0f} rollups")
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"data dir {size / 1e6:.0f} MB = {size / input_bytes:.3f} x the folded input")
        q = urllib.parse.quote(f"{APP}{{}}")
        ranges = [("1h", 3600, 15), ("24h", 86400, 60), ("7d", 7 * 86400, 600),
                  ("30d", 30 * 86400, 3600)]
        for label, span, step in ranges:
            if span > a.days * 86400 + 3600:
                continue
            frm, until = now - span, now
            rss.take()
            times, totals, bad = [], set(), None
            for _ in range(a.reads):
                status, body, dt = request(
                    addr, "GET",
                    f"/render?query={q}&from={frm}&until={until}&format=json",
                    timeout=a.timeout + 5)
                if status != 200:
                    bad = f"{status} {body[:120]!r}"
                    break
                times.append(dt)
                totals.add(json.loads(body)["flamebearer"]["numTicks"])
            peak = rss.take()
            if bad:
                print(f"/render {label}: {bad} after {dt:.1f} s; peak RSS {peak / 1e6:.0f} MB")
                continue
            print(f"/render {label}: p50 {statistics.median(times) * 1000:.1f} ms "
                  f"(min {min(times) * 1000:.1f}), total {sorted(totals)} samples, "
                  f"peak RSS {peak / 1e6:.0f} MB")
            for method, req in [
                ("SelectMergeStacktraces", {
                    "profileTypeID": "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                    "labelSelector": '{service_name="month"}', "start": frm * 1000,
                    "end": until * 1000, "maxNodes": 16384}),
                ("SelectSeries", {
                    "profileTypeID": "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                    "labelSelector": '{service_name="month"}', "start": frm * 1000,
                    "end": until * 1000, "step": step}),
            ]:
                times, answer = [], None
                for _ in range(a.reads):
                    status, body, dt = request(
                        addr, "POST", f"/querier.v1.QuerierService/{method}",
                        body=json.dumps(req).encode(),
                        headers={"Content-Type": "application/json"}, timeout=a.timeout + 5)
                    if status != 200:
                        answer = f"{status} {body[:120]!r}"
                        break
                    times.append(dt)
                    v = json.loads(body)
                    if method == "SelectSeries":
                        pts = v["series"][0]["points"] if v.get("series") else []
                        answer = f"{len(pts)} points, sum {sum(p['value'] for p in pts):.3g} ns"
                    else:
                        answer = f"total {int(v['flamegraph']['total']):.3g} ns"
                peak = rss.take()
                if not times or len(times) < a.reads:
                    print(f"  {method} {label}: {answer}")
                    continue
                print(f"  {method} {label}: p50 {statistics.median(times) * 1000:.1f} ms, "
                      f"{answer}, peak RSS {peak / 1e6:.0f} MB")
    finally:
        rss.stop.set()
        p.terminate()
        p.wait()
    print(f"data dir kept at {d}")


if __name__ == "__main__":
    main()
