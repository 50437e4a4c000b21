#!/usr/bin/env python3
"""Storage at scale against a release `ingest-server` (or the binary given): many series in one
tenant, a slot holding millions of stacks, and what each costs. Prints medians and p99s.

    python3 benches/load/storage.py [--series 100000] [--stacks 2000000] [--bin PATH]
"""
import argparse
import concurrent.futures as cf
import os
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
T = 1_609_459_200


def call(url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, headers=headers or {})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=300) as r:
        r.read()
        status = r.status
    return status, time.perf_counter() - t


def ms(xs):
    xs = sorted(xs)
    return f"median {statistics.median(xs) * 1000:.1f} ms, p99 {xs[min(len(xs) - 1, int(len(xs) * .99))] * 1000:.1f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=100_000)
    ap.add_argument("--stacks", type=int, default=2_000_000)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/ingest-server"))
    a = ap.parse_args()
    if a.bin.startswith(ROOT):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "pyro-ingest-server"],
                       cwd=ROOT, check=True)
    d = tempfile.mkdtemp(prefix="storage-load-")
    p = subprocess.Popen([a.bin, "serve", "--listen", "127.0.0.1:0", "--multi-tenant",
                          "--data-dir", d], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    addr = p.stdout.readline().decode().strip().removeprefix("listening on ")
    url = lambda path: f"http://{addr}{path}"
    big, small = {"X-Scope-OrgID": "big"}, {"X-Scope-OrgID": "small"}
    try:
        for i in range(10):
            call(url(f"/ingest?name=small.app{i}.cpu%7Benv%3De{i % 3}%7D&from={T}"), b"a;b 1\n", small)
        t = time.perf_counter()
        with cf.ThreadPoolExecutor(32) as ex:
            list(ex.map(lambda i: call(
                url(f"/ingest?name=app{i % 100}.cpu%7Bpod%3Dp{i}%2Czone%3Dz{i % 7}%7D&from={T}"),
                b"main;work 1\n", big), range(a.series)))
        dt = time.perf_counter() - t
        print(f"{a.series} series created in {dt:.1f} s ({a.series / dt:.0f} writes/s, 32 clients)")
        q = lambda params: "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in params.items())
        cases = {
            "/labels (big tenant)": ("/labels", big),
            "/label-values?label=pod (big tenant, 100k values)": ("/label-values?label=pod", big),
            "/label-values?label=__name__ (big tenant)": ("/label-values?label=__name__", big),
            "/labels (small tenant)": ("/labels", small),
            "/label-values?label=__name__ (small tenant)": ("/label-values?label=__name__", small),
            "/render one series (big tenant)": ("/render?" + q({"query": 'app7.cpu{pod="p7"}',
                "from": str(T - 10), "until": str(T + 20), "format": "json"}), big),
            "/render one series (small tenant)": ("/render?" + q({"query": "small.app1.cpu",
                "from": str(T - 10), "until": str(T + 20), "format": "json"}), small),
        }
        for name, (path, h) in cases.items():
            times = [call(url(path), None, h)[1] for _ in range(20)]
            print(f"{name:52} {ms(times)}")
        # One slot with millions of distinct stacks, then tiny writes into it.
        # Requests of at most 500k distinct stacks (the per-request limit is 1M), one slot.
        t, size = time.perf_counter(), 0
        for lo in range(0, a.stacks, 500_000):
            body = b"".join(b"main;m%d;f%d;leaf %d\n" % (i % 1000, i, i % 7 + 1)
                            for i in range(lo, min(a.stacks, lo + 500_000)))
            size += len(body)
            status, _ = call(url(f"/ingest?name=huge.cpu&from={T}"), body, big)
        print(f"slot of {a.stacks} stacks ({size >> 20} MiB) written in "
              f"{time.perf_counter() - t:.1f} s (status {status})")
        tiny, others = [], []
        def other_writes():
            for i in range(200):
                others.append(call(url(f"/ingest?name=other{i % 10}.cpu&from={T}"), b"x;y 1\n",
                                   small)[1])
        with cf.ThreadPoolExecutor(2) as ex:
            f = ex.submit(other_writes)
            for i in range(40):
                tiny.append(call(url(f"/ingest?name=huge.cpu&from={T}"), b"main;x 1\n", big)[1])
            f.result()
        print(f"{'10-byte write into the 2M-stack slot':52} {ms(tiny)}")
        print(f"{'small writes of another tenant meanwhile':52} {ms(others)}")
        time.sleep(2)
        times = [call(url("/render?" + q({"query": "huge.cpu", "from": str(T - 10),
                 "until": str(T + 20), "format": "collapsed"})), None, big)[1] for _ in range(3)]
        print(f"{'/render of the 2M-stack slot':52} {ms(times)}")
        with open(f"/proc/{p.pid}/status") as fh:
            rss = [l for l in fh if l.startswith(("VmHWM", "VmRSS"))]
        print("server " + ", ".join(l.split(":")[0] + " " + l.split()[1] + " kB" for l in rss))
        print(f"database {os.path.getsize(os.path.join(d, 'pyro.redb')) >> 20} MiB")
    finally:
        p.kill()
        p.wait()


if __name__ == "__main__":
    main()
