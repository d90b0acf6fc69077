#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_stream.sh SEAM - streaming replies from the command line, each
# command a real process: `seam listen --stream N` answers a caller that
# asks with N intermediate replies then its payload, one that does not
# with the payload alone; `seam call --more` prints each reply as a line.
set -euo pipefail
seam=$1
# shellcheck source=live.sh
source "$(dirname "$0")/live.sh"

"$seam" listen t.stream --stream 3 --quiet >/dev/null &
pids+=($!)
wait_for t.stream

# --more: three intermediate replies, then the final, one JSON a line.
out=$("$seam" call --more t.stream '{"a":1}') || fail "call --more"
want=$'{"seq":0}\n{"seq":1}\n{"seq":2}\n{"a":1}'
[[ "$out" == "$want" ]] || fail "call --more printed: $out"

# --json: intermediate replies as {"more": ...}, the final as {"reply": ...}.
out=$("$seam" call --json --more t.stream '[true]') || fail "call --json --more"
want=$'{"more":{"seq":0}}\n{"more":{"seq":1}}\n{"more":{"seq":2}}\n{"reply":[true]}'
[[ "$out" == "$want" ]] || fail "call --json --more printed: $out"

# Without --more the caller did not ask: one reply, no intermediate ones.
out=$("$seam" call t.stream '{"a":2}') || fail "call without --more"
[[ "$out" == $'{\n  "a": 2\n}' ]] || fail "call without --more printed: $out"

# --stream takes a count of at least 1.
status=0
"$seam" listen t.bad --stream 0 >/dev/null 2>&1 || status=$?
[[ $status -eq 2 ]] || fail "--stream 0: exit $status, wanted 2"
echo "cli stream: ok"
