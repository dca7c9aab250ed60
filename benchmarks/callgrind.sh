#!/usr/bin/env bash
# Instructions per request, with valgrind's callgrind: repeatable whatever
# else the machine runs, unlike requests per second. Each server runs on
# one worker under callgrind and answers N1, then (fresh) N2 requests over
# 4 keep-alive connections (h2load --h1); the difference of the two totals
# divided by N2 - N1 leaves out start-up and shutdown.
#
#   benchmarks/callgrind.sh                    # hello, every server
#   benchmarks/callgrind.sh /environ wsgi-rs   # one path, one server
#   benchmarks/callgrind.sh typed-json axum    # POST item.json to /items/42
#   ACCESS_LOG=1 benchmarks/callgrind.sh / wsgi-rs   # with the access log
#   benchmarks/callgrind.sh hello-log wsgi-rs        # the same (run.sh's name)
#
# ACCESS_LOG=1 runs wsgi-rs with its access log on (stdout to /dev/null)
# and counts its threads apart (--separate-threads): thread 1 is the
# worker (one worker serves on the main thread), thread 2 the log's writer
# thread; each is shown per request beside the total.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH_=${1:-/}
ONLY=${2:-}
POST=()
if [[ $PATH_ == typed-json ]]; then
    # The typed handler: Path + Json in, Json out (run.sh's typed-json).
    PATH_=/items/42
    POST=(-d benchmarks/item.json -H "content-type: application/json")
fi
N1=${N1:-2000}
N2=${N2:-12000}
H2=${H2:-}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; }
cargo build --release -q -p wsgi-benchmarks --bins
BIN=${CARGO_TARGET_DIR:-target}/release
OUT=$(mktemp -d)
PORT=${PORT:-18400}
LOG=0
[[ ${ACCESS_LOG:-0} == 1 ]] && LOG=1
if [[ $PATH_ == hello-log ]]; then
    # run.sh's hello-log: hello with wsgi-rs's access log on.
    PATH_=/
    LOG=1
fi

total() { # server n -> instructions, one total per thread when counted apart
    local server=$1 n=$2 cmd
    PORT=$((PORT + 1))
    case $server in
        wsgi-rs) cmd="$BIN/wsgi_bench --workers 1 $([[ $LOG == 1 ]] && echo --access-log)" ;;
        hyper) cmd="$BIN/raw_hyper --workers 1 ${H2:+--h2}" ;;
        axum) cmd="$BIN/axum_bench --workers 1" ;;
    esac
    local apart=()
    [[ $server == wsgi-rs && $LOG == 1 ]] && apart=(--separate-threads=yes)
    valgrind --tool=callgrind "${apart[@]}" --callgrind-out-file="$OUT/$server.$n" $cmd --bind "127.0.0.1:$PORT" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 1 200); do
        curl -s -o /dev/null --max-time 2 ${H2:+--http2-prior-knowledge} "http://127.0.0.1:$PORT/" && break
        sleep 0.1
    done
    local proto=(--h1)
    [[ -n $H2 ]] && proto=()
    h2load "${proto[@]}" "${POST[@]}" -n "$n" -c 4 -t 1 "http://127.0.0.1:$PORT$PATH_" >"$OUT/$server.$n.h2load" 2>&1
    if ! grep -q "succeeded, 0 failed, 0 errored" "$OUT/$server.$n.h2load" || ! grep -q "status codes: $n 2xx" "$OUT/$server.$n.h2load"; then
        echo "$server: not every request succeeded:" >&2
        grep -E "requests:|status codes:" "$OUT/$server.$n.h2load" >&2
    fi
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    local f
    for f in "$OUT/$server.$n" "$OUT/$server.$n"-*; do
        [[ -f $f ]] && awk '/^summary:/ {print $2}' "$f"
    done | paste -sd' '
}

for server in wsgi-rs hyper axum; do
    [[ -n $ONLY && $ONLY != "$server" ]] && continue
    read -ra a <<<"$(total "$server" "$N1")"
    read -ra b <<<"$(total "$server" "$N2")"
    sum=0 threads=()
    for i in "${!b[@]}"; do
        d=$(( (b[i] - ${a[i]:-0}) / (N2 - N1) ))
        sum=$((sum + d))
        threads+=("thread $((i + 1)): $d")
    done
    apart=
    (( ${#b[@]} > 1 )) && apart=" ($(IFS=,; echo "${threads[*]}" | sed 's/,/, /g'))"
    echo "$server $PATH_ ${H2:+h2 }$sum instructions/request$([[ $server == wsgi-rs && $LOG == 1 ]] && echo ' with the access log')$apart"
done
rm -rf "$OUT"
