#!/usr/bin/env bash
# The load benchmark: wsgi-rs against raw hyper and axum, every workload,
# in the same run. Each round runs every workload on every server in turn
# (wsgi-rs, hyper, axum, then the next workload starting with the next
# server...), so drift hits all servers alike; the figures are medians.
# Loopback only; bounded: about 9 minutes by default, 2 with --quick.
#
#   benchmarks/run.sh              # 5 rounds of 4 s per workload and server
#   benchmarks/run.sh --quick      # 1 round of 2 s (a smoke test, noisy)
#   ROUNDS=7 DURATION=6 benchmarks/run.sh
#   benchmarks/run.sh --only typed-json   # one workload, wsgi-rs and axum
#
# Writes benchmarks/results/raw.tsv (every sample) and meta.env, then runs
# the `report` generator: benchmarks/results.json, BENCHMARKS.md,
# benchmarks/chart.svg and the generated sentence in README.md.
#
# --only WORKLOAD measures one workload on wsgi-rs and axum alone,
# alternating them (wsgi-rs, axum, axum, wsgi-rs, ...; 10 rounds by
# default), adds callgrind's instructions per request for both (skip with
# CALLGRIND=0), and writes benchmarks/results/WORKLOAD.tsv and .env
# instead: the report shows it as its own section, and the figures of the
# last full run stay as they were. --only hello-log (wsgi-rs's access log
# on) also runs hello-64 (the log off) in the same rounds, its baseline.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
ONLY=
NOTE=${NOTE:-}
while (($#)); do
    case $1 in
        --quick) QUICK=1 ;;
        --only) ONLY=${2:?--only needs a workload}; shift ;;
        -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (try --quick)" >&2; exit 2 ;;
    esac
    shift
done
if [[ -n $ONLY ]]; then
    ROUNDS=${ROUNDS:-10}
    DURATION=${DURATION:-4}
    IDLE_ROUNDS=0
elif [[ $QUICK == 1 ]]; then
    ROUNDS=${ROUNDS:-1}
    DURATION=${DURATION:-2}
    IDLE_ROUNDS=${IDLE_ROUNDS:-1}
else
    ROUNDS=${ROUNDS:-5}
    DURATION=${DURATION:-4}
    IDLE_ROUNDS=${IDLE_ROUNDS:-3}
fi
THREADS=${THREADS:-2}           # wrk / h2load threads
WORKERS=${WORKERS:-2}           # server event loops / runtime threads
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
H2_CONNECTIONS=${H2_CONNECTIONS:-64}
H2_STREAMS=${H2_STREAMS:-4}
PORT=${PORT:-18090}

# Tools: wrk (HTTP/1.1), h2load (HTTP/2), curl (readiness).
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# 10,000 idle connections need as many descriptors in the server and in
# the client (both inherit this limit).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release -q -p wsgi-benchmarks --bins
BIN=${CARGO_TARGET_DIR:-target}/release

OUT=benchmarks/results
mkdir -p "$OUT"
RAW=$OUT/raw.tsv
META=$OUT/meta.env
if [[ -n $ONLY ]]; then
    RAW=$OUT/$ONLY.tsv
    META=$OUT/$ONLY.env
fi
: >"$RAW"
STARTED=$(date -u +%FT%TZ)
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)

SERVERS=(wsgi-rs hyper axum)
LOG_FILE=$(mktemp)
trap 'rm -f "$LOG_FILE"' EXIT
server_cmd() { # name port [h2]
    case $1 in
        wsgi-rs) echo "$BIN/wsgi_bench --bind 127.0.0.1:$2 --workers $WORKERS${ACCESS_LOG:+ --access-log}" ;;
        hyper) echo "$BIN/raw_hyper --bind 127.0.0.1:$2 --workers $WORKERS ${3:+--h2}" ;;
        axum) echo "$BIN/axum_bench --bind 127.0.0.1:$2 --workers $WORKERS" ;;
    esac
}

SERVER_PID=
start_server() { # name port [h2]
    local curl_flags=(-s -o /dev/null --max-time 1)
    [[ -n ${3:-} ]] && curl_flags+=(--http2-prior-knowledge)
    # The access log (hello-log) goes to a file, as a deployment's would.
    $(server_cmd "$@") >"$LOG_FILE" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl "${curl_flags[@]}" "http://127.0.0.1:$2/" && return 0
        sleep 0.05
    done
    echo "server $1 did not start on port $2" >&2
    return 1
}
stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }

# wrk's latency in milliseconds ("250.00us", "1.20ms", "1.01s").
to_ms() { awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) printf "%.4f", v / 1000; else if (v ~ /ms$/) printf "%.4f", v + 0;
    else if (v ~ /m$/) printf "%.4f", v * 60000; else printf "%.4f", v * 1000 }'; }

