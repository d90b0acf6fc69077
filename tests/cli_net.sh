#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_net.sh SEAM - the command-line tool against live endpoints, each
# command a real process: listen (plain, --echo, --silent, --quiet), send,
# call (reply, timeout, remote error, nobody there), ping, flood and list;
# the conventions (--version, per-command help, usage errors, numeric
# ranges, values from stdin and files) and every exit code.
set -euo pipefail
seam=$1
# shellcheck source=live.sh
source "$(dirname "$0")/live.sh"
log=$SEAM_RUNTIME_DIR/echo.log
scratch=$SEAM_RUNTIME_DIR

# run CODE CMD...: runs seam CMD, wants exit status CODE; leaves standard
# output in $out and standard error in $err.
run() {
    local want=$1 status=0
    shift
    "$seam" "$@" >"$scratch/out" 2>"$scratch/err" || status=$?
    out=$(cat "$scratch/out")
    err=$(cat "$scratch/err")
    [[ $status -eq $want ]] || fail "seam $*: exit $status, wanted $want; out: $out; err: $err"
}

# jsonl FILE: every line is one JSON document
jsonl() {
    [[ -s "$1" ]] || fail "$1 is empty"
    while IFS= read -r line; do
        jq -e . >/dev/null <<<"$line" || fail "not a JSON line in $1: $line"
    done <"$1"
}
# lines_hold FILE SELECT COND: some lines of FILE match SELECT, and all
# those satisfy COND
lines_hold() {
    jq -e -s "[.[] | select($2) | $3] | length > 0 and all" "$1" >/dev/null \
        || fail "lines of $1 with $2 do not all hold $3: $(cat "$1")"
}
# --version and -V print the versions, as the version command does.
run 0 --version
[[ "$out" == "seam "*", protocol "* ]] || fail "--version: $out"
run 0 -V
[[ "$out" == "$("$seam" version)" ]] || fail "-V: $out"

# Each command has its own help: usage line and examples, exit 0.
for c in listen subscribe send call ping flood watch list status monitor encode decode version; do
    run 0 "$c" --help
    [[ "$out" == "usage: seam $c"* && "$out" == *Examples:* ]] || fail "$c --help: $out"
    help=$out
    run 0 help "$c"
    [[ "$out" == "$help" ]] || fail "help $c differs from $c --help"
done
run 0 call -h
[[ "$out" == *"--timeout MS"* ]] || fail "call -h: $out"
run 2 help frobnicate
[[ "$err" == *"no command 'frobnicate'"* ]] || fail "help of an unknown command: $err"

# A usage error names the argument and why in one line, then points at
# --help; no usage dump.
usage_error() {
    [[ $(wc -l <<<"$err") -eq 2 ]] || fail "usage error is not two lines: $err"
    [[ "$(head -1 <<<"$err")" == *"$1"* ]] || fail "usage error does not say '$1': $err"
    [[ "$(tail -1 <<<"$err")" == "Try 'seam $2 --help'." ]] || fail "no pointer to help: $err"
}
run 2 call t.echo 1 --frobnicate
usage_error "unknown option '--frobnicate'" call
run 2 call t.echo
usage_error "missing VALUE" call
run 2 ping t.echo extra
usage_error "unexpected argument 'extra'" ping
run 2 ping t.echo -c
usage_error "-c needs a value" ping
run 2 flood t.echo -n ten
usage_error "'ten' is not a whole number" flood
run 2 flood t.echo --size 16777217
usage_error "--size: 16777217 is out of range (0 to 16777216)" flood
run 2 frobnicate
[[ "$err" == *"no command 'frobnicate'"*"Try 'seam --help'."* ]] || fail "unknown command: $err"
run 2 ping t.echo --count=x
usage_error "--count: 'x' is not a whole number" ping
run 2 list --names=1
usage_error "--names takes no value" list

"$seam" listen t.echo --echo >"$log" &
echo_pid=$!
pids+=($echo_pid)
wait_for t.echo

# call prints the reply as JSON; every JSON form survives the trip.
reply=$("$seam" call t.echo '{"n":1,"b":{"$data":"AAE="},"u":{"$uint64":"18446744073709551615"}}')
[[ "$(tr -d ' \n' <<<"$reply")" == '{"n":1,"b":{"$data":"AAE="},"u":{"$uint64":"18446744073709551615"}}' ]] \
    || fail "call reply: $reply"

