#!/usr/bin/env bash
# Small folded uploads against one or more ingest-server binaries, interleaved round by round (the
# disk of a small VM moves throughput ±25 % from minute to minute, so compare within a round):
# requests/s, p50, p99 (wrk -t2 -c64 with ingest.lua) and the server's CPU per acknowledged
# request, from /proc.
#
#   benches/load/ab.sh ROUNDS SECONDS APPS BIN [BIN...]
#   benches/load/ab.sh 5 8 200 /tmp/ingest-before target/release/ingest-server
#
# APPS is the number of series (200: run.sh's pattern; 20000: one write per series per slot, as
# agents do). Needs wrk.
set -euo pipefail
rounds=$1 secs=$2 apps=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)"; exit 2; }
for r in $(seq 1 "$rounds"); do
  for bin in "$@"; do
    dir=$(mktemp -d)
    "$bin" serve --listen 127.0.0.1:4098 --data-dir "$dir" >/dev/null 2>"$dir/log" &
    pid=$!
    sleep 1
    out=$(PYRO_LOAD_APPS=$apps wrk -t2 -c64 -d"${secs}s" -s "$here/ingest.lua" http://127.0.0.1:4098 | tail -1)
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    acked=$(grep -c 'status=200' "$dir/log" || true)
    echo "round $r $bin: $out  cpu_us_per_request $((ticks * 1000000 / $(getconf CLK_TCK) / (acked > 0 ? acked : 1)))"
    rm -rf "$dir"
  done
done
