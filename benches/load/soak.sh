#!/usr/bin/env bash
# Mixed soak: wrk uploads (agent-like, 20k series) plus /render, /labels and push-free reads for
# SECONDS (default 600); prints the server's RSS every 30 s. Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-600}
cargo build --release -q -p pyro-ingest-server
dir=$(mktemp -d)
./target/release/ingest-server serve --listen 127.0.0.1:4095 --data-dir "$dir" --retention 5m >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 1
PYRO_LOAD_APPS=20000 wrk -t1 -c16 -d"${secs}s" -s benches/load/ingest.lua http://127.0.0.1:4095 >/tmp/soak-wrk.txt &
end=$(( $(date +%s) + secs ))
while [ "$(date +%s)" -lt "$end" ]; do
  for i in $(seq 1 30); do
    curl -s -o /dev/null "http://127.0.0.1:4095/render?query=load.app$((RANDOM % 20000)).cpu&from=now-1h&until=now&format=json"
    curl -s -o /dev/null "http://127.0.0.1:4095/label-values?label=__name__"
    sleep 1
  done
  echo "t=$(( secs - (end - $(date +%s)) ))s $(grep VmRSS /proc/$pid/status | tr -s ' ')"
done
wait
tail -1 /tmp/soak-wrk.txt
