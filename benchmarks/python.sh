#!/usr/bin/env bash
# Python WSGI servers compared: wsgi-rs (the wheel's command) against
# granian (--interface wsgi) and gunicorn (sync workers), the same app
# (benchmarks/python/app.py), the same number of worker processes, in the
# same run. Each round runs every workload on every server in turn, in
# two layouts; the figures are medians. Loopback only; bounded: about 2
# minutes a round, about 7 by default (after the wheel build).
#
# The two layouts, both measured in every round and both reported:
#
#   shared  WORKERS (2) worker processes per server; wrk (-t THREADS) and
#           the server on the same 2 cores. req/s is then bounded by
#           2 cores / (server + client CPU per request): the client's CPU
#           competes with the server's, so this layout cannot show a
#           server's own capacity (see BENCHMARKS.md, issue 18 item 6).
#   pinned  1 worker process per server, the whole server process tree
#           pinned to CPU 1 (`taskset -c 1` on the launch: children and
#           threads inherit it), wrk pinned to CPU 0 (`taskset -c 0 wrk
#           -t1`). The client never takes the server's core, so req/s is
#           the server's capacity on one core: the standard remedy for a
#           load generator on the same machine. The script checks, through
#           /proc, that every thread of the server is allowed CPU 1 only,
#           and records wrk's CPU share of its core (near 100% would mean
#           wrk, not the server, set the pace: it is flagged).
#
# Besides req/s and p99: the server's and wrk's CPU time per request and
# the idle share (of the machine in the shared layout, of CPU 1 in the
# pinned one).
#
#   benchmarks/python.sh                 # 3 rounds of 4 s, 64 connections
#   ROUNDS=5 DURATION=6 WORKERS=2 benchmarks/python.sh
#   LAYOUTS=pinned benchmarks/python.sh  # one layout only
#
# Needs the venv of .ci/python.sh (target/python-venv with the wheel,
# granian and gunicorn installed), wrk and taskset. Writes
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
LAYOUTS=${LAYOUTS:-shared pinned}
PORT=${PORT:-18190}
VENV=${PYTHON_VENV:-target/python-venv}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v taskset >/dev/null || { echo "taskset (util-linux) is missing" >&2; exit 2; }
[ "$(nproc)" -ge 2 ] || { echo "the pinned layout needs 2 CPUs" >&2; exit 2; }
for tool in maturin granian gunicorn; do
    [ -x "$VENV/bin/$tool" ] || { echo "$VENV/bin/$tool is missing: run .ci/python.sh first" >&2; exit 2; }
done
# The release wheel is what is measured (CI installs a dev-profile one).
PYTHON_VENV=$VENV benchmarks/python-wheel.sh

OUT=benchmarks/results
mkdir -p "$OUT"
RAW=$OUT/python.tsv
SERVER_LOG=$(mktemp)
trap 'rm -f "$SERVER_LOG"' EXIT
printf 'round\tlayout\tserver\tworkload\trps\tp99_ms\tcpu_us\twrk_us\twrk_pct\tidle_pct\n' > "$RAW"

# start SERVER WORKERS [PIN]: runs in a subshell and execs the server, so
# the subshell's pid is the server's; PIN (a taskset prefix) is inherited
# by every process and thread it starts.
start() {
    local server=$1 workers=$2
    shift 2
    cd benchmarks/python
    case $server in
        # The inline policy's info lines say when calls went back to the
        # pool (see the warning after each run).
        wsgi-rs) RUST_LOG=warn,wsgi_python::inline=info exec "$@" "../../$VENV/bin/wsgi-rs" app:app --bind "127.0.0.1:$PORT" --workers "$workers" ;;
        granian) exec "$@" "../../$VENV/bin/granian" --interface wsgi --host 127.0.0.1 --port "$PORT" --workers "$workers" --log-level warning app:app ;;
        gunicorn) exec "$@" "../../$VENV/bin/gunicorn" --bind "127.0.0.1:$PORT" --workers "$workers" --log-level warning app:app ;;
    esac
}

