#!/usr/bin/env bash
# Whole-process figures: `ingest-server convert` against the peers a user would pick, on the same
# files, as CPU time (user + system, median of N runs), MB/s of input and peak RSS.
#
#   benches/whole/run.sh [RUNS]
#
# Peers, each used when present (nothing is fetched):
#   pprof   a Go program on google/pprof's `profile` package, copied from Go's own source tree
#           (Debian: apt-get install golang-go golang-src)
#   jfr     grafana/jfr-parser's parser driven as its ParseJFR does (benches/whole/jfr_peer.go),
#           when JFR_PARSER_DIR names a checkout of it; the JDK's
#           `jfr print --events jdk.ExecutionSample` (it prints every sample's stack)
#   folded  the naive HashMap reader (benches/examples/fold.rs) and `inferno-flamegraph`
#           (cargo install inferno), which also draws an SVG
# Inputs: the public vectors under ../shared/testdata/public, the jfr-parser collapsed stacks as
# one 93 MB folded file, and a 100 MB many-distinct synthetic (benches/examples/fold.rs gen).
set -uo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
shared=../shared/testdata/public
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p pyro-ingest-server --bin ingest-server || exit 2
cargo build --release -q -p pyro-benches --example fold || exit 2
server=target/release/ingest-server
fold=target/release/examples/fold

# median CPU seconds (user+sys) and median peak RSS (MB) of $runs runs of "$@", stdout dropped
measure() {
  local out
  out=$(for _ in $(seq "$runs"); do
    /usr/bin/time -f "%U %S %M" "$@" 2>&1 >/dev/null | tail -1
  done)
  median() { sort -n | awk '{a[NR]=$1} END { print a[int((NR+1)/2)] }'; }
  echo "$(awk '{ printf "%.3f\n", $1 + $2 }' <<<"$out" | median) $(awk '{ printf "%.0f\n", $3 / 1024 }' <<<"$out" | median)"
}

row() { # label input-bytes cpu rss
  local mbs
  mbs=$(awk -v b="$2" -v c="$3" 'BEGIN { printf "%.0f", (c > 0 ? b / c / 1e6 : 0) }')
  printf '  %-34s %8.3f s CPU %7s MB/s %6s MB peak RSS\n' "$1" "$3" "$mbs" "$4"
}

