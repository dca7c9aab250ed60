#!/usr/bin/env bash
# The Python side of wsgi-python (crates/wsgi-python): builds the wheel with
# maturin, installs it into a virtual environment with Flask, Django,
# granian and gunicorn, and runs the Python tests (unittest) against the
# installed `wsgi-rs` command over real sockets.
#
# The venv lives in target/python-venv (PYTHON_VENV overrides) and is kept
# between runs; pip reinstalls only what is missing. PYTHON picks the
# interpreter (default python3; CPython 3.9 or later).
#
# A free-threaded CPython (3.14t or later), when PYTHON_FREETHREADED names
# one or `python3.14t` is on the PATH, gets a wheel and the same tests too
# (venv target/python-venv-ft); without one, that run is skipped, and
# said so. WSGI_REQUIRE_FREETHREADED=1 makes its absence a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

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

FT_PYTHON=${PYTHON_FREETHREADED:-$(command -v python3.14t || true)}
if [ -z "$FT_PYTHON" ]; then
    echo "== free-threaded CPython: none installed (set PYTHON_FREETHREADED); skipped"
    [ "${WSGI_REQUIRE_FREETHREADED:-0}" = 1 ] && { echo "WSGI_REQUIRE_FREETHREADED=1: failing" >&2; exit 1; }
    exit 0
fi
cd "$ROOT"
FT_VENV=${PYTHON_VENV_FT:-target/python-venv-ft}
echo "== free-threaded CPython: $FT_PYTHON ($FT_VENV)"
[ -x "$FT_VENV/bin/python" ] || "$FT_PYTHON" -m venv "$FT_VENV"
"$FT_VENV/bin/python" -c 'import sys, sysconfig; assert sysconfig.get_config_var("Py_GIL_DISABLED"), "not a free-threaded build"; print("GIL enabled at start:", sys._is_gil_enabled())'
"$FT_VENV/bin/pip" install -q --disable-pip-version-check maturin flask django
rm -f target/wheels-ft/wsgi_rs-*.whl
"$FT_VENV/bin/maturin" build --profile "${WHEEL_PROFILE:-dev}" --locked -q -m crates/wsgi-python/Cargo.toml \
    -i "$FT_VENV/bin/python" -o target/wheels-ft
"$FT_VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels-ft/wsgi_rs-*.whl
# Importing the module must leave the GIL off (it declares it needs none).
"$FT_VENV/bin/python" -c 'import sys, wsgi_rs; assert not sys._is_gil_enabled(), "importing wsgi_rs enabled the GIL"'
FT_VENV_PYTHON="$(cd "$FT_VENV" && pwd)/bin/python"
cd crates/wsgi-python/tests/python
"$FT_VENV_PYTHON" -m unittest -v test_frameworks test_wsgi test_hostile
