#!/usr/bin/env python3
"""Forwarding figures: a gateway `ingest-server --forward-to` a store on loopback.

1. p99 of small folded ingests at a steady rate: without forwarding, with forwarding to a store
   on the same machine, and with the store down (the gateway's own cost: encode and queue);
2. a backlog built while the store is down, then drained: MB/s;
3. the gateway's RSS with an empty queue and with the backlog (independent of its size).

    python3 benches/load/forward.py [--rate 1000] [--seconds 10] [--backlog-mb 200]
"""
import argparse
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target/release/ingest-server")
T = 1_609_459_200


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(args):
    d = tempfile.mkdtemp(prefix="fwd-")
    p = subprocess.Popen([BIN, "serve", "--data-dir", d, *args], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    addr = p.stdout.readline().decode().strip().removeprefix("listening on ")
    return p, addr, d


def rss(p):
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def cpu(p):
    """CPU seconds (user + system) the process has used."""
    with open(f"/proc/{p.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(addr, name, body):
    req = urllib.request.Request(f"http://{addr}/ingest?name={name}&from={T}", data=body)
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
    return time.perf_counter() - t


def steady(addr, rate, seconds, body):
    lat, stop = [], time.time() + seconds
    lock = threading.Lock()

    def worker(i):
        n = 0
        while time.time() < stop:
            t0 = time.time()
            d = post(addr, f"app{i}.cpu", body)
            with lock:
                lat.append(d)
            n += 1
            time.sleep(max(0, 16 / rate - (time.time() - t0)))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    return len(lat) / seconds, lat[len(lat) // 2] * 1000, lat[int(len(lat) * .99)] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--backlog-mb", type=int, default=200)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "pyro-ingest-server"], cwd=ROOT,
                   check=True)
    body = b"".join(b"main;http;handler%d;db;read %d\n" % (i, i) for i in range(20))
    plain, paddr, _ = start(["--listen", "127.0.0.1:0"])
    r, p50, p99 = steady(paddr, a.rate, a.seconds, body)
    print(f"without forwarding: {r:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    plain.kill()
    port = free_port()
    store, saddr, _ = start(["--listen", f"127.0.0.1:{port}"])
    gw, gaddr, gdir = start(["--listen", "127.0.0.1:0", "--forward-to", f"http://127.0.0.1:{port}"])
    r, p50, p99 = steady(gaddr, a.rate, a.seconds, body)
    print(f"with forwarding:    {r:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    store.kill()
    store.wait()
    r, p50, p99 = steady(gaddr, a.rate, a.seconds, body)
    print(f"with forwarding, upstream down (queue only): {r:.0f} req/s, p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms")
    idle_rss = rss(gw)
    big = b"".join(b"main;m%d;f%d;leaf %d\n" % (i % 97, i, i % 7 + 1) for i in range(40_000))
    queued, t0 = 0, time.time()
    while queued < a.backlog_mb << 20:
        post(gaddr, f"bulk{queued % 50}.cpu", big)
        queued += len(big)
    qfile = os.path.join(gdir, "pyro.redb")

    def queue_bytes():
        m = urllib.request.urlopen(f"http://{gaddr}/metrics").read().decode()
        line = [l for l in m.splitlines() if l.startswith("pyro_forward_queue_bytes{")]
        return int(line[0].rsplit(" ", 1)[1]) if line else 0

    encoded = queue_bytes()
    print(f"backlog: {queued >> 20} MiB of requests queued in {time.time() - t0:.1f} s, "
          f"database file (queue and local store) {os.path.getsize(qfile) >> 20} MiB; gateway RSS {idle_rss} MiB before, "
          f"{rss(gw)} MiB with the backlog")
    store, saddr, _ = start(["--listen", f"127.0.0.1:{port}"])
    t0, gw_cpu = time.time(), cpu(gw)
    first = None
    while True:
        left = queue_bytes()
        if left == 0:
            break
        if first is None and left < encoded:
            # Delivery resumed (the gateway retries on its backoff, up to 30 s after an outage).
            first = (time.time(), left)
        time.sleep(0.05)
    end = time.time()
    dt = end - t0
    print(f"drained {encoded >> 20} MiB of queued push bodies ({queued >> 20} MiB of requests) "
          f"in {dt:.1f} s from the store's start: {encoded / dt / (1 << 20):.1f} MiB/s; CPU: "
          f"gateway {cpu(gw) - gw_cpu:.1f} s, store {cpu(store):.1f} s")
    if first:
        t1, left = first
        print(f"delivery resumed {t1 - t0:.1f} s after the store started (retry backoff); from "
              f"then {left >> 20} MiB in {end - t1:.1f} s: {left / (end - t1) / (1 << 20):.1f} MiB/s")
    gw.kill()
    store.kill()


if __name__ == "__main__":
    main()