# A value from standard input ("-") or a file ("@FILE"); "--" ends the
# options, so a negative number is a value.
reply=$(printf '{"from":"stdin"}\n' | "$seam" call t.echo -) || fail "call -"
[[ "$(tr -d ' \n' <<<"$reply")" == '{"from":"stdin"}' ]] || fail "call from stdin: $reply"
printf '[1,\n 2]\n' >"$SEAM_RUNTIME_DIR/v.json"
reply=$("$seam" call t.echo "@$SEAM_RUNTIME_DIR/v.json") || fail "call @FILE"
[[ "$(tr -d ' \n' <<<"$reply")" == '[1,2]' ]] || fail "call from a file: $reply"
reply=$("$seam" call t.echo -- -1) || fail "call -- -1"
[[ "$reply" == "-1" ]] || fail "call -- -1: $reply"
[[ "$(echo 'a1616101' | "$seam" decode - | tr -d ' \n')" == '{"a":1}' ]] || fail "decode -"
run 1 send t.echo "@$SEAM_RUNTIME_DIR/missing.json"
[[ "$err" == *"$SEAM_RUNTIME_DIR/missing.json"* ]] || fail "missing file not named: $err"

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

# list shows each live name's owner: pid, user, executable, start time;
# the same as JSON; a stale name has no owner.
line=$("$seam" list | grep '^t.echo ')
read -r -a f <<<"$line"
[[ "${f[1]}" == alive && "${f[2]}" == "$echo_pid" && "${f[3]}" == "$(id -un)" ]] || fail "list line: $line"
[[ "$line" == *"$(date +%Y-%m-%d) "[0-9][0-9]:[0-9][0-9]:[0-9][0-9]" $(readlink -f "$seam")" ]] \
    || fail "list start time or executable: $line"
[[ "$("$seam" list | head -1)" == "NAME "*STATE*PID*USER*STARTED*EXECUTABLE ]] || fail "list header"
run 0 list --json
now_us=$(($(date +%s) * 1000000))
jq -e --argjson pid "$echo_pid" --argjson uid "$(id -u)" --arg exe "$(readlink -f "$seam")" \
    --argjson now "$now_us" \
    '.[] | select(.name == "t.echo") | .state == "alive" and .pid == $pid and .uid == $uid
        and .exe == $exe and .started_us > $now - 600000000 and .started_us <= $now + 1000000' \
    <<<"$out" >/dev/null || fail "list --json: $out"
jq -e '.[] | select(.name == "t.dead") | .state == "stale" and .pid == null and .exe == null' \
    <<<"$out" >/dev/null || fail "list --json, stale: $out"
[[ "$(jq -r '.[].name' <<<"$out")" == "$(jq -r '.[].name' <<<"$out" | sort)" ]] || fail "list not sorted"
run 0 list --names
[[ "$out" == *t.dead* && "$out" == *t.echo* && "$out" != *alive* ]] || fail "list --names: $out"
run 0 list --names -j
jq -e 'index("t.echo") != null' <<<"$out" >/dev/null || fail "list --names -j: $out"

# A server that never answers: the call times out, non-zero with the reason.
"$seam" listen t.silent --silent >/dev/null &
pids+=($!)
wait_for t.silent
run 5 call t.silent '1' --timeout=200
[[ "$err" == *SEAM_ETIMEDOUT* ]] || fail "timeout: $err"
# A timeout beyond the int range is refused, not wrapped (4294967597 ms
# used to become 301 ms).
run 2 call t.silent '1' --timeout 4294967597
usage_error "--timeout: 4294967597 is out of range (1 to 2147483647)" call
run 2 call t.silent '1' --timeout 0
usage_error "--timeout: 0 is out of range" call

# --silent drops the requests it kept for a caller once that caller goes
# (they used to pile up for the server's life), and says how many.
klog=$scratch/kept.log
"$seam" listen t.kept --silent >"$klog" &
pids+=($!)
wait_for t.kept
for _ in 1 2 3; do
    run 5 call t.kept '1' --timeout 100
done
for _ in $(seq 200); do
    [[ $(grep -c '^peer gone: dropped 1 kept requests$' "$klog") -eq 3 ]] && break
    sleep 0.05
done
[[ $(grep -c '^peer gone: dropped 1 kept requests$' "$klog") -eq 3 ]] \
    || fail "kept requests of gone callers not dropped: $(cat "$klog")"
