#!/usr/bin/env bash
# WebSocket echo: wsgi-rs against axum's WebSocket, same run, same client.
# Each round starts each server in turn (the order alternates between
# rounds, so drift hits both alike) and runs two workloads against its
# `/ws` echo with `ws_load` (src/bin/ws_load.rs): 64 sockets echoing 16-byte
# messages, and 16 sockets echoing 64 KiB messages. Loopback only, bounded
# (ROUNDS x 2 servers x 2 workloads x DURATION seconds; about 1.5 minutes by
# default). Prints the medians and the ratios, and writes every sample to
# benchmarks/results/websocket.tsv.
#
#   benchmarks/websocket.sh
#   ROUNDS=7 DURATION=5 benchmarks/websocket.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4}
WORKERS=${WORKERS:-2}
PORT=${PORT:-18190}
OUT=benchmarks/results/websocket.tsv

cargo build --release -q -p wsgi-benchmarks --bin wsgi_bench --bin axum_bench --bin ws_load
BIN=target/release

server_pid=
stop_server() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
trap stop_server EXIT

start_server() {
    "$BIN/$1" --bind "127.0.0.1:$PORT" --workers "$WORKERS" >/dev/null 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return; fi
        sleep 0.05
    done
    echo "$1 did not start" >&2
    exit 1
}

printf 'round\tserver\tworkload\tmessages_per_second\n' >"$OUT"
for round in $(seq "$ROUNDS"); do
    if ((round % 2)); then order="wsgi_bench axum_bench"; else order="axum_bench wsgi_bench"; fi
    for server in $order; do
        start_server "$server"
        for workload in "small 64 16" "large 16 65536"; do
            read -r name connections size <<<"$workload"
            rate=$("$BIN/ws_load" --addr "127.0.0.1:$PORT" --connections "$connections" \
                --size "$size" --seconds "$DURATION" | awk '{print $2}')
            printf '%s\t%s\t%s\t%s\n' "$round" "${server%_bench}" "$name" "$rate" >>"$OUT"
            echo "round $round ${server%_bench} $name: $rate messages/s"
        done
        stop_server
    done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for workload in small large; do
    ours=$(awk -F'\t' -v w="$workload" '$2=="wsgi" && $3==w {print $4}' "$OUT" | median)
    theirs=$(awk -F'\t' -v w="$workload" '$2=="axum" && $3==w {print $4}' "$OUT" | median)
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.2f", a / b}')
    echo "$workload: wsgi-rs $ours, axum $theirs messages/s (medians of $ROUNDS): ${ratio}x"
done
