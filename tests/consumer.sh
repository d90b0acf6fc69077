#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# consumer.sh - seam as someone else's program meets it: installed into a
# temporary prefix, then used from outside the source tree by
#   (a) a CMake project (find_package(seam), seam::uv): a libuv server;
#   (b) a plain Makefile (pkg-config seam-poll): a client calling (a);
#   (c) the installed tool: `seam --version`, `seam call` against (a);
#   (d) with a Swift toolchain: dispatch and CFRunLoop clients through
#       seam::dispatch / seam::cf and through pkg-config;
#   (e) examples/ as a project of its own;
# with the docs and man pages where they say they are, a run path from
# the recipe seam(3) gives, and find_package() naming missing components;
# then the tool again from a moved prefix, and the Debian packages: built
# with scripts/package.sh, their contents and dependencies checked,
# unpacked into a throw-away root and the tool run from there, and lintian
# (when installed) finding no errors in them.
# Everything happens in one temporary directory, removed on exit.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/seam-consumer.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "consumer: FAIL: $*" >&2
    exit 1
}
note() { printf 'consumer: %s\n' "$*"; }
export SEAM_RUNTIME_DIR=$work/run
mkdir -m 700 "$SEAM_RUNTIME_DIR"
# Nothing may come from the environment: the programs find seam by their
# run paths and build files alone.
unset LD_LIBRARY_PATH CMAKE_PREFIX_PATH PKG_CONFIG_PATH CPATH LIBRARY_PATH
jobs=$(nproc)

wait_for() {
    for _ in $(seq 200); do
        [[ -S "$SEAM_RUNTIME_DIR/$1.sock" ]] && return 0
        sleep 0.05
    done
    fail "$1 never came up"
}

# ---- install: configured for /usr/local, installed elsewhere ----------------
note "building and installing into a temporary prefix"
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEAM_WERROR=ON \
    -DSEAM_BUILD_TESTS=OFF -DSEAM_BUILD_EXAMPLES=OFF -DSEAM_BUILD_BENCH=OFF >"$work/configure.log"
cmake --build "$work/build" -j "$jobs" >"$work/build.log" || { cat "$work/build.log"; fail "build"; }
prefix=$work/prefix
cmake --install "$work/build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name seam.pc -printf '%h\n')
libdir=$(dirname "$pc")
[[ -n "$pc" ]] || fail "no seam.pc installed"
for page in man1/seam.1 man3/seam.3 man3/seam_poll.3 man3/seam_uv.3 man3/seam_ev.3; do
    [[ -s "$prefix/share/man/$page" ]] || fail "man page $page not installed"
    man -l "$prefix/share/man/$page" >/dev/null 2>&1 || [[ ! -x /usr/bin/man ]] || fail "man cannot read $page"
done
[[ -s "$prefix/share/doc/seam/LICENSE" ]] || fail "LICENSE not installed"
# The reference the man pages point to is installed where they say.
for d in api protocol json cli adapters adapter-uv adapter-ev; do
    [[ -s "$prefix/share/doc/seam/$d.md" ]] || fail "docs/$d.md not installed in share/doc/seam"
done
for page in man1/seam.1 man3/seam.3 man3/seam_uv.3; do
    if grep -q 'docs/[a-z-]*\.md' "$prefix/share/man/$page"; then
        fail "$page names a file of the source tree: $(grep -o 'docs/[a-z-]*\.md' "$prefix/share/man/$page" | head -1)"
    fi
    grep -q 'share/doc/seam' "$prefix/share/man/$page" || fail "$page does not say where the docs are installed"
done
# Every public function's name finds the page of its header.
for a in seam_conn_call:seam seam_server_listen:seam seam_poll_fds:seam_poll seam_uv_attach:seam_uv; do
    [[ "$(cat "$prefix/share/man/man3/${a%%:*}.3")" == ".so man3/${a#*:}.3" ]] \
        || fail "man3/${a%%:*}.3 is not an alias of ${a#*:}(3)"
    if [[ -x /usr/bin/man ]]; then
        MANPATH=$prefix/share/man man -w "${a%%:*}" >/dev/null 2>&1 || fail "man ${a%%:*} finds nothing"
        MANPATH=$prefix/share/man man "${a%%:*}" 2>/dev/null | grep -q "IPC messaging\|${a#*:}" \
            || fail "man ${a%%:*} does not show ${a#*:}(3)"
    fi
