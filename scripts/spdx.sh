#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spdx.sh [--fix] [SRCDIR] - checks that every source file carries
# "SPDX-License-Identifier: MIT" in its first lines (C and headers, shell,
# CMake, Makefiles, scdoc, Python, valgrind suppressions) and lists those
# that do not; --fix adds the line to them, in each file's comment style,
# as a new first line (second after a #! line or a man page's title), and
# touches nothing else.
set -euo pipefail
fix=0
if [[ "${1:-}" == "--fix" ]]; then
    fix=1
    shift
fi
cd "${1:-$(dirname "$0")/..}"
spdx='SPDX-License-Identifier: MIT'

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files --cached --others --exclude-standard)
else
    mapfile -t files < <(find . -path ./build -prune -o -type f -print | sed 's|^\./||')
fi

# insert FILE AFTER LINE: LINE becomes line AFTER+1 of FILE.
insert() {
    local tmp
    tmp=$(mktemp)
    if [[ $2 -eq 0 ]]; then
        { printf '%s\n' "$3"; cat "$1"; } >"$tmp"
    else
        { head -n "$2" "$1"; printf '%s\n' "$3"; tail -n +"$(($2 + 1))" "$1"; } >"$tmp"
    fi
    cat "$tmp" >"$1" # keeps the file's mode
    rm -f "$tmp"
}

missing=()
checked=0
for f in "${files[@]}"; do
    [[ -f "$f" && ! -L "$f" ]] || continue
    case "$f" in
    *.c | *.h) style=c ;;
    *.scd) style=scd ;;
    *.sh | *.cmake | *.cmake.in | *.py | *.supp | CMakeLists.txt | */CMakeLists.txt | Makefile | */Makefile | .ci/*)
        style=hash ;;
    *) continue ;;
    esac
    checked=$((checked + 1))
    if head -n 3 "$f" | grep -q "$spdx"; then
        continue
    fi
    missing+=("$f")
    if [[ $fix -eq 0 ]]; then
        continue
    fi
    case $style in
    c) insert "$f" 0 "/* $spdx */" ;;
    scd) insert "$f" 1 "; $spdx" ;;
    hash)
        if [[ "$(head -c 2 "$f")" == '#!' ]]; then
            insert "$f" 1 "# $spdx"
        else
            insert "$f" 0 "# $spdx"
        fi
        ;;
    esac
done
[[ $checked -gt 0 ]] || { echo "no source files found"; exit 1; }
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "all $checked source files carry the SPDX line"
elif [[ $fix -eq 1 ]]; then
    echo "added the SPDX line to ${#missing[@]} of $checked source files"
else
    echo "without an SPDX-License-Identifier line in their first lines (scripts/spdx.sh --fix adds it):"
    printf '  %s\n' "${missing[@]}"
    exit 1
fi
