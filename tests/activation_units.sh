#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# activation_units.sh SEAM - the example units of examples/systemd, run by
# systemd's own socket activation tool (systemd-socket-activate binds the
# unit's socket, waits for a peer and starts the service's command with
# LISTEN_FDS and LISTEN_FDNAMES set): the service serves the passed
# socket, exits when idle, and is started again for the next peer.
set -euo pipefail
seam=$(readlink -f "$1")
src=$(cd "$(dirname "$0")/.." && pwd)
activate=$(command -v systemd-socket-activate || true)
if [[ -z "$activate" ]]; then
    echo "SKIP: no systemd-socket-activate"
    exit 77
fi
# shellcheck source=live.sh
source "$(dirname "$0")/live.sh"

unit_value() { # unit_value FILE KEY: the value of KEY= in FILE
    sed -n "s/^$2=//p" "$1" | head -n 1
}
socket_unit=$src/examples/systemd/seam-echo.socket
service_unit=$src/examples/systemd/seam-echo.service
listen=$(unit_value "$socket_unit" ListenStream)
fdname=$(unit_value "$socket_unit" FileDescriptorName)
read -r -a cmd <<<"$(unit_value "$service_unit" ExecStart)"
[[ "${cmd[0]}" == /usr/bin/seam && "${cmd[1]}" == listen ]] || fail "ExecStart: ${cmd[*]}"
[[ "${cmd[2]}" == "$fdname" ]] || fail "the service serves ${cmd[2]}, the socket is named $fdname"
cmd[0]=$seam
# a shorter idle time than the example's 30 s
for i in "${!cmd[@]}"; do
    [[ "${cmd[$i]}" == --idle-exit ]] && cmd[i + 1]=300
done

# %t is the user's runtime directory; the names resolve there when
# SEAM_RUNTIME_DIR is unset, as for a user service.
export XDG_RUNTIME_DIR=$SEAM_RUNTIME_DIR/run
mkdir -m 0700 "$XDG_RUNTIME_DIR" "$XDG_RUNTIME_DIR/seam" # DirectoryMode=0700
sock=${listen//%t/$XDG_RUNTIME_DIR}
[[ "$sock" == "$XDG_RUNTIME_DIR/seam/$fdname.sock" ]] || fail "ListenStream is not $fdname's socket: $listen"
out=$XDG_RUNTIME_DIR/service.out
# every seam process runs without SEAM_RUNTIME_DIR (live.sh keeps it for
# its cleanup)
no_dir() {
    env -u SEAM_RUNTIME_DIR "$@"
}

start_service() {
    # The tool passes on only the variables named (a user service has
    # XDG_RUNTIME_DIR from the user's manager).
    no_dir "$activate" -l "$sock" --fdname="$fdname" -E XDG_RUNTIME_DIR "${cmd[@]}" -j >>"$out" 2>&1 &
    service=$!
    pids+=($service)
    for _ in $(seq 200); do
        [[ -S "$sock" ]] && return 0
        sleep 0.05
    done
    fail "systemd-socket-activate never listened on $sock"
}

# The first call starts the service, which answers on the passed socket.
start_service
reply=$(no_dir "$seam" call "$fdname" '{"hello":1}')
[[ "$reply" == *'"hello": 1'* ]] || fail "reply: $reply; service: $(cat "$out")"
grep -q '"activated":true' "$out" || fail "not served on the passed socket: $(cat "$out")"
# No peer: it exits by itself, successfully.
for _ in $(seq 200); do
    kill -0 "$service" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$service" 2>/dev/null && fail "the service did not exit when idle"
wait "$service" || fail "the idle exit was not a success: $(cat "$out")"
grep -q '"event":"idle"' "$out" || fail "no idle event: $(cat "$out")"
# Started again for the next peer (the real systemd keeps its socket; this
# tool makes a new one, so the stale one of the first run is removed).
rm -f "$sock"
start_service
reply=$(no_dir "$seam" call "$fdname" '{"again":2}')
[[ "$reply" == *'"again": 2'* ]] || fail "second reply: $reply"
[[ $(grep -c '"activated":true' "$out") -eq 2 ]] || fail "second start: $(cat "$out")"
echo "ok: the example units, activated twice"
