#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh - the whole test suite: a -Werror build and its tests, the same
# tests under AddressSanitizer+UBSan (the -Werror build also runs the adapter
# tests under valgrind), the Python package's tests against that build, the
# fuzz targets for a short bounded run, a formatting check, and the
# installed library as a consumer meets it (tests/consumer.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)
fuzz_seconds=${SEAM_FUZZ_SECONDS:-30}

scripts/deps.sh

step() { printf '\n==== %s\n' "$*"; }

step "format check"
mapfile -t sources < <(git ls-files '*.c' '*.h' 2>/dev/null || find core adapters include tools tests examples bench -name '*.[ch]')
clang-format --dry-run -Werror "${sources[@]}"

step "build (gcc, -Werror)"
cmake -S . -B build/ci -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEAM_WERROR=ON >/dev/null
cmake --build build/ci -j "$jobs"

step "tests (adapter tests also under valgrind memcheck)"
ctest --test-dir build/ci --output-on-failure -j "$jobs"

step "Python package (clients/python) against the C tool and examples"
clients/python/run-tests.sh build/ci

step "build and tests under AddressSanitizer+UBSan"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSEAM_WERROR=ON -DSEAM_SANITIZE=ON >/dev/null
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build/asan --output-on-failure -j "$jobs"

step "fuzz targets (${fuzz_seconds}s each)"
cmake -S . -B build/fuzz -G Ninja -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=Debug \
    -DSEAM_FUZZ=ON -DSEAM_BUILD_TOOLS=OFF -DSEAM_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/fuzz -j "$jobs" --target fuzz_decode fuzz_frame fuzz_conn fuzz_shm
for t in decode frame conn shm; do
    work=$(mktemp -d)
    mkdir "$work/corpus" "$work/artifacts"
    cp "$root/tests/corpus/$t/"* "$work/corpus/"
    status=0
    build/fuzz/tests/fuzz/fuzz_$t -max_total_time="$fuzz_seconds" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        "$work/corpus" >"$work/log" 2>&1 || status=$?
    grep -E '^stat::number_of_executed_units' "$work/log" | sed "s/^/fuzz_$t: /" || true
    if [[ $status -ne 0 ]]; then
        tail -40 "$work/log"
        echo "fuzz_$t failed (exit $status); inputs kept in $work/artifacts"
        exit 1
    fi
    rm -rf "$work"
done

step "consumer: installed into a temporary prefix, used from outside the tree, packaged"
tests/consumer.sh

step "the demo (the README's other command) runs to its end"
scripts/demo.sh >"$root/build/demo.log" 2>&1 || { tail -40 "$root/build/demo.log"; echo "demo failed"; exit 1; }
tail -3 "$root/build/demo.log"

step "all passed"
