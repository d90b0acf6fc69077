#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples.sh DIR - runs the examples built in DIR against each other, as a
# person would: each program a real process, talking over real sockets.
# Examples whose adapter was not built are skipped (and said so).
set -euo pipefail
dir=$1
# shellcheck source=live.sh
source "$(dirname "$0")/live.sh"
passed=0
skipped=0

# poll_echo: a service and a client on hand-written poll() loops. The
# service reads "quit" from its standard input, which the loop also watches.
mkfifo "$SEAM_RUNTIME_DIR/stdin"
"$dir/poll_echo" serve ex.poll <"$SEAM_RUNTIME_DIR/stdin" >"$SEAM_RUNTIME_DIR/poll.log" &
server=$!
pids+=($server)
exec 4>"$SEAM_RUNTIME_DIR/stdin"
wait_for ex.poll
out=$("$dir/poll_echo" call ex.poll hi there)
[[ "$out" == *'reply: {"text":"hi","n":0}'* && "$out" == *'reply: {"text":"there","n":1}'* ]] \
    || fail "poll_echo call: $out"
echo quit >&4
exec 4>&-
wait "$server" || fail "poll_echo serve did not stop cleanly on quit"
passed=$((passed + 1))

# endpoint_broker: A's anonymous endpoint goes through broker B to C, which
# connects to A directly and calls it again once B has gone.
"$dir/endpoint_broker" broker ex.broker >"$SEAM_RUNTIME_DIR/broker.log" 2>&1 &
broker=$!
pids+=($broker)
wait_for ex.broker
"$dir/endpoint_broker" vend ex.broker 2 >"$SEAM_RUNTIME_DIR/vend.log" 2>&1 &
vend=$!
pids+=($vend)
for _ in $(seq 200); do grep -q 'holding an endpoint' "$SEAM_RUNTIME_DIR/broker.log" && break; sleep 0.05; done
"$dir/endpoint_broker" take ex.broker 2 >"$SEAM_RUNTIME_DIR/take.log" 2>&1 &
take=$!
for _ in $(seq 200); do grep -q 'left":1' "$SEAM_RUNTIME_DIR/take.log" && break; sleep 0.05; done
kill "$broker"
wait "$take" || fail "endpoint_broker take: $(cat "$SEAM_RUNTIME_DIR/take.log")"
wait "$vend" || fail "endpoint_broker vend: $(cat "$SEAM_RUNTIME_DIR/vend.log")"
grep -q 'C: broker gone' "$SEAM_RUNTIME_DIR/take.log" || fail "the broker outlived the channel"
grep -q 'left":0' "$SEAM_RUNTIME_DIR/take.log" || fail "no call after the broker left"
grep -q "A: pid $take " "$SEAM_RUNTIME_DIR/vend.log" || fail "A did not see C's pid: $(cat "$SEAM_RUNTIME_DIR/vend.log")"
passed=$((passed + 1))

# uv_server + ev_client: a libuv program serving TCP and seam on one loop,
# called by a libev client; Ctrl-C leaves the uv loop closable.
if [[ -x "$dir/uv_server" && -x "$dir/ev_client" ]]; then
    port=$((20000 + RANDOM % 20000))
    "$dir/uv_server" "$port" ex.uv >"$SEAM_RUNTIME_DIR/uv.log" 2>&1 &
    server=$!
    pids+=($server)
    wait_for ex.uv
    out=$("$dir/ev_client" ex.uv 5)
    [[ "$out" == *"5 of 5 calls answered"* ]] || fail "ev_client: $out"
    got=$(python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'a line\n')
print(s.recv(100).decode().strip())" "$port")
    [[ "$got" == "a line" ]] || fail "uv_server TCP echo: $got"
    kill -INT "$server"
    wait "$server" || fail "uv_server exit status"
    grep -q "loop closed: clean" "$SEAM_RUNTIME_DIR/uv.log" || fail "uv_server: $(cat "$SEAM_RUNTIME_DIR/uv.log")"
    passed=$((passed + 1))
else
    echo "uv_server/ev_client not built: skipped"
    skipped=$((skipped + 1))
fi

# dispatch_service and cf_app: a service on the main dispatch queue, and a
# CFRunLoop "app" whose UI timer keeps ticking while it serves; each exits
# by itself after two requests.
for app in dispatch_service cf_app; do
    if [[ ! -x "$dir/$app" ]]; then
        echo "$app not built: skipped"
        skipped=$((skipped + 1))
        continue
    fi
    "$dir/$app" "ex.$app" --requests 2 >"$SEAM_RUNTIME_DIR/$app.log" 2>&1 &
    server=$!
    pids+=($server)
    wait_for "ex.$app"
    if [[ $app == cf_app ]]; then
        # The UI timer runs before and while requests are served.
        for _ in $(seq 100); do grep -q '^tick 2$' "$SEAM_RUNTIME_DIR/$app.log" && break; sleep 0.05; done
    fi
    out=$("$dir/poll_echo" call "ex.$app" one two)
    [[ "$out" == *'reply: {"text":"one","n":0}'* && "$out" == *'reply: {"text":"two","n":1}'* ]] \
        || fail "$app: $out"
    wait "$server" || fail "$app exit status: $(cat "$SEAM_RUNTIME_DIR/$app.log")"
    if [[ $app == cf_app ]]; then
        grep -q '^tick 2$' "$SEAM_RUNTIME_DIR/$app.log" || fail "cf_app never ticked"
    fi
    passed=$((passed + 1))
done

echo "examples: $passed passed, 0 failed, $skipped skipped"
