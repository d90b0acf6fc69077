#!/usr/bin/env bash
# demo.sh - builds seam and shows it working: typed values through the CBOR
# codec and back with the `seam` tool.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEAM_BUILD_TESTS=OFF >/dev/null
cmake --build build/demo >/dev/null
seam=build/demo/tools/seam

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "seam $("$seam" version)"

value='{"service":"com.example.echo","id":{"$uuid":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
 "sent":{"$date":1767225600.5},"body":{"$data":"aGVsbG8gd29ybGQ="},"retries":3,
 "ratio":0.75,"tags":["ipc","cbor"],"big":{"$uint64":"18446744073709551615"}}'
say "a value as JSON"
echo "$value"

say "its CBOR encoding (what goes on the wire)"
hex=$("$seam" encode "$value")
echo "$hex"
echo "($(( ${#hex} / 2 )) bytes)"

say "decoded again"
"$seam" decode "$hex"

say "bad input is refused with a reason"
for bad in 9f01ff a2616100616101 62c328 d8ff00; do
    printf '%-16s -> ' "$bad"
    "$seam" decode "$bad" 2>&1 || true
done
