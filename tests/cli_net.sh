#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_net.sh SEAM - the command-line tool against live endpoints, each
# command a real process: listen (plain, --echo, --silent, --quiet), send,
# call (reply, timeout, remote error, nobody there), ping, flood and list.
set -euo pipefail
seam=$1
# shellcheck source=live.sh
source "$(dirname "$0")/live.sh"
log=$SEAM_RUNTIME_DIR/echo.log

"$seam" listen t.echo --echo >"$log" &
pids+=($!)
wait_for t.echo

# call prints the reply as JSON; every JSON form survives the trip.
reply=$("$seam" call t.echo '{"n":1,"b":{"$data":"AAE="},"u":{"$uint64":"18446744073709551615"}}')
[[ "$(tr -d ' \n' <<<"$reply")" == '{"n":1,"b":{"$data":"AAE="},"u":{"$uint64":"18446744073709551615"}}' ]] \
    || fail "call reply: $reply"

# send returns once the message was handled; listen printed it.
"$seam" send t.echo '{"hello":"world"}' || fail "send"
grep -q 'message pid=[0-9]* {"hello": *"world"}' "$log" || fail "listen did not print the message: $(cat "$log")"
grep -q 'request pid=[0-9]* {"n": *1' "$log" || fail "listen did not print the request"

# ping prints one line per pong and a summary.
out=$("$seam" ping t.echo -c 3)
[[ $(grep -c '^pong from t.echo' <<<"$out") -eq 3 ]] || fail "ping: $out"
[[ "$out" == *"3 pings, min/avg/max"* ]] || fail "ping summary: $out"

# list shows the live name; a killed server's socket shows as stale.
[[ "$("$seam" list)" == *t.echo*alive* ]] || fail "list"
"$seam" listen t.dead >/dev/null &
dead=$!
pids+=($dead)
wait_for t.dead
kill -9 "$dead"
wait "$dead" 2>/dev/null || true
[[ "$("$seam" list)" == *t.dead*stale* ]] || fail "stale name not listed as stale: $("$seam" list)"

# A server that never answers: the call times out, non-zero with the reason.
"$seam" listen t.silent --silent >/dev/null &
pids+=($!)
wait_for t.silent
status=0
out=$("$seam" call t.silent '1' --timeout 200 2>&1) || status=$?
[[ $status -ne 0 && "$out" == *SEAM_ETIMEDOUT* ]] || fail "timeout: status $status, $out"

# A server that does not answer and does not keep the request: remote error.
"$seam" listen t.plain >/dev/null &
pids+=($!)
wait_for t.plain
status=0
out=$("$seam" call t.plain '1' 2>&1) || status=$?
[[ $status -ne 0 && "$out" == *"remote error"* ]] || fail "remote error: status $status, $out"

# Nobody there.
status=0
out=$("$seam" call t.nobody '1' 2>&1) || status=$?
[[ $status -ne 0 && "$out" == *SEAM_ENOTFOUND* ]] || fail "missing name: status $status, $out"

# flood: every message arrives (the quiet server counts them).
qlog=$SEAM_RUNTIME_DIR/quiet.log
"$seam" listen t.quiet --quiet --count 20000 >"$qlog" &
quiet=$!
pids+=($quiet)
wait_for t.quiet
out=$("$seam" flood t.quiet -n 20000 -s 100)
[[ "$out" == "20000 messages of 100 bytes in "*"messages/s"* ]] || fail "flood: $out"
wait "$quiet" || fail "quiet server exit"
grep -q '^20000 messages and requests' "$qlog" || fail "quiet server counted: $(cat "$qlog")"

# watch: two watchers each see the server's broadcasts; the server counts
# them as its peers.
alog=$SEAM_RUNTIME_DIR/announce.log
"$seam" listen t.ann --announce 50 >"$alog" &
pids+=($!)
wait_for t.ann
"$seam" watch t.ann -n 3 >"$SEAM_RUNTIME_DIR/w1" &
w1=$!
pids+=($w1)
"$seam" watch t.ann -n 3 >"$SEAM_RUNTIME_DIR/w2" || fail "watch"
wait "$w1" || fail "first watcher"
for w in w1 w2; do
    [[ $(grep -c '^message pid=[0-9]* {"tick":[0-9]*}$' "$SEAM_RUNTIME_DIR/$w") -eq 3 ]] \
        || fail "watcher $w saw: $(cat "$SEAM_RUNTIME_DIR/$w")"
done
grep -q '^broadcast tick [0-9]* to 2 peers$' "$alog" || fail "no broadcast reached both: $(cat "$alog")"

echo "cli net: all passed"
