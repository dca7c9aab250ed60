#!/usr/bin/env bash
# Plaintext hello under wrk: wsgi-rs against raw hyper and axum, in the same
# run, alternating rounds (A B C A B C ...) so drift hits every server alike.
# Loopback only; bounded: ROUNDS x 3 servers x DURATION seconds.
#
#   benchmarks/run.sh                 # 3 rounds of 5 s, 64 connections
#   ROUNDS=5 DURATION=10s CONNECTIONS=256 benchmarks/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-2}
PORT=${PORT:-18090}

if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q --example hello -p wsgi-examples
cargo build --release -q -p wsgi-benchmarks --bins

declare -A CMD=(
    [wsgi-rs]="target/release/examples/hello --bind 127.0.0.1:$PORT --workers $WORKERS --log-level warn"
    [hyper]="target/release/raw_hyper_hello --bind 127.0.0.1:$PORT --workers $WORKERS"
    [axum]="target/release/axum_hello --bind 127.0.0.1:$PORT --workers $WORKERS"
)
ORDER=(wsgi-rs hyper axum)
declare -A RESULTS

for round in $(seq 1 "$ROUNDS"); do
    for name in "${ORDER[@]}"; do
        ${CMD[$name]} >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 1 50); do
            curl -sf "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break
            sleep 0.1
        done
        rps=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$PORT/" | awk '/Requests\/sec/ {print $2}')
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "round $round  $name  $rps req/s"
        RESULTS[$name]="${RESULTS[$name]:-} $rps"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
W=$(echo "${RESULTS[wsgi-rs]}" | median)
H=$(echo "${RESULTS[hyper]}" | median)
A=$(echo "${RESULTS[axum]}" | median)
echo
echo "| server | median req/s | wsgi-rs / server |"
echo "|---|---|---|"
for name in "${ORDER[@]}"; do
    m=$(echo "${RESULTS[$name]}" | median)
    ratio=$(awk -v w="$W" -v m="$m" 'BEGIN {printf "%.2f", w / m}')
    echo "| $name | $m | $ratio |"
done
echo
echo "plaintext hello, $CONNECTIONS connections, $THREADS wrk threads, $WORKERS server workers, $ROUNDS rounds of $DURATION, $(nproc) cores"
