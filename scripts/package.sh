#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# package.sh [OUTDIR] - builds the Debian packages (libseam0, libseam-dev,
# seam) into OUTDIR (default build/packages) from a tree of their own,
# configured for /usr and with libraries from distribution packages only.
# SEAM_PACKAGE_MAINTAINER="Name <address>" sets the Maintainer field (the
# default is a placeholder, "the seam authors <seam@seam.invalid>"). The
# packages hold the poll, libuv and libev adapters; the dispatch and
# CFRunLoop adapters need a Swift toolchain and are not packaged.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build/packages}")
build=${SEAM_PACKAGE_BUILD:-build/pkg}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DSEAM_WERROR=ON -DSEAM_INSTALL_RPATH=OFF -DSEAM_WITH_SWIFT=OFF -DSEAM_DEBIAN_DOCS=ON \
    -DSEAM_BUILD_TESTS=OFF -DSEAM_BUILD_EXAMPLES=OFF -DSEAM_BUILD_BENCH=OFF \
    ${SEAM_PACKAGE_MAINTAINER:+"-DSEAM_PACKAGE_MAINTAINER=$SEAM_PACKAGE_MAINTAINER"} >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
mkdir -p "$out"
(cd "$build" && cpack -G DEB -B "$out/cpack" >/dev/null)
mv "$out"/cpack/*.deb "$out/"
rm -rf "$out/cpack"
ls "$out"/*.deb
