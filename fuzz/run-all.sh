#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) one after another, with its dictionary and
# corpus, and prints one line per target: executions, corpus size, result. A crash stops that
# target (libFuzzer writes the input to fuzz/artifacts/<target>/) and makes the script exit 1.
#
#   fuzz/run-all.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); runs with `-s none` on stable.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi
dict_of() {
  case "$1" in
    folded_parse|lines_parse) echo folded ;;
    jfr_*) echo jfr ;;
    labels_baggage) echo baggage ;;
    labels_*) echo labels ;;
    pprof_*) echo pprof ;;
    sampletype_*) echo sampletype ;;
    server_*) echo server ;;
    store_*) echo store ;;
    tree_*) echo tree ;;
  esac
}
cargo fuzz build -s none >/dev/null 2>&1 || { echo "cargo fuzz build failed"; exit 2; }
status=0
printf '%-20s %8s %14s %10s %s\n' target seconds executions corpus result
for t in "${targets[@]}"; do
  log=$(mktemp)
  mkdir -p "fuzz/corpus/$t"
  dict=$(dict_of "$t")
  args=(-max_total_time="$secs" -print_final_stats=1)
  [ -n "$dict" ] && args+=(-dict="fuzz/dict/$dict.dict")
  if cargo fuzz run -s none "$t" "fuzz/corpus/$t" -- "${args[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see fuzz/artifacts/$t/)"
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  corpus=$(ls "fuzz/corpus/$t" | wc -l)
  printf '%-20s %8s %14s %10s %s\n' "$t" "$secs" "${execs:-?}" "$corpus" "$result"
  [ "$result" = ok ] || tail -30 "$log"
  rm -f "$log"
done
exit $status
