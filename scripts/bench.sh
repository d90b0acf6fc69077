#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench.sh - builds seam and its benchmarks in Release and runs the suite:
# call round trips, one-way throughput, idle connection memory, broadcast
# fan-out and allocations per message, each placement (both processes on
# CPU 0; CPU 0 and CPU 1) on its own. Writes bench.md and bench.jsonl.
#
#   scripts/bench.sh [--quick] [--out DIR] [--build DIR]
#
# --quick takes well under a minute (fewer samples, shorter runs); the full
# run takes a few minutes. Peers whose packages are missing are skipped
# (scripts/deps.sh --bench installs them). Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
out=build/bench/results
build=build/bench
while [[ $# -gt 0 ]]; do
    case "$1" in
    --quick) quick=(--quick) ;;
    --out) out=$2; shift ;;
    --build) build=$2; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEAM_BUILD_TESTS=OFF \
    -DSEAM_BUILD_EXAMPLES=OFF -DSEAM_BUILD_TOOLS=OFF -DSEAM_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

bin=$build/bench
mkdir -p "$out"
raw=$out/raw.jsonl
: >"$raw"
: >"$out/shm.md"
failed=0

# run PROGRAM ARGS...: appends the program's result lines, if it was built.
run() {
    local prog=$1
    shift
    if [[ ! -x $bin/$prog ]]; then
        return 0
    fi
    if ! "$bin/$prog" "${quick[@]}" "$@" >>"$raw"; then
        echo "bench.sh: $prog $* failed" >&2
        failed=1
    fi
}

placements=(same)
if [[ $(nproc) -ge 2 ]]; then
    placements+=(split)
else
    echo "bench.sh: one CPU only, the split placement is skipped" >&2
fi

start=$SECONDS
for p in "${placements[@]}"; do
    echo "== placement $p: call round trips (64 B)" >&2
    for prog in bench_raw bench_seam_poll bench_seam_uv bench_seam_ev bench_uvraw bench_evraw \
        bench_sdbus bench_zmq bench_nng; do
        run "$prog" --case rtt --size 64 --placement "$p"
    done
    for prog in bench_seam_poll bench_seam_uv; do
        run "$prog" --case rtt --size 64 --placement "$p" --timeout 5000
    done
    # The in-process transport: two threads placed as the processes are,
    # and both ends on one loop.
    run bench_inproc --case rtt --size 64 --placement "$p"
    run bench_inproc --case rtt --size 64 --placement "$p" --one-loop
    echo "== placement $p: one-way throughput" >&2
    for size in 64 4096 1048576; do
        run bench_raw --case tput --size "$size" --placement "$p"
        run bench_seam_poll --case tput --size "$size" --placement "$p"
        run bench_seam_poll --case tput --size "$size" --placement "$p" --direct
        run bench_seam_poll --case tput --size "$size" --placement "$p" --nocopy
        run bench_seam_poll --case tput --size "$size" --placement "$p" --typed
        run bench_inproc --case tput --size "$size" --placement "$p"
        run bench_inproc --case tput --size "$size" --placement "$p" --one-loop
        run bench_seam_uv --case tput --size "$size" --placement "$p"
        run bench_seam_ev --case tput --size "$size" --placement "$p"
        run bench_zmq --case tput --size "$size" --placement "$p"
        run bench_nng --case tput --size "$size" --placement "$p"
    done
    # Raw AF_UNIX, a bare shared ring, seam over its rings and over the
    # socket, and iceoryx (with its own RouDi), side by side: the table
    # goes to stderr and to shm.md beside the results.
    echo "== placement $p: shared memory (bench_shm)" >&2
    run bench_shm --placement "$p" 2> >(tee -a "$out/shm.md" >&2)
    echo "== placement $p: 16 MiB through the socket against as a sealed memfd" >&2
    run bench_memfd --placement "$p"
    echo "== placement $p: broadcast to 1,000 clients" >&2
    run bench_fanout --case broadcast --clients 1000 --size 64 --placement "$p"
    run bench_fanout --case broadcast --clients 1000 --size 65536 --placement "$p"
done

echo "== a subscription storm: 200 peers x 64 patterns over 1,024 retained topics" >&2
run bench_pubsub --clients 200 --placement same
echo "== idle connections" >&2
run bench_fanout --case idle --clients 10000 --placement same
echo "== allocations per message (counted, steady state)" >&2
run bench_alloc --case rtt --size 64
for size in 64 4096 1048576; do
    run bench_alloc --case tput --size "$size"
    run bench_alloc --case tput --size "$size" --nocopy
    run bench_alloc --case tput --size "$size" --typed
done
echo "== typed values: encode + decode in one process, seam and libcbor" >&2
run bench_codec --size 64

mode=full
if [[ ${#quick[@]} -gt 0 ]]; then
    mode=quick
fi
"$bin/bench_report" "$raw" "$out" "seam benchmarks ($mode run)"
{
    echo
    echo "## Environment"
    echo
    echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //'), $(nproc) online"
    echo "- kernel: $(uname -sr)"
    echo "- seam: $(git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), suite took $((SECONDS - start)) s"
} >>"$out/bench.md"
rm -f "$raw"
echo "bench.sh: wrote $out/bench.md and $out/bench.jsonl" >&2
exit $failed
