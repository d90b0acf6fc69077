#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - builds seam and shows it working: typed values through the CBOR
# codec; a service hosted on a libuv loop (next to a TCP echo) called from
# libev, poll() and the `seam` tool; a broadcast; a refused peer; a timeout;
# round-trip and throughput figures; and the dispatch and CFRunLoop
# adapters where they were built.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEAM_BUILD_TESTS=OFF \
    -DSEAM_BUILD_BENCH=OFF >/dev/null
cmake --build build/demo >/dev/null
seam=build/demo/tools/seam
ex=build/demo/examples

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

# ---- live services ----
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
log() { sed 's/^/  | /' "$SEAM_RUNTIME_DIR/$1"; }

if [[ -x "$ex/uv_server" ]]; then
    port=$((20000 + RANDOM % 20000))
    say "a libuv program serves TCP on 127.0.0.1:$port and com.example.echo on one loop"
    # umask 0: the socket's mode lets another user connect, so that the
    # refusal below is the accept filter's, not the file mode's.
    (umask 000 && exec "$ex/uv_server" "$port" com.example.echo) >"$SEAM_RUNTIME_DIR/uv.log" 2>&1 &
else
    say "a service: seam listen com.example.echo --echo (libuv adapter not built)"
    (umask 000 && exec "$seam" listen com.example.echo --echo) >"$SEAM_RUNTIME_DIR/uv.log" &
fi
uv_pid=$!
pids+=($uv_pid)
wait_for com.example.echo
"$seam" list

say "three clients call it at once: libev, poll() and the seam tool"
clients=()
if [[ -x "$ex/ev_client" ]]; then
    "$ex/ev_client" com.example.echo 3 >"$SEAM_RUNTIME_DIR/c1" &
    clients+=($!)
fi
"$ex/poll_echo" call com.example.echo "from poll_echo" >"$SEAM_RUNTIME_DIR/c2" &
clients+=($!)
"$seam" call com.example.echo '{"from":"seam call","pid":'$$'}' >"$SEAM_RUNTIME_DIR/c3" &
clients+=($!)
wait "${clients[@]}"
[[ -x "$ex/ev_client" ]] && { echo "ev_client (libev):"; log c1; }
echo "poll_echo (poll):"
log c2
echo "seam call (poll):"
log c3
if [[ -n "${port:-}" ]]; then
    echo "and the same loop still echoes TCP lines:"
    python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'hello over TCP\n')
print('  | ' + s.recv(100).decode().strip())" "$port" || true
fi

say "a broadcast: a service announces ticks, two watchers each get every one"
"$seam" listen com.example.news --announce 200 >"$SEAM_RUNTIME_DIR/news.log" &
pids+=($!)
wait_for com.example.news
"$seam" watch com.example.news -n 3 >"$SEAM_RUNTIME_DIR/w1" &
w1=$!
"$seam" watch com.example.news -n 3 >"$SEAM_RUNTIME_DIR/w2"
wait "$w1"
echo "watcher 1:"
log w1
echo "watcher 2:"
log w2
echo "the service:"
grep "to 2 peers" "$SEAM_RUNTIME_DIR/news.log" | head -3 | sed 's/^/  | /'

say "a retained topic: a subscriber joining late gets the current value, then a change"
mkfifo "$SEAM_RUNTIME_DIR/power.in"
"$seam" listen com.example.power --publish 'battery=80' --publish-stdin \
    <"$SEAM_RUNTIME_DIR/power.in" >"$SEAM_RUNTIME_DIR/power.log" &
pids+=($!)
exec 4>"$SEAM_RUNTIME_DIR/power.in"
wait_for com.example.power
echo 'battery 79' >&4 # published before anyone subscribes: retained
for _ in $(seq 200); do grep -q 'seq=2' "$SEAM_RUNTIME_DIR/power.log" && break; sleep 0.05; done
"$seam" subscribe com.example.power battery -n 2 >"$SEAM_RUNTIME_DIR/sub" &
sub=$!
for _ in $(seq 200); do [[ -s "$SEAM_RUNTIME_DIR/sub" ]] && break; sleep 0.05; done
echo 'battery 78' >&4
wait "$sub"
exec 4>&-
echo "the late subscriber:"
log sub

