#!/usr/bin/env bash
# The chaos suite at any size (docs/chaos.md):
#   scripts/chaos.sh [FLOWRUNS] [KILLS] [SCENARIOS...]
#   scripts/chaos.sh                    # 1000 FlowRuns, 55 kills, every scenario (the full size)
#   scripts/chaos.sh 100 10 kill-storm  # a smaller kill storm
# Scenarios: kill-storm, leader, faults. Builds what it needs in ./build (BUILD_DIR overrides),
# prints each scenario's result lines, and exits non-zero when any scenario fails.
# SEED and INTERVAL (seconds between storms, MIN-MAX; default 1-10) can be set in the
# environment.
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWRUNS=${1:-1000}
KILLS=${2:-55}
shift $(( $# > 2 ? 2 : $# ))
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(kill-storm leader faults)
BUILD_DIR=${BUILD_DIR:-build}
SEED=${SEED:-1}
INTERVAL=${INTERVAL:-1-10}
# Big runs need time: about 1 s per FlowRun on 2 cores, plus the storms.
DEADLINE=${DEADLINE:-$(( 600 + FLOWRUNS * 2 ))}

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target flowrun-chaos flowrun-operator >/dev/null

export FLOWRUN_SOURCE_DIR=$PWD FLOWRUN_BINARY_DIR=$PWD/$BUILD_DIR
status=0
for s in "${SCENARIOS[@]}"; do
  n=$FLOWRUNS
  # Three replicas and a fault schedule make each FlowRun cheaper to lose: the leader and
  # faults storms run a fifth of the FlowRuns (at least 20) unless FULL=1.
  if [ "$s" != kill-storm ] && [ "${FULL:-0}" != 1 ]; then n=$(( FLOWRUNS / 5 < 20 ? 20 : FLOWRUNS / 5 )); fi
  steps=$KILLS
  [ "$s" != kill-storm ] && steps=$(( KILLS / 4 < 7 ? 7 : KILLS / 4 ))
  echo "== $s: $n FlowRuns, at least $steps storms, interval $INTERVAL s, seed $SEED"
  if ! "$BUILD_DIR/test/chaos/flowrun-chaos" --scenario "$s" --flowruns "$n" --kills "$steps" \
      --interval "$INTERVAL" --seed "$SEED" --deadline "$DEADLINE"; then
    status=1
  fi
done
exit $status
