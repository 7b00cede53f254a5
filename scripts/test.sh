#!/usr/bin/env bash
# The whole test suite: setup, format check, build with warnings as errors, every test (unit,
# integration, e2e) in parallel, the unit tests again under AddressSanitizer and UBSan, then each
# fuzz target briefly (docs/fuzzing.md).
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
