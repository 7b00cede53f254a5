#!/usr/bin/env bash
# Installs what the project needs on Debian bookworm, once; fast and silent when all is present.
# As root it runs apt-get; otherwise it prints the exact sudo line and stops.
# Used by both quick-start commands (scripts/demo.sh and scripts/test.sh).
set -euo pipefail

packages=(build-essential g++ cmake pkg-config ccache clang-format
  libboost1.81-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev libsimdjson-dev libcpp-httplib-dev catch2
  lua5.1 openssl clang-14 libclang-rt-14-dev jq curl)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v kubectl >/dev/null 2>&1; then
  echo "setup: kubectl is not on PATH. The tests drive the real kubectl; install it from your" >&2
  echo "  distribution or cloud SDK (any version 1.27 or newer) and run this again." >&2
  exit 1
fi
