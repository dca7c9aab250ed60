#!/usr/bin/env bash
# Soak test: a mixed workload against the release build of the test server
# (tests/src/bin/load_server.rs) for N minutes on loopback, sampling the
# server's resident memory and open file descriptors every few seconds.
#
#   scripts/soak.sh                    # 2 minutes
#   scripts/soak.sh --minutes 10 --rss-growth-mib 32
#   scripts/soak.sh --seconds 30       # a quick check
#
# The workload, all at once: hello (wrk), short streams of 5 chunks 10 ms
# apart (wrk), 64 KiB uploads (wrk), handler errors (wrk, 500 expected),
# slow responses of 200 ms (wrk), and clients that leave in the middle of a
# 10 s stream (curl -m 0.2 in loops).
#
# Fails (exit 1) when: a response that should be 2xx is not, an error
# request is not answered 500, wrk reports socket errors or timeouts, the
# server dies, RSS at the end exceeds RSS after the warm-up by more than
# --rss-growth-mib, a body's close hook did not run, the descriptors do not
# return to their number before the load, or the server does not exit 0 on
# SIGTERM. Bounded: the load runs for exactly N minutes, then the server
# gets 10 s to drain.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=2
SECONDS_ONLY=
RSS_GROWTH_MIB=32
WORKERS=${WORKERS:-2}
SAMPLE_EVERY=5
WARM_UP=15
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) MINUTES=$2; shift 2 ;;
        --seconds) SECONDS_ONLY=$2; shift 2 ;;
        --rss-growth-mib) RSS_GROWTH_MIB=$2; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (use --minutes N, --seconds N, --rss-growth-mib M)" >&2; exit 2 ;;
    esac
done
DURATION=$((MINUTES * 60))
[ -z "$SECONDS_ONLY" ] || DURATION=$SECONDS_ONLY

for tool in wrk curl; do
    if ! command -v "$tool" >/dev/null; then
        apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null
    fi
done
cargo build --release -q -p wsgi-tests --bin load_server
BIN="${CARGO_TARGET_DIR:-target}/release/load_server"

