#!/usr/bin/env bash
# The whole test suite: setup, format check, build with warnings as errors, every test (unit,
# integration, e2e) in parallel, the unit tests again under AddressSanitizer and UBSan, each fuzz
# target briefly (docs/fuzzing.md), then the container image: a Release build, packed twice to the
# same digest, run as the Deployment runs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
jobs=$(nproc)

echo "== configure and check formatting"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target format-check

echo "== build"
cmake --build build -j "$jobs"

echo "== tests"
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 300

echo "== unit tests under address,undefined sanitizers"
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=address,undefined >/dev/null
cmake --build build-sanitize -j "$jobs" --target unit-tests
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-sanitize -L unit -j "$jobs" --output-on-failure

echo "== fuzz targets, briefly (scripts/fuzz.sh SECONDS runs them for longer)"
bash scripts/fuzz.sh 15

echo "== container image: Release build, built twice (same digest), run as the Deployment runs it"
# (not `tee /dev/stderr`: when stderr is a file, opening it again truncates everything before)
built=$(bash scripts/build-image.sh)
echo "$built"
first=$(awk '$1 == "digest" {print $2}' <<<"$built")
second=$(bash scripts/build-image.sh --binary build-rel/operator/flowrun-operator | awk '$1 == "digest" {print $2}')
[[ -n $first && $first == "$second" ]] || { echo "image not reproducible: $first then $second"; exit 1; }
echo "reproducible: $first"
bash scripts/test-image.sh build/image/flowrun-operator-v"$(sed -n 's/^project(flowrun-operator VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)".oci.tar build/test/kubesim/kubesim
