#!/usr/bin/env bash
# Python WSGI servers compared: wsgi-rs (the wheel's command) against
# granian (--interface wsgi) and gunicorn (sync workers), the same app
# (benchmarks/python/app.py), the same number of worker processes, in the
# same run. Each round runs every workload on every server in turn; the
# figures are medians. Loopback only; bounded: about 4 minutes by default.
# Besides req/s and p99: the server's and wrk's CPU time per request and
# the machine's idle share, since wrk runs on the same cores.
#
#   benchmarks/python.sh                 # 3 rounds of 4 s, 2 workers, 64 connections
#   ROUNDS=5 DURATION=6 WORKERS=2 benchmarks/python.sh
#
# Needs the venv of .ci/python.sh (target/python-venv with the wheel,
# granian and gunicorn installed) and wrk. Writes
# benchmarks/results/python.tsv, the "Python servers" section of
# BENCHMARKS.md (between its python markers) and its chart,
# benchmarks/python-chart.svg, from the same run.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
WORKERS=${WORKERS:-2}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-18190}
VENV=${PYTHON_VENV:-target/python-venv}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
for tool in maturin granian gunicorn; do
    [ -x "$VENV/bin/$tool" ] || { echo "$VENV/bin/$tool is missing: run .ci/python.sh first" >&2; exit 2; }
done
# The release wheel is what is measured (CI installs a dev-profile one).
echo "== maturin build --release"
rm -f target/wheels-release/wsgi_rs-*.whl
"$VENV/bin/maturin" build --release --locked -q -m crates/wsgi-python/Cargo.toml \
    -i "$VENV/bin/python" -o target/wheels-release
"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels-release/wsgi_rs-*.whl

OUT=benchmarks/results
mkdir -p "$OUT"
RAW=$OUT/python.tsv
printf 'round\tserver\tworkload\trps\tp99_ms\tcpu_us\twrk_us\tidle_pct\n' > "$RAW"

start() {
    local server=$1
    cd benchmarks/python
    case $server in
        wsgi-rs) RUST_LOG=warn exec "../../$VENV/bin/wsgi-rs" app:app --bind "127.0.0.1:$PORT" --workers "$WORKERS" ;;
        granian) exec "../../$VENV/bin/granian" --interface wsgi --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" --log-level warning app:app ;;
        gunicorn) exec "../../$VENV/bin/gunicorn" --bind "127.0.0.1:$PORT" --workers "$WORKERS" --log-level warning app:app ;;
    esac
}

# CPU time (user + system, in clock ticks) of a process and all of its
# descendants: the server's cost, whichever of its processes and threads
# spent it.
tree_ticks() {
    local pids=($1) total=0 i=0
    while [ $i -lt ${#pids[@]} ]; do
        pids+=($(pgrep -P "${pids[$i]}" || true))
        i=$((i + 1))
    done
    for p in "${pids[@]}"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
TICK=$(getconf CLK_TCK)

# The machine's idle and total CPU time so far (ticks, /proc/stat's first
# line): whether the cores were busy during a run, and with what.
machine_ticks() {
    awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}

# Seconds of user + system time, from one line of bash's `times`
# ("0m1.234s 0m0.567s").
times_seconds() {
    awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] } print t }'
}

wait_ready() {
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$PORT/" >/dev/null && return 0
        sleep 0.1
    done
    echo "the server did not start" >&2
    return 1
}

# wrk's latency line "99%  1.23ms" in milliseconds.
p99_ms() {
    awk '$1 == "99%" {
        v = $2
        if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); print v }
        else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
    }'
}