done

# The .pc files carry the prefix given at install time, not /usr/local.
export PKG_CONFIG_PATH=$pc
for m in seam seam-poll seam-uv seam-ev; do
    pkg-config --exists "$m" || fail "pkg-config $m: $(pkg-config --print-errors --exists "$m" 2>&1)"
done
[[ "$(pkg-config --variable=prefix seam)" == "$prefix" ]] || fail "seam.pc prefix: $(pkg-config --variable=prefix seam)"
[[ "$(pkg-config --libs seam-poll)" == *-lseam-poll*-lseam* ]] || fail "seam-poll libs: $(pkg-config --libs seam-poll)"
[[ "$(pkg-config --libs seam-uv)" == *-lseam-uv*-luv* ]] || fail "seam-uv libs: $(pkg-config --libs seam-uv)"
[[ "$(pkg-config --libs seam-ev)" == *-lseam-ev*-lev* ]] || fail "seam-ev libs: $(pkg-config --libs seam-ev)"

# ---- (a) the CMake consumer: a libuv server --------------------------------
note "(a) find_package(seam) + seam::uv, built outside the tree"
cp -r "$src/tests/consumer/uv_server" "$work/uv_server"
cmake -S "$work/uv_server" -B "$work/uv_server/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    >"$work/uv_server.log" || { cat "$work/uv_server.log"; fail "(a) configure"; }
cmake --build "$work/uv_server/build" >>"$work/uv_server.log" || { cat "$work/uv_server.log"; fail "(a) build"; }
"$work/uv_server/build/uv_server" consumer.sum >"$work/server.out" 2>&1 &
server=$!
pids+=("$server")
wait_for consumer.sum

# ---- find_package() asked for what is not there ----------------------------
# The failure names the component and why, not only "seam_FOUND FALSE".
missing_components() { # PREFIX COMPONENTS -> the configure output (fails if it configures)
    local dir=$work/missing.$RANDOM
    mkdir -p "$dir"
    printf '%s\n' 'cmake_minimum_required(VERSION 3.25)' 'project(m LANGUAGES C)' \
        'find_package(seam REQUIRED COMPONENTS ${WANT})' >"$dir/CMakeLists.txt"
    if cmake -S "$dir" -B "$dir/build" -DCMAKE_PREFIX_PATH="$1" "-DWANT=$2" >"$dir/log" 2>&1; then
        fail "find_package(seam COMPONENTS $2) succeeded"
    fi
    tr -s ' \n' ' ' <"$dir/log"
}
note "find_package(seam COMPONENTS uv bogus) names the missing component"
out=$(missing_components "$prefix" "uv;bogus")
[[ "$out" == *"missing component(s): bogus (no such component"* ]] || fail "no message naming bogus: $out"
[[ "$out" != *"uv ("* ]] || fail "uv reported missing: $out"

# ---- (b) the Makefile consumer: a poll() client ----------------------------
note "(b) make + pkg-config seam-poll"
cp -r "$src/tests/consumer/poll_client" "$work/poll_client"
make -C "$work/poll_client" LDFLAGS="-Wl,-rpath,$libdir" >"$work/poll_client.log" 2>&1 \
    || { cat "$work/poll_client.log"; fail "(b) build"; }
out=$("$work/poll_client/client" consumer.sum) || fail "(b) client: $out"
[[ "$out" == "sum 42 by uv" ]] || fail "(b) client said: $out"
# Without a run path the installed libraries are not found (what README and
# seam(3) say); with the one seam(3) derives from pkg-config they are.
make -C "$work/poll_client" -B >>"$work/poll_client.log" 2>&1 || fail "(b) build without a run path"
if "$work/poll_client/client" consumer.sum >/dev/null 2>&1; then
    fail "(b) the client found the temporary prefix's libraries without a run path"
