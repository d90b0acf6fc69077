#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deps.sh - installs the Debian packages seam needs to build and test, and
# only those that are missing. `--bench` adds the benchmark peers.
set -euo pipefail

pkgs=(cmake ninja-build pkg-config gcc libc6-dev libcbor-dev libjansson-dev libcmocka-dev
      libuv1-dev libev-dev valgrind clang libclang-rt-14-dev clang-format
      scdoc make dpkg-dev python3-venv jq zsh)
if [[ "${1:-}" == "--bench" ]]; then
    pkgs+=(libzmq3-dev libnng-dev libsystemd-dev linux-perf iceoryx libiceoryx-binding-c-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