klog=$scratch/kept.jsonl
"$seam" listen -j t.keptj --silent >"$klog" &
pids+=($!)
wait_for t.keptj
run 5 call t.keptj '1' --timeout 100
for _ in $(seq 200); do
    grep -q '"event":"gone"' "$klog" && break
    sleep 0.05
done
lines_hold "$klog" '.event == "gone"' '.dropped == 1'

# A server that does not answer and does not keep the request: remote error.
"$seam" listen t.plain >/dev/null &
pids+=($!)
wait_for t.plain
run 6 call t.plain '1'
[[ "$err" == *"remote error"* ]] || fail "remote error: $err"

# Nobody there.
run 3 call t.nobody '1'
[[ "$err" == *SEAM_ENOTFOUND* ]] || fail "missing name: $err"
run 3 ping t.nobody
run 3 send t.nobody 1

# A bad name states the rule and is a usage error; nobody at a path names
# the path; a runtime directory that cannot be made is named with the
# system error's own name.
run 2 call 'bad name' 1
[[ "$err" == *"bad name 'bad name': a name is 1 to 200 letters, digits"* ]] || fail "bad name: $err"
run 2 listen .hidden
[[ "$err" == *"not starting with '.'"* ]] || fail "bad listen name: $err"
run 3 call "unix:$SEAM_RUNTIME_DIR/none.sock" 1
[[ "$err" == *"no server listens on $SEAM_RUNTIME_DIR/none.sock (SEAM_ENOTFOUND)"* ]] || fail "path: $err"
SEAM_RUNTIME_DIR=$SEAM_RUNTIME_DIR/no/such/dir run 1 call t.echo 1
[[ "$err" == *"runtime directory $SEAM_RUNTIME_DIR/no/such/dir: No such file or directory (ENOENT)"* ]] \
    || fail "missing runtime directory: $err"
SEAM_RUNTIME_DIR=$SEAM_RUNTIME_DIR/no/such/dir run 1 list
[[ "$err" == *"$SEAM_RUNTIME_DIR/no/such/dir"*"(ENOENT)"* ]] || fail "list, missing runtime directory: $err"

# A server whose declared requirement refuses us, and says which.
"$seam" listen t.closed --allow-uid $(($(id -u) + 1)) >/dev/null &
pids+=($!)
wait_for t.closed
run 4 call t.closed '1'
[[ "$err" == *"refused by the server's uid rule: uid $(id -u) is not among the allowed users (SEAM_EACCES)"* ]] \
    || fail "refused: $err"
run 4 ping t.closed -c 1
[[ "$err" == *"refused by the server's uid rule"* ]] || fail "ping refused: $err"
"$seam" listen t.groups --allow-gid $(($(id -g) + 1)) >/dev/null &
pids+=($!)
wait_for t.groups
run 4 call t.groups '1'
[[ "$err" == *"refused by the server's gid rule: neither gid $(id -g) nor its"* ]] || fail "gid refused: $err"
# ... and one that admits only another executable.
"$seam" listen t.exe --require-exe /bin/sh >/dev/null &
pids+=($!)
wait_for t.exe
run 4 call t.exe '1'
[[ "$err" == *"refused by the server's exe rule: "* ]] || fail "exe refused: $err"
"$seam" listen t.self --echo --require-exe "$seam" >/dev/null &
pids+=($!)
wait_for t.self
run 0 call t.self '"self"'
[[ "$out" == '"self"' ]] || fail "the server's own executable: $out $err"
run 2 listen t.x --allow-uid -1
usage_error "--allow-uid: -1 is out of range" listen

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

# --quiet counts requests too: no line for each, the total at the end.
qlog=$SEAM_RUNTIME_DIR/quiet-req.log
"$seam" listen t.quietr --quiet --count 2 >"$qlog" &
quiet=$!
pids+=($quiet)
wait_for t.quietr
run 6 call t.quietr '1'
run 6 call t.quietr '2'
wait "$quiet" || fail "quiet server exit"
! grep -q '^request' "$qlog" || fail "--quiet printed requests: $(cat "$qlog")"
grep -q '^2 messages and requests' "$qlog" || fail "quiet server counted: $(cat "$qlog")"

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