servers=(wsgi-rs granian gunicorn)
for round in $(seq 1 "$ROUNDS"); do
    for i in "${!servers[@]}"; do
        # Rotate the order each round, so drift hits every server alike.
        server=${servers[$(((i + round) % ${#servers[@]}))]}
        (start "$server") >/dev/null 2>&1 &
        pid=$!
        wait_ready
        for workload in hello json; do
            path=/; [ "$workload" = json ] && path=/json
            wrk -t1 -c8 -d1s "http://127.0.0.1:$PORT$path" >/dev/null  # warm-up
            before=$(tree_ticks "$pid")
            read -r idle0 total0 < <(machine_ticks)
            # wrk shares the cores with the server: its CPU time per request
            # (bash's `times`, children's line) tells how much of them it took.
            result=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT$path"; times)
            read -r idle1 total1 < <(machine_ticks)
            after=$(tree_ticks "$pid")
            rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$result")
            p99=$(p99_ms <<<"$result")
            # The server's CPU time per request, in microseconds.
            cpu=$(awk -v t=$((after - before)) -v hz="$TICK" '/ requests in / {printf "%.1f", t / hz * 1e6 / $1}' <<<"$result")
            # wrk's CPU time per request, and the share of the machine idle.
            wrk_s=$(tail -1 <<<"$result" | times_seconds)
            wrk_us=$(awk -v t="$wrk_s" '/ requests in / {printf "%.1f", t * 1e6 / $1}' <<<"$result")
            idle=$(awk -v i=$((idle1 - idle0)) -v t=$((total1 - total0)) 'BEGIN {printf "%.0f", t ? 100 * i / t : 0}')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$server" "$workload" "$rps" "$p99" "$cpu" "$wrk_us" "$idle" | tee -a "$RAW"
        done
        kill -TERM "$pid" 2>/dev/null || true
        pkill -TERM -P "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        # The port is free again before the next server binds it.
        for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$PORT/" >/dev/null 2>&1 || break; sleep 0.1; done
    done
done

LOAD=$(cut -d' ' -f1 /proc/loadavg)
python3 - "$RAW" "$WORKERS" "$CONNECTIONS" "$ROUNDS" "$DURATION" "$LOAD" <<'PY'
import csv, statistics, sys, re
raw, workers, connections, rounds, duration, load = sys.argv[1:]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
servers = ("wsgi-rs", "granian", "gunicorn")
workloads = ("hello", "json")
med = {}
for server in servers:
    for workload in workloads:
        sel = [r for r in rows if r["server"] == server and r["workload"] == workload]
        med[server, workload] = tuple(statistics.median(float(r[k]) for r in sel) for k in ("rps", "p99_ms", "cpu_us", "wrk_us", "idle_pct"))
# Ratios within each round (the servers ran minutes apart, under the same
# load), then their median: steadier than the ratio of the medians.
def round_ratio(server, other, workload):
    by = {(r["round"], r["server"]): float(r["rps"]) for r in rows if r["workload"] == workload}
    return statistics.median(by[k, server] / by[k, other] for k in sorted({r["round"] for r in rows}) if (k, server) in by and (k, other) in by)
lines = [
    "<!-- python:start (generated by benchmarks/python.sh) -->",
    "## Python servers",
    "",
    f"The same WSGI app (`benchmarks/python/app.py`) on wsgi-rs (the `wsgi-rs` wheel, default settings: 8 Python threads per process, fast calls inline), "
    f"granian (`--interface wsgi`, default settings) and gunicorn (sync workers), {workers} worker processes each, wrk with {connections} connections over loopback, "
    f"median of {rounds} rounds of {duration} s; 2 cores shared by client and server, load average {load} at the end of the run "
    "(the benchmark's own wrk and server threads included). *CPU µs/req* is the server's CPU time (every process and thread, user and system) per request: "
    "what the server costs, which a busy machine disturbs less than the request rate. *wrk µs/req* is the same for the client, which runs on the same cores: "
    "req/s is bounded by 2 cores ÷ (server + client CPU per request), so a server that makes wrk wake more often per response loses throughput to it (see benchmarks/CHANGES.md, issue 18 item 6). "
    "*idle %* is the share of the machine's CPU time left idle during the run. *vs granian* is the median of the per-round ratios of req/s.",
    "",
    "![wsgi-rs, granian and gunicorn: requests per second and CPU per request](benchmarks/python-chart.svg)",
    "",
    "| workload | server | req/s | p99 ms | CPU µs/req | wrk µs/req | idle % | vs granian | vs gunicorn |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
]
for workload in workloads:
    for server in servers:
        rps, p99, cpu, wrk, idle = med[server, workload]
        lines.append(f"| {workload} | {server} | {rps:.0f} | {p99:.2f} | {cpu:.1f} | {wrk:.1f} | {idle:.0f} | {round_ratio(server, 'granian', workload):.2f}x | {round_ratio(server, 'gunicorn', workload):.2f}x |")
lines += ["", "<!-- python:end -->"]
section = "\n".join(lines)
text = open("BENCHMARKS.md").read()
if "<!-- python:start" in text:
    text = re.sub(r"<!-- python:start.*?<!-- python:end -->", lambda _: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open("BENCHMARKS.md", "w").write(text)

# The chart: req/s (left) and CPU µs per request (right), one group of bars
# per workload, one bar per server; plain SVG, no plotting library needed.
colors = {"wsgi-rs": "#d9480f", "granian": "#1c7ed6", "gunicorn": "#868e96"}
W, H, top, bottom = 960, 480, 60, 400
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="13">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="24" text-anchor="middle" font-size="16">Python WSGI servers, {workers} worker processes each, {connections} connections (medians of {rounds} rounds)</text>']
def panel(x0, width, title, metric, unit, better):
    peak = max(med[s, w][metric] for s in servers for w in workloads) * 1.15 or 1
    svg.append(f'<text x="{x0 + width/2}" y="{top - 12}" text-anchor="middle" font-size="14">{title} ({better} is better)</text>')
    svg.append(f'<line x1="{x0}" y1="{bottom}" x2="{x0 + width}" y2="{bottom}" stroke="black"/>')
    group = width / len(workloads)
    bar = group / (len(servers) + 1)
    for gi, workload in enumerate(workloads):
        gx = x0 + gi * group + bar / 2
        for si, server in enumerate(servers):
            value = med[server, workload][metric]
            h = (bottom - top) * value / peak
            x = gx + si * bar
            svg.append(f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar * 0.9:.1f}" height="{h:.1f}" fill="{colors[server]}"/>')
            svg.append(f'<text x="{x + bar * 0.45:.1f}" y="{bottom - h - 4:.1f}" text-anchor="middle" font-size="11">{value:,.0f}{unit}</text>' if metric == 0 else
                       f'<text x="{x + bar * 0.45:.1f}" y="{bottom - h - 4:.1f}" text-anchor="middle" font-size="11">{value:.1f}{unit}</text>')
        svg.append(f'<text x="{x0 + gi * group + group / 2:.1f}" y="{bottom + 18}" text-anchor="middle">{workload}</text>')
panel(40, 420, "requests per second", 0, "", "higher")
panel(520, 400, "server CPU µs per request", 2, "", "lower")
for i, server in enumerate(servers):
    x = 300 + i * 140
    svg.append(f'<rect x="{x}" y="{H - 40}" width="14" height="14" fill="{colors[server]}"/>')
    svg.append(f'<text x="{x + 20}" y="{H - 28}">{server}</text>')
svg.append("</svg>")
open("benchmarks/python-chart.svg", "w").write("\n".join(svg) + "\n")
print(section)
PY
