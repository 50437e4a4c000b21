#!/usr/bin/env python3
"""`kill -9` under load, five times in a row: 16 clients write small folded profiles (each
value a unique count), the server is killed with SIGKILL mid-stream and restarted on the same
data dir; every write that was answered 200 must be there. Prints one line per round.

    python3 benches/load/kill9.py [--rounds 5] [--bin PATH]
"""
import argparse
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
T = 1_609_459_200


def start(binary, d):
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", d],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return p, p.stdout.readline().decode().strip().removeprefix("listening on ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/ingest-server"))
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "pyro-ingest-server"], cwd=ROOT,
                   check=True)
    d = tempfile.mkdtemp(prefix="kill9-")
    acked = {}  # client -> total acknowledged value
    ok = True
    for r in range(a.rounds):
        p, addr = start(a.bin, d)
        stop = threading.Event()

        def client(c):
            n = 0
            while not stop.is_set():
                n += 1
                body = f"round{r};client{c} 1\n".encode()
                try:
                    req = urllib.request.Request(
                        f"http://{addr}/ingest?name=k.c{c}.cpu&from={T}", data=body)
                    with urllib.request.urlopen(req, timeout=5) as resp:
                        if resp.status == 200:
                            acked[c] = acked.get(c, 0) + 1
                except Exception:
                    return

        threads = [threading.Thread(target=client, args=(c,)) for c in range(16)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        p.send_signal(signal.SIGKILL)
        p.wait()
        stop.set()
        for t in threads:
            t.join()
        p, addr = start(a.bin, d)
        stored = {}
        for c in range(16):
            url = (f"http://{addr}/render?query=k.c{c}.cpu&from={T - 10}&until={T + 20}"
                   "&format=collapsed")
            text = urllib.request.urlopen(url).read().decode()
            stored[c] = sum(int(l.rsplit(" ", 1)[1]) for l in text.splitlines())
        lost = sum(max(0, acked.get(c, 0) - stored[c]) for c in range(16))
        print(f"round {r + 1}: acknowledged {sum(acked.values())}, stored {sum(stored.values())},"
              f" lost {lost}")
        ok &= lost == 0
        p.kill()
        p.wait()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
