#!/usr/bin/env bash
# The main job: setup, build, then run the operator against the embedded simulated cluster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target flowrun-operator
./build/operator/flowrun-operator --help
