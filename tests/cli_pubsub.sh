#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_pubsub.sh SEAM - retained topics from the command line, each command a
# real process: seam listen --publish and --publish-stdin (fed from a pipe
# the test writes to when it wants a change), seam subscribe printing the
# retained value then each change with its seq, in text and JSON, and the
# usage errors and exit codes.
set -euo pipefail
seam=$1
# shellcheck source=live.sh
source "$(dirname "$0")/live.sh"
dir=$SEAM_RUNTIME_DIR

# lines_in FILE N: waits until FILE has N lines (10 s at most)
lines_in() {
    for _ in $(seq 200); do
        [[ -f "$1" && $(wc -l <"$1") -ge $2 ]] && return 0
        sleep 0.05
    done
    fail "$1 never had $2 lines: $(cat "$1" 2>/dev/null)"
}

mkfifo "$dir/pub"
"$seam" listen t.topics --publish 'battery=80' --publish-stdin <"$dir/pub" >"$dir/listen.out" &
pids+=($!)
exec 3>"$dir/pub"
wait_for t.topics
lines_in "$dir/listen.out" 2 # listening, published battery seq=1

# A subscriber gets the retained value at once, then each change.
"$seam" subscribe t.topics battery -n 3 >"$dir/sub.out" &
sub=$!
lines_in "$dir/sub.out" 1
[[ "$(sed -n 1p "$dir/sub.out")" == "battery seq=1 80" ]] || fail "retained: $(cat "$dir/sub.out")"
echo 'battery 79' >&3
echo 'battery {"level":78}' >&3
echo 'other 1' >&3
wait "$sub" || fail "subscribe exited $?"
[[ "$(sed -n 2p "$dir/sub.out")" == "battery seq=2 79" ]] || fail "change: $(cat "$dir/sub.out")"
[[ "$(sed -n 3p "$dir/sub.out")" == 'battery seq=3 {"level":78}' ]] || fail "change: $(cat "$dir/sub.out")"

# A late subscriber to a prefix gets every retained topic, as JSON lines.
"$seam" subscribe -j t.topics '*' -n 2 >"$dir/all.out"
jq -e -s '.[0] | .event == "update" and .topic == "battery" and .seq == 3 and .missed == 0
          and .value.level == 78' "$dir/all.out" >/dev/null || fail "json: $(cat "$dir/all.out")"
jq -e -s '.[1] | .topic == "other" and .seq == 1 and .value == 1' "$dir/all.out" >/dev/null \
    || fail "json: $(cat "$dir/all.out")"

# Usage errors exit 2, no server exits 3, a refused pattern says why.
status=0
"$seam" subscribe t.topics 'a*b' 2>"$dir/err" || status=$?
[[ $status -eq 2 && "$(cat "$dir/err")" == *"a*b"* ]] || fail "bad pattern: exit $status $(cat "$dir/err")"
status=0
"$seam" subscribe t.nobody x 2>/dev/null || status=$?
[[ $status -eq 3 ]] || fail "no server: exit $status"
status=0
"$seam" subscribe t.topics 2>/dev/null || status=$?
[[ $status -eq 2 ]] || fail "missing topic: exit $status"
status=0
"$seam" listen t.other --publish 'no-equals-sign' >/dev/null 2>"$dir/err" || status=$?
[[ $status -eq 2 && "$(cat "$dir/err")" == *"TOPIC=JSON"* ]] || fail "bad --publish: exit $status"
status=0
"$seam" listen t.other --publish 'bad*topic=1' >/dev/null 2>"$dir/err" || status=$?
[[ $status -eq 2 ]] || fail "bad --publish topic: exit $status $(cat "$dir/err")"
# --publish given once per topic retains each, in order.
"$seam" listen t.many --publish 'a=1' --publish 'b.c=2' --publish 'b.d="x"' >"$dir/many.out" &
many=$!
lines_in "$dir/many.out" 4
"$seam" subscribe t.many '*' -n 3 >"$dir/many.sub"
kill "$many"
wait "$many" 2>/dev/null || true
[[ "$(cat "$dir/many.sub")" == $'a seq=1 1\nb.c seq=1 2\nb.d seq=1 "x"' ]] \
    || fail "repeated --publish: $(cat "$dir/many.sub")"
exec 3>&-
echo "cli_pubsub: ok"
