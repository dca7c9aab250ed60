#!/usr/bin/env bash
# The Python side of wsgi-python (crates/wsgi-python): builds the wheel with
# maturin, installs it into a virtual environment with Flask, Django,
# granian and gunicorn, and runs the Python tests (unittest) against the
# installed `wsgi-rs` command over real sockets.
#
# The venv lives in target/python-venv (PYTHON_VENV overrides) and is kept
# between runs; pip reinstalls only what is missing. PYTHON picks the
# interpreter (default python3; CPython 3.9 or later).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${PYTHON_VENV:-target/python-venv}
WHEELS=target/wheels

if [ ! -x "$VENV/bin/python" ]; then
    echo "== python venv ($VENV)"
    "$PYTHON" -m venv "$VENV"
fi
echo "== pip install maturin flask django granian gunicorn"
"$VENV/bin/pip" install -q --disable-pip-version-check maturin flask django granian gunicorn

# The dev profile: it reuses the dependencies `cargo test` just built
# (only PyO3, built for an extension module, and the crate recompile),
# where a release build would compile everything again (~25 min on two
# cores). `benchmarks/python.sh` builds the release wheel it measures
# (WHEEL_PROFILE=release here does the same).
echo "== maturin build (the wsgi-rs wheel, ${WHEEL_PROFILE:-dev} profile)"
rm -f "$WHEELS"/wsgi_rs-*.whl
"$VENV/bin/maturin" build --profile "${WHEEL_PROFILE:-dev}" --locked -q -m crates/wsgi-python/Cargo.toml \
    -i "$VENV/bin/python" -o "$WHEELS"
"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$WHEELS"/wsgi_rs-*.whl

echo "== python tests (crates/wsgi-python/tests/python)"
VENV_PYTHON="$(cd "$VENV" && pwd)/bin/python"
cd crates/wsgi-python/tests/python
"$VENV_PYTHON" -m unittest -v test_frameworks test_wsgi test_hostile
