#!/usr/bin/env bash
# Instructions per request, with valgrind's callgrind: repeatable whatever
# else the machine runs, unlike requests per second. Each server runs on
# one worker under callgrind and answers N1, then (fresh) N2 requests over
# 4 keep-alive connections (h2load --h1); the difference of the two totals
# divided by N2 - N1 leaves out start-up and shutdown.
#
#   benchmarks/callgrind.sh                    # hello, every server
#   benchmarks/callgrind.sh /environ wsgi-rs   # one path, one server
set -euo pipefail
cd "$(dirname "$0")/.."
PATH_=${1:-/}
ONLY=${2:-}
N1=${N1:-2000}
N2=${N2:-12000}
H2=${H2:-}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; }
cargo build --release -q -p wsgi-benchmarks --bins
BIN=${CARGO_TARGET_DIR:-target}/release
OUT=$(mktemp -d)
PORT=${PORT:-18400}

total() { # server n -> instructions
    local server=$1 n=$2 cmd
    PORT=$((PORT + 1))
    case $server in
        wsgi-rs) cmd="$BIN/wsgi_bench --workers 1" ;;
        hyper) cmd="$BIN/raw_hyper --workers 1 ${H2:+--h2}" ;;
        axum) cmd="$BIN/axum_bench --workers 1" ;;
    esac
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$server.$n" $cmd --bind "127.0.0.1:$PORT" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 1 200); do
        curl -s -o /dev/null --max-time 2 ${H2:+--http2-prior-knowledge} "http://127.0.0.1:$PORT/" && break
        sleep 0.1
    done
    local proto=(--h1)
    [[ -n $H2 ]] && proto=()
    h2load "${proto[@]}" -n "$n" -c 4 -t 1 "http://127.0.0.1:$PORT$PATH_" >/dev/null 2>&1
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    awk '/^summary:/ {print $2}' "$OUT/$server.$n"
}

for server in wsgi-rs hyper axum; do
    [[ -n $ONLY && $ONLY != "$server" ]] && continue
    a=$(total "$server" "$N1")
    b=$(total "$server" "$N2")
    echo "$server $PATH_ ${H2:+h2 }$(( (b - a) / (N2 - N1) )) instructions/request"
done
rm -rf "$OUT"
