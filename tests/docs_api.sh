#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# docs_api.sh SRCDIR - every public function is named in full in the docs:
# those of seam.h and the adapters' headers in docs/api.md, the adapter
# contract's (seam/loop.h) in docs/adapters.md, so that a search for a
# function's name finds its documentation.
set -euo pipefail
cd "$1"
names() {
    grep -ho '^SEAM_EXPORT [^(]*(' "$@" | sed -E 's/.*[ *]([A-Za-z_0-9]+)\($/\1/' | sort -u
}
status=0
count=0
mapfile -t headers < <(ls include/seam.h include/seam/*.h | grep -v '/loop\.h$')
for f in $(names "${headers[@]}"); do
    count=$((count + 1))
    grep -qw "$f" docs/api.md || { echo "docs/api.md does not name $f"; status=1; }
done
for f in $(names include/seam/loop.h); do
    count=$((count + 1))
    grep -qw "$f" docs/adapters.md || { echo "docs/adapters.md does not name $f"; status=1; }
done
[[ $count -gt 50 ]] || { echo "found only $count public functions: is the SEAM_EXPORT pattern stale?"; exit 1; }
[[ $status -ne 0 ]] || echo "all $count public functions are named in the docs"
exit $status
