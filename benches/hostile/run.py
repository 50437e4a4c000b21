#!/usr/bin/env python3
"""Heavy hostile cases against a release `ingest-server`, one at a time and then 16 at once while
good requests keep flowing. Prints each case's status, wall time, server CPU time and the
server's peak RSS during it (VmHWM, reset before each case).

    python3 benches/hostile/run.py            # builds with cargo, then runs every case
    python3 benches/hostile/run.py --bin PATH # runs every case against another binary
"""
import concurrent.futures as cf
import gzip
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target/release/ingest-server")


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def vfield(num, v):
    return varint(num << 3) + varint(v)


def tree_node(name, value, children):
    return varint(len(name)) + name + varint(value) + varint(children)


def semicolon_tree(total=70_000):
    """A `tree` body whose node names expand into many frames: a 990-frame path, then leaves."""
    path = ("a;" * 990).rstrip(";").encode()
    leaves = (total - len(path)) // 4
    body = tree_node(b"", 0, 1) + tree_node(path, 0, leaves)
    for i in range(leaves):
        body += tree_node(b"%x" % (i % 4096), 1, 0)
    return body


def expanding_pprof():
    """~52 KB pprof: one location with 8,000 inline lines under thousands of distinct parents."""
    strings = [b"", b"samples", b"count"] + [b"f%d" % i for i in range(3000)]
    out = field(1, vfield(1, 1) + vfield(2, 2))  # sample_type samples/count
    big_lines = b"".join(field(4, vfield(1, 1 + (i % 3000))) for i in range(8000))
    locs = field(4, vfield(1, 1) + big_lines)
    for i in range(2, 3002):
        locs += field(4, vfield(1, i) + field(4, vfield(1, i - 1)))
    funcs = b"".join(field(5, vfield(1, i) + vfield(2, i + 2)) for i in range(1, 3001))
    samples = b""
    for i in range(2, 3002):
        # leaf first: the big location under location i
        samples += field(2, field(1, varint(1) + varint(i)) + vfield(2, 1))
    return out + samples + locs + funcs + b"".join(field(6, s) for s in strings)


def gzip_bomb(size=1 << 30):
    return gzip.compress(b"\0" * size, 9)


