#!/usr/bin/env bash
# Builds the release wheel of wsgi-rs and installs it into the venv of
# .ci/python.sh (PYTHON_VENV, default target/python-venv): what
# benchmarks/python.sh and benchmarks/python-callgrind.sh measure. CI
# installs a dev-profile wheel there (debug assertions, about 8× the
# instructions per request), so each measurement installs this one first;
# cargo's cache makes a rebuild take about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PYTHON_VENV:-target/python-venv}
[ -x "$VENV/bin/maturin" ] || { echo "$VENV/bin/maturin is missing: run .ci/python.sh first" >&2; exit 2; }
echo "== maturin build --release"
rm -f target/wheels-release/wsgi_rs-*.whl
"$VENV/bin/maturin" build --release --locked -q -m crates/wsgi-python/Cargo.toml \
    -i "$VENV/bin/python" -o target/wheels-release
"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels-release/wsgi_rs-*.whl