if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
    say "a peer of another user (uid 65534) is refused before anything is read"
    # The tool and its libraries where that user can read them (the build
    # tree may sit in a directory only we may enter).
    mkdir -p "$SEAM_RUNTIME_DIR/nobody"
    cp "$seam" "$SEAM_RUNTIME_DIR/nobody/seam"
    ldd "$seam" | awk '/libseam/ {print $3}' | xargs -r cp -t "$SEAM_RUNTIME_DIR/nobody"
    chmod -R a+rX "$SEAM_RUNTIME_DIR/nobody"
    setpriv --reuid=65534 --regid=65534 --clear-groups env LD_LIBRARY_PATH="$SEAM_RUNTIME_DIR/nobody" \
        "$SEAM_RUNTIME_DIR/nobody/seam" call com.example.echo '"let me in"' || true
fi

say "a service that never answers: the call times out"
"$seam" listen com.example.silent --silent >/dev/null &
pids+=($!)
wait_for com.example.silent
"$seam" call com.example.silent '"hello?"' --timeout 300 || true

say "nobody there"
"$seam" call com.example.nobody '1' || true

say "an anonymous channel: A's endpoint goes through broker B to C, who calls A directly, also after B is gone"
"$ex/endpoint_broker" broker com.example.broker >"$SEAM_RUNTIME_DIR/broker.log" 2>&1 &
broker=$!
pids+=($broker)
wait_for com.example.broker
"$ex/endpoint_broker" vend com.example.broker 2 >"$SEAM_RUNTIME_DIR/vend.log" 2>&1 &
vend=$!
for _ in $(seq 100); do grep -q 'holding' "$SEAM_RUNTIME_DIR/broker.log" && break; sleep 0.05; done
"$ex/endpoint_broker" take com.example.broker 2 >"$SEAM_RUNTIME_DIR/take.log" 2>&1 &
take=$!
for _ in $(seq 100); do grep -q 'left":1' "$SEAM_RUNTIME_DIR/take.log" && break; sleep 0.05; done
kill "$broker"
wait "$take" "$vend" || true
echo "C (pid $take):"
log take.log
echo "A:"
log vend.log

say "round trips (seam ping, through the libuv service)"
"$seam" ping com.example.echo -c 5
if [[ -x "$ex/ev_client" ]]; then
    "$ex/ev_client" com.example.echo 10000 | tail -1
fi

if [[ -x "$ex/dispatch_service" && -x "$ex/cf_app" ]]; then
    say "a service on the main dispatch queue, and a CFRunLoop app that keeps ticking while it serves"
    "$ex/dispatch_service" com.example.queue --requests 2 >"$SEAM_RUNTIME_DIR/dispatch.log" 2>&1 &
    dpid=$!
    "$ex/cf_app" com.example.app --requests 2 >"$SEAM_RUNTIME_DIR/cf.log" 2>&1 &
    cpid=$!
    wait_for com.example.queue
    wait_for com.example.app
    sleep 0.6 # a few UI ticks first
    "$ex/poll_echo" call com.example.queue "to a dispatch queue" "again"
    "$seam" call com.example.app '{"to":"a CFRunLoop app"}'
    "$seam" call com.example.app '"again"' >/dev/null
    wait "$dpid" "$cpid" || true
    echo "dispatch_service:"
    log dispatch.log
    echo "cf_app:"
    log cf.log
else
    say "dispatch and CFRunLoop adapters not built here (no Swift toolchain found)"
fi

say "one-way throughput (seam flood: raw messages, counted by the receiver)"
"$seam" listen com.example.sink --quiet >/dev/null &
pids+=($!)
wait_for com.example.sink
"$seam" flood com.example.sink -n 2000000 -s 64
"$seam" flood com.example.sink -n 2000 -s 1048576
echo "(figures from an unpinned demo run; scripts/bench.sh measures properly)"