# ---- status: served by the server's library, not its application ----
slog=$scratch/status.log
"$seam" listen -j t.stat --silent >"$slog" &
stat_pid=$!
pids+=($stat_pid)
wait_for t.stat
"$seam" watch t.stat >/dev/null &
watcher=$!
pids+=($watcher)
"$seam" call t.stat 1 --timeout 60000 >/dev/null 2>&1 &
caller=$!
pids+=($caller)
for _ in $(seq 200); do
    grep -q '"event":"request"' "$slog" \
        && [[ $("$seam" status -j t.stat | jq '.totals.peers') -eq 3 ]] && break
    sleep 0.05
done
run 0 status -j t.stat
jq -e --argjson pid "$stat_pid" --argjson uid "$(id -u)" --argjson caller "$caller" \
    --argjson watcher "$watcher" --arg exe "$(readlink -f "$seam")" --arg v "$("$seam" -j -V | jq -r .version)" \
    '.name == "t.stat" and .pid == $pid and .uid == $uid and .seam == $v and .protocol == 1
     and .exe == $exe and .started_us > 0 and (.path | endswith("/t.stat.sock"))
     and .max_conns == 1024 and .totals.peers == 3 and (.peers | length) == 3
     and ([.peers[] | select(.self)] | length) == 1
     and ([.peers[] | select(.pid == $caller)][0] | .requests_pending == 1 and .uid == $uid
          and .messages_in >= 1 and .bytes_in > 0 and .state == "open")
     and ([.peers[] | select(.pid == $watcher)][0] | .requests_pending == 0 and .queued_bytes == 0)
     and .totals.messages_in >= 2' <<<"$out" >/dev/null || fail "status -j: $out"
run 0 status t.stat
[[ "$out" == *"owner: pid $stat_pid, user $(id -un)"* && "$out" == *"peers: 3 (at most 1024)"* ]] \
    || fail "status: $out"
grep -q "^  $caller .* open " <<<"$out" || fail "status peer line: $out"
# the application saw the one real request and none of the status requests
[[ $(grep -c '"event":"request"' "$slog") -eq 1 ]] || fail "the application saw a status request: $(cat "$slog")"
# a request of another shape is the application's
run 0 call -j t.echo '{"$seam":"status","x":1}'
[[ "$out" == '{"reply":{"$seam":"status","x":1}}' ]] || fail "look-alike request: $out"
run 0 call -j t.echo '{"$seam":"status"}'
jq -e '.reply.peers | length > 0' <<<"$out" >/dev/null || fail "status by call: $out"
# the accept filter governs status like any other request
run 4 status t.closed
run 3 status t.nobody
run 2 status t.stat --timeout 0

# ---- monitor: every frame of the other peers, opt-in per server ----
"$seam" listen t.mon --echo --monitorable >/dev/null &
pids+=($!)
wait_for t.mon
mon_log=$scratch/mon.jsonl
"$seam" monitor -j t.mon -n 11 --pcap "$scratch/mon.pcap" >"$mon_log" &
mon=$!
pids+=($mon)
for _ in $(seq 200); do grep -q '"event":"monitoring"' "$mon_log" && break; sleep 0.05; done
"$seam" call t.mon '{"a":1.0}' >/dev/null     # hello in and out, request, reply, goodbye
"$seam" flood t.mon -n 1 -s 3 >/dev/null      # hello in and out, raw message, ping, pong, goodbye
wait "$mon" || fail "monitor exit"
jsonl "$mon_log"
[[ "$(head -1 "$mon_log")" == '{"event":"monitoring","name":"t.mon"}' ]] || fail "monitor start: $(cat "$mon_log")"
[[ $(grep -c '"kind"' "$mon_log") -eq 11 ]] || fail "monitor records: $(cat "$mon_log")"
lines_hold "$mon_log" '.kind == "request"' \
    '.dir == "in" and .value == {"a": {"$double": "1.0"}} and .id > 0 and .len == 12 and .peer.uid == '"$(id -u)"' and .peer.pid > 0'
lines_hold "$mon_log" '.kind == "reply"' '.dir == "out" and .value.a["$double"] == "1.0"'
lines_hold "$mon_log" '.kind == "message"' '.dir == "in" and .flags == 1 and .raw == {"id": 0, "hex": "000000"}'
lines_hold "$mon_log" '.kind == "hello"' '.value.seam == 1'
[[ $(jq -s '[.[] | select(.kind == "hello")] | group_by(.dir) | map(length)' "$mon_log" | tr -d ' \n') == "[2,2]" ]] \
    || fail "hellos in and out: $(cat "$mon_log")"
