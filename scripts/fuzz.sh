#!/usr/bin/env bash
# Builds the libFuzzer targets (test/fuzz, clang-14 with ASan and UBSan) and runs each for
# SECONDS seconds (default 600) on its seed corpus (test/fuzz/corpus/<target>, read-only; new
# inputs go to build-fuzz/corpus/<target>). A finding stops that target with its input saved
# under build-fuzz/findings/ and makes the script exit 1.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-600}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(label_selector_fuzz watch_event_fuzz kubeconfig_fuzz template_renderer_fuzz)

CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DFLOWRUN_BUILD_TESTS=OFF \
  -DFLOWRUN_FUZZ=ON -DSANITIZE=address,undefined,fuzzer-no-link >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz-targets >/dev/null

status=0
mkdir -p build-fuzz/findings
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  log="build-fuzz/$t.log"
  if build-fuzz/test/fuzz/"$t" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="build-fuzz/findings/$t-" "build-fuzz/corpus/$t" "test/fuzz/corpus/$t" \
    >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz $t: ${seconds}s, ${runs:-?} executions, no finding"
  else
    echo "fuzz $t: FINDING (input in build-fuzz/findings/, log $log):" >&2
    grep -E "^finding:|ERROR:|SUMMARY:|what\(\)" "$log" | head -5 >&2
    status=1
  fi
done
exit $status