# A process and all of its descendants.
tree_pids() {
    local pids=($1) i=0
    while [ $i -lt ${#pids[@]} ]; do
        pids+=($(pgrep -P "${pids[$i]}" || true))
        i=$((i + 1))
    done
    echo "${pids[@]}"
}

# CPU time (user + system, in clock ticks) of a process and all of its
# descendants: the server's cost, whichever of its processes and threads
# spent it.
tree_ticks() {
    local total=0
    for p in $(tree_pids "$1"); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
TICK=$(getconf CLK_TCK)

# Every thread of every process of the server (after a run, so threads
# started under load are there too) may run on CPU 1 only: prints the
# threads that may run elsewhere, with their CPU list.
unpinned_threads() {
    local p t list
    for p in $(tree_pids "$1"); do
        for t in /proc/"$p"/task/*; do
            [ -d "$t" ] || continue
            list=$(taskset -pc "${t##*/}" 2>/dev/null | awk -F': ' '{print $2}') || continue
            [ -z "$list" ] || [ "$list" = 1 ] || echo "$p/${t##*/}($(cat "$t/comm" 2>/dev/null)):$list"
        done
    done
}

# Idle, total and stolen CPU time so far (ticks, /proc/stat), of the
# machine (`cpu`) or of one core (`cpu1`): whether the cores were busy
# during a run, and whether the host took time from them.
cpu_ticks() {
    awk -v which="$1" '$1 == which {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9}' /proc/stat
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
read -r -a layouts <<<"$LAYOUTS"
for round in $(seq 1 "$ROUNDS"); do
    for li in "${!layouts[@]}"; do
        # Alternate the layouts' order too, so drift hits both alike.
        layout=${layouts[$(((li + round) % ${#layouts[@]}))]}
        case $layout in
            shared) workers=$WORKERS pin=() client=(wrk -t"$THREADS") idle_of=cpu ;;
            pinned) workers=1 pin=(taskset -c 1) client=(taskset -c 0 wrk -t1) idle_of=cpu1 ;;
            *) echo "unknown layout $layout (shared, pinned)" >&2; exit 2 ;;
        esac
        for i in "${!servers[@]}"; do
            # Rotate the order each round, so drift hits every server alike.
            server=${servers[$(((i + round) % ${#servers[@]}))]}
            (start "$server" "$workers" "${pin[@]}") >"$SERVER_LOG" 2>&1 &
            pid=$!
            wait_ready
            for workload in hello json; do
                path=/; [ "$workload" = json ] && path=/json
                "${client[@]}" -c8 -d1s "http://127.0.0.1:$PORT$path" >/dev/null  # warm-up
                before=$(tree_ticks "$pid")
                read -r _ all0 steal0 < <(cpu_ticks cpu)
                read -r idle0 total0 _ < <(cpu_ticks "$idle_of")
                # wrk's CPU time (bash's `times`, children's line): per
                # request, and as a share of the run (of its core, pinned).
                result=$("${client[@]}" -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT$path"; times)
                read -r _ all1 steal1 < <(cpu_ticks cpu)
                read -r idle1 total1 _ < <(cpu_ticks "$idle_of")
                steal_pct=$(awk -v s=$((steal1 - steal0)) -v t=$((all1 - all0)) 'BEGIN {printf "%.0f", t ? 100 * s / t : 0}')
                after=$(tree_ticks "$pid")
                rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$result")
                p99=$(p99_ms <<<"$result")
                # The server's CPU time per request, in microseconds.
                cpu=$(awk -v t=$((after - before)) -v hz="$TICK" '/ requests in / {printf "%.1f", t / hz * 1e6 / $1}' <<<"$result")
                wrk_s=$(tail -1 <<<"$result" | times_seconds)
                wrk_us=$(awk -v t="$wrk_s" '/ requests in / {printf "%.1f", t * 1e6 / $1}' <<<"$result")
                wrk_pct=$(awk -v t="$wrk_s" -v d="$DURATION" 'BEGIN {printf "%.0f", 100 * t / d}')
                idle=$(awk -v i=$((idle1 - idle0)) -v t=$((total1 - total0)) 'BEGIN {printf "%.0f", t ? 100 * i / t : 0}')
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$layout" "$server" "$workload" "$rps" "$p99" "$cpu" "$wrk_us" "$wrk_pct" "$idle" | tee -a "$RAW"
                # A virtual machine's host may take CPU time from it (steal):
                # such a run measures the host's load as much as the server.
                if [ "$steal_pct" -ge 5 ]; then
                    echo "warning: round $round, $layout, $server $workload: the host took ${steal_pct}% of the machine's CPU time (steal) during the run" >&2
                fi
                if [ "$layout" = pinned ] && [ "$wrk_pct" -ge 90 ]; then
                    echo "warning: wrk used ${wrk_pct}% of CPU 0: it may be what limits $server" >&2
                fi
            done
            if [ "$layout" = pinned ]; then
                stray=$(unpinned_threads "$pid")
                [ -z "$stray" ] || { echo "$server: threads not pinned to CPU 1: $stray" >&2; exit 1; }
            fi
            if [ "$server" = wsgi-rs ] && grep -q "blocked the event loop" "$SERVER_LOG"; then
                echo "warning: round $round, $layout: wsgi-rs sent its calls back to the thread pool $(grep -c "blocked the event loop" "$SERVER_LOG") time(s) (an inline call judged blocking; slower until they run inline again)" >&2
            fi
            kill -TERM "$pid" 2>/dev/null || true
            pkill -TERM -P "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            # The port is free again before the next server binds it.
            for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$PORT/" >/dev/null 2>&1 || break; sleep 0.1; done
        done
    done
done

LOAD=$(cut -d' ' -f1 /proc/loadavg)
python3 - "$RAW" "$WORKERS" "$CONNECTIONS" "$ROUNDS" "$DURATION" "$LOAD" "$THREADS" <<'PY'
import csv, statistics, sys, re
raw, workers, connections, rounds, duration, load, threads = sys.argv[1:]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
servers = ("wsgi-rs", "granian", "gunicorn")
workloads = ("hello", "json")
layouts = [l for l in ("shared", "pinned") if any(r["layout"] == l for r in rows)]
keys = ("rps", "p99_ms", "cpu_us", "wrk_us", "wrk_pct", "idle_pct")
med = {}
for layout in layouts:
    for server in servers:
        for workload in workloads:
            sel = [r for r in rows if (r["layout"], r["server"], r["workload"]) == (layout, server, workload)]
            med[layout, server, workload] = tuple(statistics.median(float(r[k]) for r in sel) for k in keys)
# Ratios within each round (the servers ran minutes apart, under the same
# load), then their median: steadier than the ratio of the medians.
def round_ratios(layout, server, other, workload):
    by = {(r["round"], r["server"]): float(r["rps"]) for r in rows if (r["layout"], r["workload"]) == (layout, workload)}
    return [by[k, server] / by[k, other] for k in sorted({r["round"] for r in rows}) if (k, server) in by and (k, other) in by]
def round_ratio(layout, server, other, workload):
    return statistics.median(round_ratios(layout, server, other, workload))
# The median with the lowest and highest round, for the comparison the
# target is about: how steady the ratio is, not only its middle.
def ratio_range(layout, server, other, workload):
    ratios = round_ratios(layout, server, other, workload)
    if server == other:
        return "1.00x"
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}–{max(ratios):.2f})"
titles = {
    "shared": f"Shared cores: {workers} worker processes per server, wrk (`-t{threads}`) on the same 2 cores",
    "pinned": "Pinned: 1 worker process per server on CPU 1, wrk (`-t1`) on CPU 0",
}
lines = [
    "<!-- python:start (generated by benchmarks/python.sh) -->",
    "## Python servers",
    "",
    f"The same WSGI app (`benchmarks/python/app.py`) on wsgi-rs (the `wsgi-rs` wheel, default settings: 8 Python threads per process, fast calls inline), "
    f"granian (`--interface wsgi`, default settings) and gunicorn (sync workers), the same number of worker processes each, wrk with {connections} connections over loopback, "
    f"median of {rounds} rounds of {duration} s; each round measures both layouts below, every server in turn; load average {load} at the end of the run "
    "(the benchmark's own wrk and server threads included). *CPU µs/req* is the server's CPU time (every process and thread, user and system) per request: "
    "what the server costs, which a busy machine disturbs less than the request rate. *wrk µs/req* is the same for the client, and *wrk %* its CPU time as a share of one core. "
    "*vs granian* and *vs gunicorn* are medians of the per-round ratios of req/s, within the layout; *vs granian* also gives the lowest and highest round's ratio.",
    "",
    "- **Shared cores** (the layout of the issue's target, as first measured): client and servers on the same 2 cores, "
    "so req/s is bounded by 2 cores ÷ (server + client CPU per request) and a server that makes wrk wake more often per response "
    "loses throughput to it (see benchmarks/CHANGES.md, issue 18 item 6). *idle %* is the machine's idle share.",
    "- **Pinned**: each server with 1 worker process, its whole process tree pinned to CPU 1 (`taskset -c 1`, inherited by every process and thread, "
    "checked through /proc after each run), wrk pinned to CPU 0. The client never competes for the server's core, the standard remedy "
    "for a load generator on the same machine, so req/s is the server's own capacity on one core with one worker. It says nothing about how the "
    "servers scale to more workers or cores; a server that spreads a request over several threads (granian's runtime and Python threads) "
    "runs them all on that one core; and other processes on the machine may still run on CPU 1. *idle %* is CPU 1's idle share "
    "(near 0: the server kept its core busy); a *wrk %* near 100 would mean the client set the pace.",
    "",
    "![wsgi-rs, granian and gunicorn: requests per second and CPU per request, both layouts](benchmarks/python-chart.svg)",
]
for layout in layouts:
    lines += [
        "",
        f"### {titles[layout]}",
        "",
        "| workload | server | req/s | p99 ms | CPU µs/req | wrk µs/req | wrk % | idle % | vs granian | vs gunicorn |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in workloads:
        for server in servers:
            rps, p99, cpu, wrk, wrk_pct, idle = med[layout, server, workload]
            lines.append(f"| {workload} | {server} | {rps:.0f} | {p99:.2f} | {cpu:.1f} | {wrk:.1f} | {wrk_pct:.0f} | {idle:.0f} | "
                         f"{ratio_range(layout, server, 'granian', workload)} | {round_ratio(layout, server, 'gunicorn', workload):.2f}x |")
lines += ["", "<!-- python:end -->"]
section = "\n".join(lines)
text = open("BENCHMARKS.md").read()
if "<!-- python:start" in text:
    text = re.sub(r"<!-- python:start.*?<!-- python:end -->", lambda _: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open("BENCHMARKS.md", "w").write(text)

# The chart: one row per layout, req/s (left) and CPU µs per request
# (right), one group of bars per workload, one bar per server; plain SVG,
# no plotting library needed.
colors = {"wsgi-rs": "#d9480f", "granian": "#1c7ed6", "gunicorn": "#868e96"}
short = {
    "shared": f"shared cores: {workers} workers each, wrk on the same 2 cores",
    "pinned": "pinned: 1 worker on CPU 1, wrk on CPU 0",
}
W, row_h, head = 960, 400, 40
H = head + row_h * len(layouts) + 40
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="13">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="24" text-anchor="middle" font-size="16">Python WSGI servers, {connections} connections (medians of {rounds} rounds)</text>']
def panel(layout, x0, y0, width, title, metric, better):
    top, bottom = y0 + 50, y0 + row_h - 40
    peak = max(med[layout, s, w][metric] for s in servers for w in workloads) * 1.15 or 1
    svg.append(f'<text x="{x0 + width/2}" y="{top - 12}" text-anchor="middle" font-size="14">{title} ({better} is better)</text>')
    svg.append(f'<line x1="{x0}" y1="{bottom}" x2="{x0 + width}" y2="{bottom}" stroke="black"/>')
    group = width / len(workloads)
    bar = group / (len(servers) + 1)
    for gi, workload in enumerate(workloads):
        gx = x0 + gi * group + bar / 2
        for si, server in enumerate(servers):
            value = med[layout, server, workload][metric]
            h = (bottom - top) * value / peak
            x = gx + si * bar
            label = f"{value:,.0f}" if metric == 0 else f"{value:.1f}"
            svg.append(f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar * 0.9:.1f}" height="{h:.1f}" fill="{colors[server]}"/>')
            svg.append(f'<text x="{x + bar * 0.45:.1f}" y="{bottom - h - 4:.1f}" text-anchor="middle" font-size="11">{label}</text>')
        svg.append(f'<text x="{x0 + gi * group + group / 2:.1f}" y="{bottom + 18}" text-anchor="middle">{workload}</text>')
for li, layout in enumerate(layouts):
    y0 = head + li * row_h
    svg.append(f'<text x="{W/2}" y="{y0 + 16}" text-anchor="middle" font-size="15" font-weight="bold">{short[layout]}</text>')
    panel(layout, 40, y0, 420, "requests per second", 0, "higher")
    panel(layout, 520, y0, 400, "server CPU µs per request", 2, "lower")
for i, server in enumerate(servers):
    x = 300 + i * 140
    svg.append(f'<rect x="{x}" y="{H - 30}" width="14" height="14" fill="{colors[server]}"/>')
    svg.append(f'<text x="{x + 20}" y="{H - 18}">{server}</text>')
svg.append("</svg>")
open("benchmarks/python-chart.svg", "w").write("\n".join(svg) + "\n")
print(section)
PY
