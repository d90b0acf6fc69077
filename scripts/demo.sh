#!/usr/bin/env bash
# demo.sh - builds seam and shows it working: typed values through the CBOR
# codec, then a live service called by several clients, a refused peer, a
# timeout and round-trip times, all with the `seam` tool.
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

# ---- a live service ----
export SEAM_RUNTIME_DIR
SEAM_RUNTIME_DIR=$(mktemp -d)
chmod 0755 "$SEAM_RUNTIME_DIR"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$SEAM_RUNTIME_DIR"
}
trap cleanup EXIT
wait_for() { for _ in $(seq 100); do [[ -S "$SEAM_RUNTIME_DIR/$1.sock" ]] && return 0; sleep 0.05; done; return 1; }

say "a service: seam listen com.example.echo --echo"
"$seam" listen com.example.echo --echo > "$SEAM_RUNTIME_DIR/echo.log" &
pids+=($!)
wait_for com.example.echo
"$seam" list

say "three clients call it at once"
clients=()
for i in 1 2 3; do
    "$seam" call com.example.echo "{\"client\":$i,\"pid\":$$}" > "$SEAM_RUNTIME_DIR/reply$i" &
    clients+=($!)
done
wait "${clients[@]}"
for i in 1 2 3; do
    echo "client $i got: $(tr -d ' \n' < "$SEAM_RUNTIME_DIR/reply$i")"
done
echo "the service printed:"
sed 's/^/  /' "$SEAM_RUNTIME_DIR/echo.log"

say "round trips (seam ping)"
"$seam" ping com.example.echo -c 5

if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
    chmod 0777 "$SEAM_RUNTIME_DIR"
    say "a peer of another user (uid 65534) is refused before anything is read"
    setpriv --reuid=65534 --regid=65534 --clear-groups "$seam" call com.example.echo '"let me in"' || true
fi

say "a service that never answers: the call times out"
"$seam" listen com.example.silent --silent > /dev/null &
pids+=($!)
wait_for com.example.silent
"$seam" call com.example.silent '"hello?"' --timeout 300 || true

say "nobody there"
"$seam" call com.example.nobody '1' || true