class Server:
    def __init__(self, extra=()):
        self.dir = tempfile.mkdtemp(prefix="hostile-")
        self.p = subprocess.Popen(
            [BIN, "serve", "--listen",
             "127.0.0.1:0", "--data-dir", self.dir, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.p.stdout.readline().decode()
        self.addr = line.strip().removeprefix("listening on ")

    def url(self, path):
        return f"http://{self.addr}{path}"

    def status(self, key):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
        return 0

    def cpu(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")

    def reset_peak(self):
        with open(f"/proc/{self.p.pid}/clear_refs", "w") as f:
            f.write("5")

    def close(self):
        self.p.kill()
        self.p.wait()


def request(url, body=None, headers=None, method=None):
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()[:200]
    except urllib.error.HTTPError as e:
        return e.code, e.read()[:200]
    except Exception as e:  # noqa: BLE001 - report anything
        return 0, str(e).encode()


T0 = "from=1609459200&until=1609459210"


def querier(s, method, json_body, gz=True):
    body = json_body.encode()
    headers = {"Content-Type": "application/json"}
    if gz:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return request(s.url(f"/querier.v1.QuerierService/{method}"), body, headers)


def labelled_pprof(sets=10_000, labels=30, value_len=2048):
    """A pprof of `sets` label sets of `labels` labels with long distinct values, one sample
    each (the label-amplification reproducer: 677 KB gzipped at the defaults)."""
    strings = [b"", b"samples", b"count", b"main"] + [b"k%d" % k for k in range(labels)]
    samples = b""
    for i in range(sets):
        lab = b""
        for k in range(labels):
            v = (b"%d-%d-" % (i, k)).ljust(value_len, b"v")
            strings.append(v)
            lab += field(3, vfield(1, 4 + k) + vfield(2, len(strings) - 1))
        samples += field(2, field(1, varint(1)) + field(2, varint(1)) + lab)
    out = field(1, vfield(1, 1) + vfield(2, 2)) + samples
    out += field(4, vfield(1, 1) + field(4, vfield(1, 1)))
    out += field(5, vfield(1, 1) + vfield(2, 3))
    out += b"".join(field(6, x) for x in strings)
    return gzip.compress(out)


def span_pprof(spans=50_000, depth=200):
    """A gzipped pprof of one `depth`-frame stack sampled once in each of `spans` spans (every
    sample its own `span_id`): a tiny series, a span tree per span."""
    strings = [b"", b"cpu", b"nanoseconds", b"span_id"] + [b"f%d" % i for i in range(depth)]
    locs = b"".join(field(4, vfield(1, i + 1) + field(4, vfield(1, i + 1)))
                    for i in range(depth))
    funcs = b"".join(field(5, vfield(1, i + 1) + vfield(2, 4 + i)) for i in range(depth))
    stack = field(1, b"".join(varint(depth - i) for i in range(depth)))
    base = len(strings)
    samples = []
    for k in range(spans):
        strings.append(b"%016x" % (k + 1))
        label = field(3, vfield(1, 3) + vfield(2, base + k))
        samples.append(field(2, stack + field(2, varint(10_000_000)) + label))
    out = field(1, vfield(1, 1) + vfield(2, 2)) + b"".join(samples) + locs + funcs
    out += b"".join(field(6, x) for x in strings)
    return gzip.compress(out)


def push_with_id(sample_id):
    """A push.v1 request of one series (service `p`) with one tiny pprof and `sample_id`."""
    pprof = field(1, vfield(1, 1) + vfield(2, 2)) + field(6, b"") + field(6, b"samples") \
        + field(6, b"count")
    labels = field(1, field(1, b"service_name") + field(2, b"p"))
    sample = field(2, field(1, pprof) + field(2, sample_id))
    return field(1, labels + sample)


def trickle(s, n=16, announced=64 << 20):
    """Opens `n` connections announcing `announced`-byte bodies and sends 4 bytes on each."""
    import socket
    host, port = s.addr.rsplit(":", 1)
    conns = []
    for _ in range(n):
        c = socket.create_connection((host, int(port)))
        c.sendall(f"POST /ingest?name=slow.cpu&{T0} HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Length: {announced}\r\n\r\na 1\n".encode())
        conns.append(c)
    return conns


def during_trickle(s):
    conns = trickle(s)
    try:
        time.sleep(0.3)
        return request(s.url(f"/ingest?name=good.cpu&{T0}"), b"a;b 1\n")
    finally:
        for c in conns:
            c.close()


def cases(s):
    regex = ",".join(f"k{i}%3D~%22(a%7Cb)*c%22" for i in range(1000))
    sel16 = "{" + ",".join(f'k{i}=~\\".*a.*b.*\\"' for i in range(16)) + "}"
    selectors = ",".join([f'"{sel16}"'] * 100)
    empty = ",".join(['""'] * 10_000_000)
    return [
        ("tree: names with ';' (70 KB)",
         lambda: request(s.url(f"/ingest?name=h.cpu&format=tree&{T0}"), semicolon_tree())),
        ("pprof: 52 KB expanding to millions of nodes",
         lambda: request(s.url(f"/ingest?name=h.cpu&format=pprof&{T0}"), expanding_pprof())),
        ("gzip bomb: Content-Encoding, 1 GiB of zeros",
         lambda: request(s.url(f"/ingest?name=h.cpu&{T0}"), BOMB,
                         {"Content-Encoding": "gzip"})),
        ("gzip bomb: gzipped pprof body",
         lambda: request(s.url(f"/ingest?name=h.cpu&format=pprof&{T0}"), BOMB)),
        ("query: 1,000 regex matchers",
         lambda: request(s.url(f"/render?query=h.cpu%7B{regex}%7D&{T0}&format=json"))),
        ("time: until=99999999999999999999",
         lambda: request(s.url("/render?query=h.cpu&from=0&until=99999999999999999999&format=json"))),
        ("folded: 60 MB of distinct stacks",
         lambda: request(s.url(f"/ingest?name=big.cpu&{T0}"), BIG_FOLDED)),
        ("querier: 100 selectors x 16 regexes (gzip)",
         lambda: querier(s, "LabelNames", '{"matchers":[' + selectors + ']}')),
        ("querier: 10 M empty selectors (gzip)",
         lambda: querier(s, "LabelNames", '{"matchers":[' + empty + ']}')),
        ("querier: i64 bounds, step 1",
         lambda: querier(s, "SelectSeries", '{"profileTypeID":"process_cpu:cpu:nanoseconds:'
                         'cpu:nanoseconds","labelSelector":"{}","start":"-9223372036854775808",'
                         '"end":"9223372036854775807","step":1}', gz=False)),
        ("pprof: 10k label sets x 30 x 2 KB values",
         lambda: request(s.url(f"/ingest?name=amp&format=pprof&{T0}"), LABELLED)),
        ("render: 60 MB folded series, pprof out",
         lambda: request(s.url(f"/render?query=big.cpu&{T0}&format=pprof"))),
        ("ingest while 16 clients trickle 64 MiB bodies",
         lambda: during_trickle(s)),
        ("pprof: 50k span ids on one 200-frame stack (spans dropped)",
         lambda: request(s.url(f"/ingest?name=spans&format=pprof&{T0}"), SPANS)),
        ("push: a 1 MiB sample ID",
         lambda: request(s.url("/push.v1.PusherService/Push"), push_with_id(b"x" * (1 << 20)),
                         {"Content-Type": "application/proto"})),
    ]


def main():
    global BIN, BOMB, BIG_FOLDED, LABELLED, SPANS
    if "--bin" in sys.argv:
        BIN = os.path.abspath(sys.argv[sys.argv.index("--bin") + 1])
    else:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "pyro-ingest-server"],
                       cwd=ROOT, check=True)
    BOMB = gzip_bomb()
    LABELLED = labelled_pprof()
    SPANS = span_pprof()
    BIG_FOLDED = b"".join(b"main;mod%d;fn%d;leaf%d %d\n" % (i % 97, i, i * 7, i)
                          for i in range(1_500_000))
    s = Server()
    try:
        print(f"{'case':48} {'status':>6} {'wall s':>7} {'cpu s':>6} {'peak RSS MB':>12}")
        for name, run in cases(s):
            s.reset_peak()
            cpu0, t0 = s.cpu(), time.time()
            status, body = run()
            wall, cpu = time.time() - t0, s.cpu() - cpu0
            print(f"{name:48} {status:>6} {wall:7.2f} {cpu:6.2f} {s.status('VmHWM') / 1024:12.0f}"
                  f"   {body[:70]!r}")
        # 16 worst cases at once while good requests flow.
        s.reset_peak()
        heavy = [c for _, c in cases(s)][:4] * 4
        lat = []
        with cf.ThreadPoolExecutor(20) as ex:
            futs = [ex.submit(c) for c in heavy]
            while not all(f.done() for f in futs):
                t = time.time()
                request(s.url(f"/ingest?name=good.cpu&{T0}"), b"a;b 1\n")
                lat.append(time.time() - t)
            statuses = sorted(f.result()[0] for f in futs)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0
        print(f"16 concurrent worst cases: statuses {statuses}, peak RSS "
              f"{s.status('VmHWM') / 1024:.0f} MB; {len(lat)} good requests meanwhile, "
              f"p99 {p99 * 1000:.0f} ms")
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