lines_hold "$mon_log" '.kind == "pong"' '.dir == "out" and .len == 0'
[[ "$(jq -c 'select(.kind) | .time_us' "$mon_log")" == "$(jq -c 'select(.kind) | .time_us' "$mon_log" | sort -n)" ]] \
    || fail "monitor times not in order"
# the pcap: nanosecond magic, version 2.4, link type 147 (USER0), one
# packet per record, each a record without its 8-byte time
mapfile -t pcap < <(od -v -A n -t x1 "$scratch/mon.pcap" | tr -s ' ' '\n' | grep .)
[[ "${pcap[*]:0:6}" == "4d 3c b2 a1 02 00" && "${pcap[*]:20:4}" == "93 00 00 00" ]] || fail "pcap header: ${pcap[*]:0:24}"
off=24
packets=0
while ((off < ${#pcap[@]})); do
    incl=$((16#${pcap[off + 11]}${pcap[off + 10]}${pcap[off + 9]}${pcap[off + 8]}))
    frame_kind=$((16#${pcap[off + 16 + 24 + 4]}))
    ((frame_kind >= 1 && frame_kind <= 9)) || fail "pcap packet $packets: kind $frame_kind"
    off=$((off + 16 + incl))
    packets=$((packets + 1))
done
((off == ${#pcap[@]} && packets == 11)) || fail "pcap: $packets packets, $off of ${#pcap[@]} bytes"
# human output: one line per frame
"$seam" monitor t.mon -n 1 >"$scratch/mon.txt" &
mon=$!
pids+=($mon)
for _ in $(seq 200); do grep -q '^monitoring t.mon' "$scratch/mon.txt" && break; sleep 0.05; done
"$seam" send t.mon '"x"'
wait "$mon" || fail "monitor -n 1"
grep -Eq '^[0-9:]{8}\.[0-9]{6} pid [0-9]+ conn [0-9]+ (->|<-) hello +id=0 len=[0-9]+ \{"seam":1' "$scratch/mon.txt" \
    || fail "monitor text: $(cat "$scratch/mon.txt")"
# off by default; only the server's own user; the accept filter first
run 4 monitor t.echo
[[ "$err" == *"monitoring is off on this server (ENOTSUP)"* || "$err" == *"monitoring is off on this server (SEAM_ENOTSUP)"* ]] \
    || fail "monitor of a server that does not allow it: $err"
run 4 monitor t.closed
run 2 monitor t.mon --pcap
usage_error "--pcap needs a value (FILE)" monitor
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
    chmod 755 "$SEAM_RUNTIME_DIR"
    "$seam" listen t.monu --allow-uid 65534 --monitorable >/dev/null &
    pids+=($!)
    wait_for t.monu
    # The build tree may sit where another user cannot read (a 0700 clone
    # directory): the tool and its libraries go where nobody can.
    mkdir -p "$scratch/lib"
    cp "$seam" "$scratch/seam-copy"
    ldd "$seam" | awk '/libseam/ {print $3}' | xargs -r cp -t "$scratch/lib"
    chmod -R a+rX "$scratch/seam-copy" "$scratch/lib"
    as_nobody() {
        setpriv --reuid=65534 --regid=65534 --clear-groups \
            env LD_LIBRARY_PATH="$scratch/lib" "$scratch/seam-copy" "$@"
    }
    status=0
    err=$(as_nobody monitor t.monu 2>&1) || status=$?
    [[ $status -eq 4 && "$err" == *"no permission to connect to $SEAM_RUNTIME_DIR/t.monu.sock"* ]] \
        || fail "socket permission: $status $err"
    chmod 777 "$SEAM_RUNTIME_DIR/t.monu.sock"
    status=0
    err=$(as_nobody monitor t.monu 2>&1) || status=$?
    [[ $status -eq 4 && "$err" == *"only the server's own user may monitor (SEAM_EACCES)"* ]] \
        || fail "monitor by another user: $status $err"
    as_nobody status t.monu >/dev/null || fail "another admitted user may ask for the status"
    chmod 700 "$SEAM_RUNTIME_DIR"
else
    echo "not root: the other-user monitor check is skipped"
fi

# ---- --json: one compact document, or one a line for streams ----

run 0 version --json
jq -e '.version == "'"$("$seam" version | sed 's/seam \([^,]*\),.*/\1/')"'" and .protocol == 1' <<<"$out" >/dev/null \
    || fail "version --json: $out"
run 0 -j -V
[[ "$out" == '{"version":'* ]] || fail "-j -V: $out"
run 0 -j encode '[1]'
[[ "$out" == '{"hex":"8101","bytes":2}' ]] || fail "encode -j: $out"
run 0 decode -j 'a2616101616282f93c00f6'
[[ "$out" == '{"a":1,"b":[{"$double":"1.0"},null]}' ]] || fail "decode -j: $out"

# call --json: {"reply": value}, one line; a remote error {"error": ...}.
run 0 call -j t.echo '{"a":[1,2]}'
[[ "$out" == '{"reply":{"a":[1,2]}}' ]] || fail "call -j: $out"
run 6 -j call t.plain 1
jq -e '.error.code == -95 and .error.name == "SEAM_ENOTSUP" and (.error.message | type) == "string"' \
    <<<"$out" >/dev/null || fail "remote error as JSON: $out"
run 0 send -j t.echo 1
[[ "$out" == '{"delivered":true}' ]] || fail "send -j: $out"

# A round trip through jq keeps every type, even where jq holds numbers
# as doubles: 1.0 stays a double, integers past 2^53 stay exact.
v='{"d":1.0,"z":-0.0,"h":0.5,"big":9007199254740993,"neg":-9223372036854775808,"u":{"$uint64":"18446744073709551615"},"t":{"$date":1767225600},"b":{"$data":"AAE="},"i":{"$uuid":"00112233-4455-6677-8899-aabbccddeeff"}}'
want=$("$seam" encode "$v")
got=$("$seam" call --json t.echo "$v" | jq -c .reply | "$seam" encode -) || fail "jq round trip"
[[ "$got" == "$want" ]] || fail "jq changed the value: $got != $want ($("$seam" call -j t.echo "$v"))"
got=$("$seam" decode -j "$want" | jq . | "$seam" encode -)
[[ "$got" == "$want" ]] || fail "decode -j | jq changed the value"

# listen --json: a "listening" line, then one line per message or request.
jlog=$SEAM_RUNTIME_DIR/json.log
"$seam" listen -j t.json --echo >"$jlog" &
pids+=($!)
wait_for t.json
"$seam" send t.json '{"x":1.5}'
"$seam" call t.json '[true]' >/dev/null
"$seam" flood t.json -n 2 -s 3 >/dev/null
jsonl "$jlog"
lines_hold "$jlog" '.event == "listening"' '.name == "t.json" and (.path | endswith("t.json.sock"))'
lines_hold "$jlog" '.event == "message" and .value != null' \
    '.value.x == 1.5 and .pid > 0 and .uid == '"$(id -u)"' and .time_us > 1700000000000000'
lines_hold "$jlog" '.event == "request"' '.value == [true]'
[[ $(jq -c 'select(.raw != null) | .raw' "$jlog" | sort -u) == '{"id":0,"len":3}'*'{"id":1,"len":3}' ]] \
    || fail "raw message lines: $(cat "$jlog")"

# ping, flood, watch: JSON lines with integer fields.
run 0 ping -j t.echo -c 2
printf '%s\n' "$out" >"$scratch/ping.jsonl"
jsonl "$scratch/ping.jsonl"
[[ $(jq -c 'select(.event == "pong") | .seq' <<<"$out" | tr '\n' ' ') == "0 1 " ]] || fail "ping -j: $out"
lines_hold "$scratch/ping.jsonl" '.event == "summary"' '.count == 2 and (.min_us | type) == "number" and .min_us <= .max_us'
run 0 flood -j t.echo -n 100 -s 8
jq -e '.event == "done" and .messages == 100 and .size == 8 and .elapsed_us > 0 and .messages_per_s > 0' \
    <<<"$out" >/dev/null || fail "flood -j: $out"
"$seam" watch -j t.ann -n 2 >"$scratch/watch.jsonl" || fail "watch -j"
jsonl "$scratch/watch.jsonl"
[[ $(jq -c 'select(.event == "message") | .value | keys' "$scratch/watch.jsonl" | sort -u) == '["tick"]' ]] \
    || fail "watch -j: $(cat "$scratch/watch.jsonl")"

echo "cli net: all passed"