WORK=$(mktemp -d)
SERVER_PID=
LOAD_PIDS=()
cleanup() {
    for pid in "${LOAD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

RUST_LOG="info,wsgi::access=off" NO_COLOR=1 "$BIN" --bind 127.0.0.1:0 --workers "$WORKERS" \
    >>"$WORK/server.log" 2>&1 &
SERVER_PID=$!
ADDR=
for _ in $(seq 1 100); do
    ADDR=$(grep -o 'listening on http://[0-9.:]*' "$WORK/server.log" | head -1 | sed 's|.*http://||') || true
    [ -n "$ADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { echo "the server did not start:"; cat "$WORK/server.log"; exit 1; }
URL="http://$ADDR"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
fds() { ls "/proc/$SERVER_PID/fd" | wc -l; }
stats() { curl -sf "$URL/stats"; }
field() { sed "s/.*\"$1\":\([0-9]*\).*/\1/"; }

FDS_BEFORE=$(fds)
RSS_START=$(rss_kib)

cat >"$WORK/upload.lua" <<'LUA'
wrk.method = "POST"
wrk.body = string.rep("u", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
LUA

echo "soak: ${DURATION}s against $URL ($WORKERS workers), sampling every ${SAMPLE_EVERY}s"
run_wrk() { # name connections path [extra args]
    local name=$1 connections=$2 path=$3
    shift 3
    wrk -t1 -c"$connections" -d"${DURATION}s" --timeout 5s "$@" "$URL$path" >"$WORK/$name.wrk" 2>&1 &
    LOAD_PIDS+=($!)
}
run_wrk hello 16 /hello
run_wrk stream 8 /stream/5
run_wrk upload 8 /upload -s "$WORK/upload.lua"
run_wrk error 2 /error
run_wrk slow 16 /slow/200
# Clients that read the start of a 10 s stream and vanish.
END_AT=$((SECONDS + DURATION))
for loop in 1 2 3 4; do
    (
        n=0
        while [ $SECONDS -lt $END_AT ]; do
            curl -s -m 0.2 "$URL/stream" -o /dev/null || true
            n=$((n + 1))
        done
        echo "$n" >"$WORK/abandon.$loop"
    ) &
    LOAD_PIDS+=($!)
done

printf '\n| time (s) | RSS (MiB) | fds | bodies started | bodies closed |\n|---|---|---|---|---|\n'
RSS_BASE=
RSS_LAST=
RSS_MAX=0
START=$SECONDS
PANICS=0
while [ $((SECONDS - START + SAMPLE_EVERY)) -le "$DURATION" ]; do
    sleep "$SAMPLE_EVERY"
    # The log has an error line per /error request: count panics, then
    # truncate it (appended to, so this does not leave a sparse file).
    PANICS=$((PANICS + $(grep -c 'panicked' "$WORK/server.log" || true)))
    : >"$WORK/server.log"
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "FAIL: the server died"; cat "$WORK/server.log"; exit 1
    fi
    t=$((SECONDS - START))
    rss=$(rss_kib)
    s=$(stats || echo '{}')
    printf '| %s | %.1f | %s | %s | %s |\n' "$t" "$(echo "$rss / 1024" | bc -l)" "$(fds)" \
        "$(echo "$s" | field started)" \
        "$(( $(echo "$s" | field completed) + $(echo "$s" | field aborted) + $(echo "$s" | field failed) ))"
    if [ -z "$RSS_BASE" ] && [ "$t" -ge "$WARM_UP" ]; then RSS_BASE=$rss; fi
    RSS_LAST=$rss
    [ "$rss" -gt "$RSS_MAX" ] && RSS_MAX=$rss
done
for pid in "${LOAD_PIDS[@]}"; do wait "$pid" || true; done
LOAD_PIDS=()

FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
[ "$PANICS" = 0 ] || fail "$PANICS panics in the server log"
echo
echo "| workload | requests | non-2xx | socket errors |"
echo "|---|---|---|---|"
for name in hello stream upload error slow; do
    out="$WORK/$name.wrk"
    requests=$(awk '/requests in/ {print $1}' "$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
    non2xx=${non2xx:-0}
    socket=$(grep -o 'Socket errors:.*' "$out" | sed 's/Socket errors: //' || true)
    echo "| $name | ${requests:-?} | $non2xx | ${socket:-none} |"
    [ -n "$requests" ] && [ "$requests" -gt 0 ] || fail "$name: wrk made no requests: $(cat "$out")"
    [ -z "$socket" ] || fail "$name: socket errors: $socket"
    if [ "$name" = error ]; then
        [ "$non2xx" = "$requests" ] || fail "error: $non2xx of $requests answered non-2xx"
    else
        [ "$non2xx" = 0 ] || fail "$name: $non2xx non-2xx responses"
    fi
done
ABANDONED=$(cat "$WORK"/abandon.* | paste -sd+ | bc)
echo "| vanishing (curl -m 0.2 /stream) | $ABANDONED | - | - |"

# Every counted body closes once its client is gone; descriptors return.
s=
for _ in $(seq 1 100); do
    s=$(stats)
    started=$(echo "$s" | field started)
    closed=$(( $(echo "$s" | field completed) + $(echo "$s" | field aborted) + $(echo "$s" | field failed) ))
    [ "$started" = "$closed" ] && break
    sleep 0.1
done
[ "$started" = "$closed" ] || fail "bodies started $started, closed $closed: $s"
FDS_AFTER=$(fds)
for _ in $(seq 1 100); do
    FDS_AFTER=$(fds)
    [ "$FDS_AFTER" -le "$FDS_BEFORE" ] && break
    sleep 0.1
done
[ "$FDS_AFTER" -le "$FDS_BEFORE" ] || fail "$FDS_AFTER descriptors open after the load, $FDS_BEFORE before"
RSS_END=$(rss_kib)
mib() { echo "scale=1; $1 / 1024" | bc; }
echo
echo "bodies: $s"
echo "RSS: start $(mib "$RSS_START") MiB, after warm-up $(mib "$RSS_BASE") MiB, max $(mib "$RSS_MAX") MiB, last under load $(mib "$RSS_LAST") MiB, idle after $(mib "$RSS_END") MiB"
echo "fds: before $FDS_BEFORE, after $FDS_AFTER"
[ "$RSS_LAST" -le $((RSS_BASE + RSS_GROWTH_MIB * 1024)) ] ||
    fail "RSS grew from $(mib "$RSS_BASE") MiB to $(mib "$RSS_LAST") MiB (bound: +$RSS_GROWTH_MIB MiB)"

kill -TERM "$SERVER_PID"
code=0
timeout 15 tail --pid="$SERVER_PID" -f /dev/null || fail "the server did not exit within 15 s of SIGTERM"
wait "$SERVER_PID" || code=$?
SERVER_PID=
[ "$code" = 0 ] || fail "the server exited with $code after SIGTERM"

if [ "$FAILED" = 0 ]; then echo "soak: OK"; else echo "soak: FAILED"; exit 1; fi