compare() { # title input-bytes ours-cmd... -- peer-label peer-cmd... [-- label cmd...]
  local title=$1 bytes=$2; shift 2
  echo "$title ($(awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }'))"
  local ours=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do ours+=("$1"); shift; done
  read -r ocpu orss < <(measure "${ours[@]}")
  row "ingest-server convert" "$bytes" "$ocpu" "$orss"
  while [ $# -gt 0 ]; do
    shift # --
    local label=$1 cmd=(); shift
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do cmd+=("$1"); shift; done
    if ! "${cmd[@]}" >/dev/null 2>"$work/err"; then
      printf '  %-34s fails on this input: %s\n' "$label" "$(head -c 200 "$work/err" | head -1)"
      continue
    fi
    read -r pcpu prss < <(measure "${cmd[@]}")
    row "$label" "$bytes" "$pcpu" "$prss"
    printf '  %-34s -> ingest-server is %s as fast (peer CPU / our CPU)\n' "" \
      "$(awk -v p="$pcpu" -v o="$ocpu" 'BEGIN { printf "%.2fx", (o > 0 ? p / o : 0) }')"
  done
}

size() { stat -c %s "$1"; }

echo "# whole-process CPU time, median of $runs runs ($(nproc) CPUs; $(date -u +%F))"

# pprof
gopeer=""
goroot=$(go env GOROOT 2>/dev/null || true)
if [ -n "$goroot" ] && [ -d "$goroot/src/cmd/vendor/github.com/google/pprof/profile" ]; then
  mkdir -p "$work/gopeer/profile"
  cp "$goroot"/src/cmd/vendor/github.com/google/pprof/profile/*.go "$work/gopeer/profile/"
  rm -f "$work"/gopeer/profile/*_test.go
  cp benches/whole/pprof_peer.go "$work/gopeer/main.go"
  printf 'module gopeer\n\ngo 1.19\n' > "$work/gopeer/go.mod"
  (cd "$work/gopeer" && GOFLAGS=-mod=mod GOPROXY=off go build -o pprof-peer .) && gopeer="$work/gopeer/pprof-peer"
fi
for f in pyroscope-v0.37.2/pkg/convert/testdata/cpu-big.pprof \
         pyroscope-v0.37.2/pkg/convert/pprof/testdata/heap.pb \
         pyroscope-main/pkg/og/convert/pprof/testdata/dotnet-pprof-3.pb.gz; do
  [ -f "$shared/$f" ] || continue
  # Small files: 200 copies per process (a loop in both tools would hide start-up; copies do not).
  list=()
  for i in $(seq 200); do list+=("$shared/$f"); done
  bytes=$(( $(size "$shared/$f") * 200 ))
  if [ -n "$gopeer" ]; then
    compare "pprof $(basename "$f") x200" "$bytes" \
      bash -c 'for x in "$@"; do "'"$server"'" convert --format pprof "$x"; done' _ "${list[@]}" \
      -- "go pprof/profile (x200)" "$gopeer" "${list[@]}"
  else
    compare "pprof $(basename "$f") x200 (no Go peer: apt-get install golang-go golang-src)" "$bytes" \
      bash -c 'for x in "$@"; do "'"$server"'" convert --format pprof "$x"; done' _ "${list[@]}"
  fi
done

# JFR peer: grafana/jfr-parser's `parser` package driven as its ParseJFR drives it
# (benches/whole/jfr_peer.go), built when JFR_PARSER_DIR names a checkout of
# github.com/grafana/jfr-parser and Go is present. Offline and on Go 1.19: its one x/text use
# (an ISO-8859-1 decoder) and Go 1.21's `max` come from jfr_peer_compat/.
jfrpeer=""
if [ -n "${JFR_PARSER_DIR:-}" ] && [ -d "$JFR_PARSER_DIR/parser" ] && command -v go >/dev/null; then
  mkdir -p "$work/jfrpeer"
  (cd "$JFR_PARSER_DIR" && find parser -name '*.go' ! -name '*_test.go' -exec cp --parents {} "$work/jfrpeer" \;)
  cp -r benches/whole/jfr_peer_compat/xtext "$work/jfrpeer/xtext"
  if ! go version | grep -qE 'go1\.(2[1-9]|[3-9][0-9])'; then
    cp benches/whole/jfr_peer_compat/types_compat.go.txt "$work/jfrpeer/parser/types/compat.go"
  fi
  cp benches/whole/jfr_peer.go "$work/jfrpeer/main.go"
  printf 'module github.com/grafana/jfr-parser\n\ngo 1.19\n\nrequire golang.org/x/text v0.0.0\n\nreplace golang.org/x/text => ./xtext\n' > "$work/jfrpeer/go.mod"
  (cd "$work/jfrpeer" && GOFLAGS=-mod=mod GOPROXY=off go build -o jfr-peer .) && jfrpeer="$work/jfrpeer/jfr-peer"
fi

# JFR. Ours prints a line per series (`--output summary`), as the jfr-parser peer prints one
# summary line: the folded text of every series (134 MB for the GoLand recording) is output work
# the peer does not do.
for f in jfr-parser/goland-multichunk.jfr.gz jfr-parser/async-profiler.jfr.gz; do
  [ -f "$shared/$f" ] || continue
  raw="$work/$(basename "$f" .gz)"
  gzip -dc "$shared/$f" > "$raw"
  # 10 runs per measurement, so the figure is well above the timer's 10 ms resolution.
  loop='for i in 1 2 3 4 5 6 7 8 9 10; do "$@"; done'
  bytes=$(( $(size "$raw") * 10 ))
  peers=()
  if [ -n "$jfrpeer" ]; then
    peers+=(-- "grafana/jfr-parser (Go)" bash -c "$loop" _ "$jfrpeer" "$raw")
  fi
  if command -v jfr >/dev/null; then
    peers+=(-- "jdk jfr print (ExecutionSample)" bash -c "$loop" _ jfr print --events jdk.ExecutionSample "$raw")
  fi
  if [ ${#peers[@]} -gt 0 ]; then
    compare "jfr $(basename "$raw") x10" "$bytes" bash -c "$loop" _ "$server" convert --format jfr --output summary "$raw" "${peers[@]}"
  else
    compare "jfr $(basename "$raw") x10" "$bytes" bash -c "$loop" _ "$server" convert --format jfr --output summary "$raw"
  fi
done

# JFR, one 98 MB file of 30 copies of async-profiler's recording (30 chunks).
if [ -f "$shared/jfr-parser/async-profiler.jfr.gz" ]; then
  one="$work/async-profiler.jfr"
  gzip -dc "$shared/jfr-parser/async-profiler.jfr.gz" > "$one"
  for i in $(seq 30); do cat "$one"; done > "$work/async-profiler-x30.jfr"
  peers=()
  [ -n "$jfrpeer" ] && peers+=(-- "grafana/jfr-parser (Go)" "$jfrpeer" "$work/async-profiler-x30.jfr")
  compare "jfr async-profiler.jfr x30 in one file" "$(size "$work/async-profiler-x30.jfr")" \
    "$server" convert --format jfr --output summary "$work/async-profiler-x30.jfr" "${peers[@]}"
fi

# folded
"$fold" gen many-distinct 100000000 "$work/many.txt"
if "$fold" gen java-collapsed 100000000 "$work/java.txt" 2>/dev/null; then inputs="java many"; else inputs="many"; fi
for i in $inputs; do
  file="$work/$i.txt"
  peers=(-- "naive HashMap reader" "$fold" naive "$file")
  if command -v inferno-flamegraph >/dev/null; then
    peers+=(-- "inferno-flamegraph (draws SVG)" inferno-flamegraph "$file")
  fi
  # Ours prints a line per series (`--output summary`), as the naive reader prints a count: the
  # 21 MB of folded text `convert` would print for the many-distinct input is output work the
  # naive reader does not do (inferno, which draws an SVG, does more).
  compare "folded $i" "$(size "$file")" "$server" convert --format folded --output summary "$file" "${peers[@]}"
  read -r rcpu rrss < <(measure "$fold" pyro "$file")
  row "read only (no output)" "$(size "$file")" "$rcpu" "$rrss"
done
