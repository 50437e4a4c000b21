#!/usr/bin/env bash
# Full disk, then space again: the server answers 500 while the disk is full, reopens the
# database once a commit fails, and accepts writes again once space is back; every write it
# acknowledged is still there. Needs root (mounts a 4 MiB tmpfs). Prints each phase's counts.
set -uo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p pyro-ingest-server
mnt=$(mktemp -d)
logs=$(mktemp -d)
mount -t tmpfs -o size=4m tmpfs "$mnt"
trap 'kill $pid 2>/dev/null || true; sleep 0.5; umount "$mnt"; rmdir "$mnt"; rm -rf "$logs"' EXIT
./target/release/ingest-server serve --listen 127.0.0.1:0 --data-dir "$mnt/data" \
    >"$logs/out" 2>"$logs/log" &
pid=$!
sleep 1
addr=$(head -1 "$logs/out" | sed 's/listening on //')
# Fill the disk but for a little room.
avail=$(df -k --output=avail "$mnt" | tail -1)
dd if=/dev/zero of="$mnt/filler" bs=64k count=$(( (avail - 700) / 64 )) 2>/dev/null || true
ok=0; failed=0; i=0
body=$(for f in $(seq 1 200); do echo "main;fn$f;leaf$RANDOM $f"; done)
while [ $failed -lt 5 ] && [ $i -lt 2000 ]; do
    i=$((i+1))
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
        "http://$addr/ingest?name=full$i.cpu&from=1609459200" --data-binary "$body")
    if [ "$code" = 200 ]; then ok=$((ok+1)); else failed=$((failed+1)); fi
done
echo "disk full: $ok acknowledged, then $failed failures (last status $code)"
rm -f "$mnt/filler"
after=0
for j in 1 2 3 4 5; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
        "http://$addr/ingest?name=after$j.cpu&from=1609459200" --data-binary "a;b 1")
    [ "$code" = 200 ] && after=$((after+1))
done
echo "space back: $after of 5 writes acknowledged"
kill -0 $pid && echo "server still running"
found=$(curl -s "http://$addr/label-values?label=__name__" | tr ',' '\n' | grep -c 'full' || true)
echo "acknowledged series readable: $found of $ok"
grep -E "reopen|commit failed|exiting|panicked" "$logs/log" | head -5
[ "$after" = 5 ] && [ "$found" = "$ok" ]