fi
rpath=$(pkg-config --libs-only-L seam-poll | sed 's/-L/-Wl,-rpath,/g')
if [[ -x /usr/bin/man ]]; then
    LC_ALL=C MANWIDTH=200 man -l "$prefix/share/man/man3/seam.3" 2>/dev/null \
        | grep -qF "\$(pkg-config --libs-only-L seam-uv | sed 's/-L/-Wl,-rpath,/g')" \
        || fail "seam(3) lacks the run path recipe"
fi
make -C "$work/poll_client" -B LDFLAGS="$rpath" >>"$work/poll_client.log" 2>&1 || fail "(b) build with the documented run path"
out=$("$work/poll_client/client" consumer.sum) || fail "(b) client with the documented run path: $out"
[[ "$out" == "sum 42 by uv" ]] || fail "(b) client with the documented run path said: $out"
# The in-process transport from the installed package: one loop, then two
# threads.
note "(b) make + pkg-config seam-poll: an in-process pair"
cp -r "$src/tests/consumer/inproc_pair" "$work/inproc_pair"
make -C "$work/inproc_pair" LDFLAGS="$rpath" >"$work/inproc_pair.log" 2>&1 \
    || { cat "$work/inproc_pair.log"; fail "(b) in-process pair build"; }
out=$("$work/inproc_pair/pair") || fail "(b) in-process pair: $out"
[[ "$out" == "inproc sum 42, 42" ]] || fail "(b) in-process pair said: $out"

# ---- (c) the installed tool -------------------------------------------------
note "(c) the installed seam tool"
version=$("$prefix/bin/seam" --version) || fail "seam --version"
[[ "$version" == "seam $(pkg-config --modversion seam)"* ]] || fail "seam --version: $version"
reply=$("$prefix/bin/seam" call consumer.sum '{"a":1,"b":2}') || fail "seam call: $reply"
[[ "$(tr -d ' \n' <<<"$reply")" == '{"sum":3,"by":"uv"}' ]] || fail "seam call replied: $reply"

# ---- (d) the toolchain adapters, when they were built ----------------------
for a in dispatch cf; do
    if [[ ! -f "$libdir/cmake/seam/seam-${a}Targets.cmake" ]]; then
        note "(d) no $a adapter installed (no Swift toolchain found): skipped"
        continue
    fi
    note "(d) find_package(seam COMPONENTS $a) + seam::$a, and pkg-config seam-$a"
    cp -r "$src/tests/consumer/${a}_client" "$work/${a}_client"
    cmake -S "$work/${a}_client" -B "$work/${a}_client/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
        >"$work/$a.log" || { cat "$work/$a.log"; fail "(d) $a configure"; }
    cmake --build "$work/${a}_client/build" >>"$work/$a.log" || { cat "$work/$a.log"; fail "(d) $a build"; }
    out=$("$work/${a}_client/build/${a}_client" consumer.sum) || fail "(d) $a client: $out"
    [[ "$out" == *"sum 42" ]] || fail "(d) $a client said: $out"
    # The options the target carries suit clang too (the toolchain's own
    # compiler family), not only the compiler seam was built with.
    if command -v clang >/dev/null; then
        CC=clang cmake -S "$work/${a}_client" -B "$work/${a}_client/build-clang" -G Ninja \
            -DCMAKE_PREFIX_PATH="$prefix" >>"$work/$a.log" || { cat "$work/$a.log"; fail "(d) $a clang configure"; }
        cmake --build "$work/${a}_client/build-clang" >>"$work/$a.log" || { cat "$work/$a.log"; fail "(d) $a clang build"; }
        out=$("$work/${a}_client/build-clang/${a}_client" consumer.sum) || fail "(d) $a clang client: $out"
    fi
    # shellcheck disable=SC2046 # pkg-config output is a list of flags
    cc -std=c11 -Wall -Werror $(pkg-config --cflags "seam-$a") -o "$work/${a}_client/pc_client" \
        "$work/${a}_client/client.c" $(pkg-config --libs "seam-$a") -Wl,-rpath,"$libdir" \
        || fail "(d) $a client built with pkg-config seam-$a"
    out=$("$work/${a}_client/pc_client" consumer.sum) || fail "(d) $a pkg-config client: $out"
    [[ "$out" == *"sum 42" ]] || fail "(d) $a pkg-config client said: $out"
