# SPDX-License-Identifier: MIT
# live.sh - sourced by the shell tests that run real seam processes: a
# private runtime directory, processes killed and the directory removed on
# exit, and a wait for a name's socket to appear.
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

export SEAM_RUNTIME_DIR
SEAM_RUNTIME_DIR=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$SEAM_RUNTIME_DIR"
}
trap cleanup EXIT

# wait_for NAME: until NAME's socket exists (10 s at most).
wait_for() {
    for _ in $(seq 200); do
        [[ -S "$SEAM_RUNTIME_DIR/$1.sock" ]] && return 0
        sleep 0.05
    done
    fail "$1 never came up"
}
