#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run-tests.sh [BUILD_DIR] - tests the Python package against the C tool and
# examples built in BUILD_DIR (default build/rel): a virtual environment
# under build/, cbor2 and pytest from PyPI, the package installed from this
# directory as a user would (pip install ./clients/python), then pytest.
# The exit status is pytest's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build/rel}
build=$(cd "$build" && pwd)
shift || true
venv=$root/build/python-venv

if [[ ! -x "$build/tools/seam" ]]; then
    echo "run-tests.sh: $build/tools/seam is not built" >&2
    exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade cbor2 pytest
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$here"

cd "$here"
# Run from the tests' own directory so the installed package, not the
# source tree, is the one imported.
SEAM_BUILD="$build" exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