done

# ---- (e) the examples as a project of their own --------------------------
# examples/CMakeLists.txt is a template: it builds against the installed
# package, without warnings under -Wall -Wextra.
note "(e) examples/ built against the prefix"
cp -r "$src/examples" "$work/examples"
cmake -S "$work/examples" -B "$work/examples/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS=-Werror >"$work/examples.log" 2>&1 || { cat "$work/examples.log"; fail "(e) configure"; }
cmake --build "$work/examples/build" >>"$work/examples.log" 2>&1 || { cat "$work/examples.log"; fail "(e) build"; }
for e in poll_echo uv_server ev_client; do
    [[ -x "$work/examples/build/$e" ]] || fail "(e) $e not built"
done
status=0
"$work/examples/build/poll_echo" >/dev/null 2>&1 || status=$?
[[ $status -eq 2 ]] || fail "(e) poll_echo without arguments exited $status, not 2 (its usage)"

# The server leaves cleanly when told to (its loop closes with nothing left).
out=$("$prefix/bin/seam" call consumer.sum '{"stop":true}') || fail "seam call stop: $out"
status=0
wait "$server" || status=$?
pids=()
[[ $status -eq 0 ]] || fail "(a) server exited $status: $(cat "$work/server.out")"

# ---- the tool from a moved prefix --------------------------------------------
note "the tool from a moved prefix"
mv "$prefix" "$work/moved"
"$work/moved/bin/seam" --version >/dev/null || fail "seam from a moved prefix does not start"
mv "$work/moved" "$prefix"

# ---- the Debian packages -----------------------------------------------------
note "Debian packages"
SEAM_PACKAGE_BUILD=$work/pkg-build "$src/scripts/package.sh" "$work/debs" >"$work/package.log" 2>&1 \
    || { cat "$work/package.log"; fail "package.sh"; }
ver=$(pkg-config --modversion seam)
deb() { echo "$work/debs/$1_${ver}-1_$(dpkg --print-architecture).deb"; }
for p in libseam0 libseam-dev seam; do
    [[ -f "$(deb "$p")" ]] || fail "no package $p: $(ls "$work/debs")"
done
contents() { dpkg-deb -c "$(deb "$1")" | awk '{print $6}'; }
# (The listing is read whole first: grep -q stopping early would make
# dpkg-deb die of SIGPIPE and the pipeline fail.)
has() {
    local list
    list=$(contents "$1")
    grep -qx "./usr/$2" <<<"$list" || fail "$1 lacks /usr/$2"
}
lacks() {
    local list
    list=$(contents "$1")
    if grep -q "$2" <<<"$list"; then fail "$1 holds $2"; fi
}
multiarch=lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for l in seam seam-poll seam-uv seam-ev; do
    has libseam0 "$multiarch/lib$l.so.0"
    has libseam-dev "$multiarch/lib$l.so"
    has libseam-dev "$multiarch/lib$l.a"
    has libseam-dev "$multiarch/pkgconfig/$l.pc"
done
for f in seam.h seam/loop.h seam/poll.h seam/uv.h seam/ev.h; do
    has libseam-dev "include/$f"
done
has libseam-dev "$multiarch/cmake/seam/seamConfig.cmake"
has libseam-dev "$multiarch/cmake/seam/seam-uvTargets.cmake"
has libseam-dev share/man/man3/seam.3.gz
has libseam-dev share/man/man3/seam_uv.3.gz
has seam bin/seam
has seam share/man/man1/seam.1.gz
for p in libseam0 libseam-dev seam; do
    has "$p" "share/doc/$p/copyright"
    has "$p" "share/doc/$p/changelog.Debian.gz"
