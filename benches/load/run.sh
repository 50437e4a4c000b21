#!/usr/bin/env bash
# Load benchmark for `ingest-server serve`: small folded uploads from 200 apps with wrk, then a
# check that every acknowledged write is stored, and the server's peak RSS; then gzipped pprof
# uploads (OG's Go CPU vector from ../shared, when present).
# Needs wrk (Debian: apt-get install wrk). Usage: benches/load/run.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-15}
conns=${2:-64}
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)"; exit 2; }
cargo build --release -q -p pyro-ingest-server
dir=$(mktemp -d)
port=4099
./target/release/ingest-server serve --listen 127.0.0.1:$port --data-dir "$dir" >/dev/null 2>"$dir/log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 1
start=$(date +%s)
wrk -t2 -c"$conns" -d"${secs}s" -s benches/load/ingest.lua "http://127.0.0.1:$port" | tail -1
acked=$(grep -c 'status=200' "$dir/log" || true)
python3 - "$port" "$start" "$acked" <<'PY'
import sys, urllib.request
port, start, acked = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
total = 0
for a in range(200):
    url = f"http://127.0.0.1:{port}/render?query=load.app{a}.cpu&from={start-60}&until={start+3600}&format=collapsed"
    for line in urllib.request.urlopen(url).read().decode().splitlines():
        total += int(line.rsplit(" ", 1)[1])
stored = total // 630
print(f"acknowledged {acked}, stored {stored}")
sys.exit(0 if stored >= acked else 1)
PY
grep VmHWM /proc/$pid/status
pprof=../shared/testdata/public/pyroscope-v0.37.2/pkg/convert/pprof/testdata/cpu.pb.gz
if [ -f "$pprof" ]; then
  echo "pprof uploads ($pprof):"
  PYRO_LOAD_PPROF=$pprof wrk -t2 -c"$conns" -d"${secs}s" -s benches/load/ingest-pprof.lua "http://127.0.0.1:$port" | tail -1
  grep -c 'status=200' "$dir/log" | xargs echo "acknowledged in total:"
  echo "non-200 responses: $(grep -v 'status=200' "$dir/log" | grep -c 'status=' || true)"
  grep VmHWM /proc/$pid/status
fi
