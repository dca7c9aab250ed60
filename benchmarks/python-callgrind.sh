#!/usr/bin/env bash
# Instructions per request of one Python server process, counted by
# callgrind: repeatable where timings on a shared machine are not.
#
#   benchmarks/python-callgrind.sh [wsgi-rs|granian] [N] [PATH]
#
# Starts the server (one worker) under valgrind with the benchmark app
# (benchmarks/python/app.py), warms it up with 500 requests (so wsgi-rs
# serves inline), zeroes the counters, sends N requests (default 2000)
# with `h2load --h1 -c 4`, dumps, and prints the instructions per request
# summed over every process of the server, and its calls of libc's malloc
# (granian's Rust side uses an allocator of its own, so its count says
# little). Needs the venv of .ci/python.sh
# (it installs the release wheel first, with benchmarks/python-wheel.sh),
# valgrind and h2load (nghttp2-client). On a loaded
# machine, valgrind's slowness can make an inline call of wsgi-rs look
# blocked, sending calls back to the thread pool mid-run (more
# instructions): RUST_LOG=wsgi_python=info KEEP=1 keeps the log, where
# that shows as a "blocked the event loop" line; rerun then.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER=${1:-wsgi-rs}
N=${2:-2000}
URL_PATH=${3:-/}
PORT=${PORT:-18291}
VENV=$(pwd)/${PYTHON_VENV:-target/python-venv}
# The release wheel, not CI's dev-profile one (WHEEL=installed keeps
# whatever is installed).
[ "${WHEEL:-}" = installed ] || [ "$SERVER" != wsgi-rs ] || PYTHON_VENV=$VENV benchmarks/python-wheel.sh
OUT=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] && echo "kept $OUT" || rm -rf "$OUT"' EXIT
cd benchmarks/python
case $SERVER in
    wsgi-rs) RUST_LOG=${RUST_LOG:-warn} valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$OUT/cg.%p" \
        "$VENV/bin/python" -c "import sys, wsgi_rs; sys.exit(wsgi_rs.main(['app:app', '--bind', '127.0.0.1:$PORT']))" \
        >"$OUT/log" 2>&1 & ;;
    granian) valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$OUT/cg.%p" \
        "$VENV/bin/python" "$VENV/bin/granian" --interface wsgi --host 127.0.0.1 --port "$PORT" --workers 1 \
        --log-level warning app:app >"$OUT/log" 2>&1 & ;;
    *) echo "usage: $0 [wsgi-rs|granian] [N] [PATH]" >&2; exit 2 ;;
esac
pid=$!
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.2; done
h2load --h1 -n 500 -c 4 "http://127.0.0.1:$PORT$URL_PATH" >/dev/null
# This run's valgrind processes only (others may run on the machine).
pids=$(callgrind_control 2>/dev/null | awk -v port="$PORT" '/^PID/ && ($0 ~ port || $0 ~ /app:app/) {sub(":", "", $2); print $2}')
for p in $pids; do callgrind_control -z "$p" >/dev/null; done
h2load --h1 -n "$N" -c 4 "http://127.0.0.1:$PORT$URL_PATH" | grep -E "^requests:"
for p in $pids; do callgrind_control -d "$p" >/dev/null 2>&1; done
sleep 1
kill -INT "$pid" 2>/dev/null || true
sleep 3
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
total=0
for f in "$OUT"/cg.*.1; do
    [ -f "$f" ] || continue
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
    total=$((total + ${ir:-0}))
done
# Calls of libc's malloc (Rust's allocations and Python's larger ones;
# pymalloc serves small Python objects without it), from the call
# records of the dumps (names may be compressed to "(id)" after their
# first mention).
mallocs=$(awk '
    /^cfn=/ { name = $0; sub(/^cfn=/, "", name)
              if (match(name, /^\([0-9]+\) /)) { id = substr(name, 1, RLENGTH - 1); name = substr(name, RLENGTH + 1); names[id] = name }
              else if (name in names) name = names[name]
              callee = name; next }
    /^fn=/  { n = $0; sub(/^fn=/, "", n)
              if (match(n, /^\([0-9]+\) /)) { id = substr(n, 1, RLENGTH - 1); names[id] = substr(n, RLENGTH + 1) }
              next }
    /^calls=/ { if (callee == "malloc") { split($0, c, /[= ]/); total += c[2] } }
    END { print total + 0 }' "$OUT"/cg.*.1)
echo "$SERVER $URL_PATH: $((total / N)) instructions per request, $(awk -v m="$mallocs" -v n="$N" 'BEGIN {printf "%.1f", m / n}') malloc calls per request (N=$N)"