done
for d in api protocol json adapters adapter-uv adapter-ev; do
    has libseam-dev "share/doc/libseam-dev/$d.md"
done
has seam share/doc/seam/cli.md
has libseam-dev share/man/man3/seam_conn_call.3.gz
lacks libseam-dev adapter-dispatch
lacks libseam-dev adapter-cf
# Nothing from the build machine's toolchain, no headers in the runtime.
lacks libseam0 include/
lacks libseam0 '\.so$'
# (seam_poll_dispatch.3 is the poll adapter's function, not the adapter.)
for piece in dispatch.h libseam-dispatch seam-dispatch seam_dispatch cfrunloop libseam-cf seam-cf; do
    lacks libseam-dev "$piece"
done

depends() { dpkg-deb -f "$(deb "$1")" Depends; }
for d in libc6 libcbor0.8 libjansson4 libuv1 libev4; do
    [[ "$(depends libseam0)" == *"$d "* ]] || fail "libseam0 does not depend on $d: $(depends libseam0)"
done
for d in "libseam0 (= $ver-1)" libcbor-dev libjansson-dev libuv1-dev libev-dev pkg-config; do
    [[ "$(depends libseam-dev)" == *"$d"* ]] || fail "libseam-dev does not depend on $d: $(depends libseam-dev)"
done
[[ "$(depends seam)" == *"libseam0 (= $ver-1)"* ]] || fail "seam does not depend on libseam0: $(depends seam)"
dpkg-deb -I "$(deb libseam0)" shlibs | grep -q "^libseam 0 libseam0" || fail "libseam0 has no shlibs entry"

# Every dependency resolves on this system (apt's simulation; nothing is
# installed).
apt-get install -s "$(deb libseam0)" "$(deb libseam-dev)" "$(deb seam)" >"$work/apt.log" 2>&1 \
    || { cat "$work/apt.log"; fail "the packages cannot be installed together"; }

# Unpacked into a throw-away root, the packaged pieces fit together.
root=$work/root
for p in libseam0 libseam-dev seam; do
    dpkg -x "$(deb "$p")" "$root"
done
LD_LIBRARY_PATH=$root/usr/$multiarch "$root/usr/bin/seam" --version | grep -q "^seam $ver" \
    || fail "the packaged tool does not start"
[[ "$(grep '^prefix=' "$root/usr/$multiarch/pkgconfig/seam-uv.pc")" == "prefix=/usr" ]] \
    || fail "packaged seam-uv.pc: $(grep '^prefix=' "$root/usr/$multiarch/pkgconfig/seam-uv.pc")"
if readelf -d "$root/usr/bin/seam" | grep -Eq 'RPATH|RUNPATH'; then
    fail "the packaged tool carries a run path"
fi
# Stripped: no debugging sections in what is installed.
for f in "$root/usr/bin/seam" "$root/usr/$multiarch/libseam.so.0"; do
    if readelf -S "$(readlink -f "$f")" | grep -q '\.debug_info'; then
        fail "$f is not stripped"
    fi
done
# A component this installation lacks (the packages have no dispatch
# adapter) is named in find_package()'s failure.
out=$(missing_components "$root/usr" "poll;dispatch")
[[ "$out" == *"missing component(s): dispatch (not built into this installation"* ]] \
    || fail "no message naming dispatch: $out"
# lintian finds no errors (warnings are reported, not failed on).
if command -v lintian >/dev/null; then
    lintian --no-tag-display-limit "$work"/debs/*.deb >"$work/lintian.log" 2>&1 || true
    if grep -q '^E:' "$work/lintian.log"; then
        cat "$work/lintian.log"
        fail "lintian reports errors"
    fi
    note "lintian: no errors ($(grep -c '^W:' "$work/lintian.log" || true) warnings)"
else
    note "lintian not installed: the packages' lint is not checked"
fi
note "all passed"
