#!/usr/bin/env bash
# Runs the scale benchmarks (test/bench/scale, issue 13) and prints one table: figure | value
# measured by the given binaries | goal | the command that reproduces the row.
#   scripts/bench.sh [--operator BIN] [--kubesim BIN] [--bench BIN] [--factor F] [--timeout S]
# Defaults: the binaries of ./build. --factor scales every size (0.1 for a quick look; 1 is the
# issue's sizes: a burst of 2,000, RSS at 1,000 and 10,000, 200 paced runs, 100/s for 30 s).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FLOWRUN_BINARY_DIR:-$root/build}"
operator="$build/operator/flowrun-operator"
kubesim="$build/test/kubesim/kubesim"
bench="$build/test/bench/scale/bench_scale"
factor=1
timeout=1800
while [ $# -gt 0 ]; do
  case "$1" in
    --operator) operator="$2"; shift 2 ;;
    --kubesim) kubesim="$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    --factor) factor="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for b in "$operator" "$kubesim" "$bench"; do
  [ -x "$b" ] || { echo "bench.sh: $b is not an executable (build it first)" >&2; exit 2; }
done
export FLOWRUN_SOURCE_DIR="$root"
size() { awk -v f="$factor" -v n="$1" -v m="$2" 'BEGIN { v = int(n * f + 0.5); if (v < m) v = m; print v }'; }

echo "operator: $operator"
echo "kubesim:  $kubesim"
echo "factor $factor; $(nproc) cores; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| figure | value | goal | command (K = kubesim, O = operator binary) |"
echo "|---|---|---|---|"
run() {
  local out rc=0
  out="$(timeout "$timeout" "$bench" "$@" --kubesim "$kubesim" --operator "$operator" 2>&1)" || rc=$?
  if [ $rc -ne 0 ]; then
    echo "| bench_scale $1 failed (exit $rc) | $(echo "$out" | tail -1 | tr '|' '/') | | \`bench_scale $*\` |"
  else
    echo "$out" | grep '^|' || true
  fi
}
run burst --n "$(size 2000 50)"
run rss --n "$(size 10000 100)"
run lifecycle --n "$(size 200 20)"
run latency --seconds "$(size 30 3)" --rate 100
echo
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