# workload -> "connections path body_bytes [wrk script]"
declare -A WRK=(
    [hello-64]="64 / 0"
    [hello-log]="64 / 0"
    [environ]="64 /environ 0"
    [stream-small]="64 /stream/small 16000"
    [stream-pending]="64 /stream/pending 16000"
    [stream-large]="64 /stream/large 6553600"
    [hello-256]="256 / 0"
    [hello-1024]="1024 / 0"
    [typed-json]="64 /items/42 0 benchmarks/post_item.lua"
)
WORKLOADS=(hello-64 hello-log environ stream-small stream-pending stream-large hello-256 hello-1024 h2 typed-json)
if [[ -n $ONLY ]]; then
    [[ -n ${WRK[$ONLY]:-} ]] || { echo "--only: no wrk workload $ONLY" >&2; exit 2; }
    WORKLOADS=("$ONLY")
    # The access log's cost: the same hello without it, in the same rounds.
    [[ $ONLY == hello-log ]] && WORKLOADS+=(hello-64)
    SERVERS=(wsgi-rs axum)
fi

measure() { # workload server round port
    local workload=$1 server=$2 round=$3 port=$4
    if [[ $workload == h2 ]]; then
        start_server "$server" "$port" h2
        local out rps
        out=$(h2load -c"$H2_CONNECTIONS" -m"$H2_STREAMS" -t"$THREADS" -D "$DURATION" "http://127.0.0.1:$port/" 2>&1 || true)
        stop_server
        rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
        record "$workload" "$server" "$round" rps "${rps:-0}"
        printf '%-13s %-8s round %s  %s req/s\n' "$workload" "$server" "$round" "${rps:-?}"
        return
    fi
    local conns path bytes script
    read -r conns path bytes script <<<"${WRK[$workload]}"
    ACCESS_LOG=$([[ $workload == hello-log ]] && echo 1) start_server "$server" "$port"
    local out rps
    out=$(wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency ${script:+-s "$script"} "http://127.0.0.1:$port$path" 2>&1 || true)
    stop_server
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    record "$workload" "$server" "$round" rps "${rps:-0}"
    local non2xx
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    [[ -n $non2xx ]] && record "$workload" "$server" "$round" non2xx "$non2xx"
    if ((bytes > 0)); then
        record "$workload" "$server" "$round" bytes_per_s "$(awk -v r="${rps:-0}" -v b="$bytes" 'BEGIN {printf "%.0f", r * b}')"
    fi
    if [[ $workload == hello-64 ]]; then
        record "$workload" "$server" "$round" p50_ms "$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
        record "$workload" "$server" "$round" p99_ms "$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
    fi
    printf '%-13s %-8s round %s  %s req/s%s\n' "$workload" "$server" "$round" "${rps:-?}" "${non2xx:+ ($non2xx non-2xx!)}"
}

measure_idle() { # server round port
    local server=$1 round=$2 port=$3 fifo ready rss
    start_server "$server" "$port"
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    "$BIN/idle_clients" --addr "127.0.0.1:$port" --connections "$IDLE_CONNECTIONS" --hold 120 >"$fifo" &
    local client=$!
    ready=$(timeout 90 head -n1 "$fifo" || true)
    rm -f "$fifo"
    sleep 1
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
    kill "$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
    stop_server
    record idle-10k "$server" "$round" rss_kib "$rss"
    printf '%-13s %-8s round %s  %s KiB VmRSS (%s)\n' idle-10k "$server" "$round" "$rss" "$ready"
}

echo "rounds $ROUNDS x ${DURATION}s, $WORKERS server workers, $THREADS client threads, $(nproc) cores, load $LOADAVG"
n=0
S=${#SERVERS[@]}
for round in $(seq 1 "$ROUNDS"); do
    for workload in "${WORKLOADS[@]}"; do
        for i in $(seq 0 $((S - 1))); do
            server=${SERVERS[$(((i + n) % S))]}
            PORT=$((PORT + 1))
            measure "$workload" "$server" "$round" "$PORT"
        done
        n=$((n + 1))
    done
done
if [[ -n $ONLY && ${CALLGRIND:-1} != 0 ]]; then
    for workload in "${WORKLOADS[@]}"; do
        for server in "${SERVERS[@]}"; do
            line=$(PORT=$((PORT + 100)) benchmarks/callgrind.sh "$([[ $workload == hello-64 ]] && echo / || echo "$workload")" "$server" | tail -n1)
            echo "$line"
            record "$workload" "$server" 0 instructions "$(awk '{print $3}' <<<"$line")"
        done
    done
fi
for round in $(seq 1 "$IDLE_ROUNDS"); do
    for i in 0 1 2; do
        server=${SERVERS[$(((i + round) % 3))]}
        PORT=$((PORT + 1))
        measure_idle "$server" "$round" "$PORT"
    done
done

cat >"$META" <<EOF
COMMAND=benchmarks/run.sh$([[ $QUICK == 1 ]] && echo " --quick")${ONLY:+ --only $ONLY}
QUICK=$QUICK
ROUNDS=$ROUNDS
IDLE_ROUNDS=$IDLE_ROUNDS
DURATION=${DURATION}s
THREADS=$THREADS
WORKERS=$WORKERS
H2_CONNECTIONS=$H2_CONNECTIONS
H2_STREAMS=$H2_STREAMS
IDLE_CONNECTIONS=$IDLE_CONNECTIONS
LOADAVG=$LOADAVG
STARTED=$STARTED
FINISHED=$(date -u +%FT%TZ)
NOTE=$NOTE
EOF
"$BIN/report" --raw "$OUT/raw.tsv" --meta "$OUT/meta.env" --root .
echo "wrote benchmarks/results.json, benchmarks/chart.svg, BENCHMARKS.md"
