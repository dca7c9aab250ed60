//! Turns the raw samples that `benchmarks/run.sh` records into
//! `benchmarks/results.json`, `BENCHMARKS.md`, `benchmarks/chart.svg`, and
//! the generated benchmark sentence of `README.md`.
//!
//! ```text
//! report --raw benchmarks/results/raw.tsv --meta benchmarks/results/meta.env --root .
//! ```
//!
//! Raw lines are `workload<TAB>server<TAB>round<TAB>metric<TAB>value`.
//!
//! A workload measured on its own (`run.sh --only typed-json`) has its
//! samples in `typed-json.tsv` and `typed-json.env` beside `raw.tsv`: it is
//! shown in a section of its own, with that run's settings and its
//! instructions per request, whatever the full run in `raw.tsv` holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Parser;
use plotters::prelude::*;
use serde::Serialize;

#[derive(Debug, Parser)]
struct Args {
    /// The samples written by run.sh.
    #[arg(long, default_value = "benchmarks/results/raw.tsv")]
    raw: PathBuf,
    /// The run's settings (KEY=VALUE lines) written by run.sh.
    #[arg(long, default_value = "benchmarks/results/meta.env")]
    meta: PathBuf,
    /// The repository root, where BENCHMARKS.md and README.md are.
    #[arg(long, default_value = ".")]
    root: PathBuf,
}

const SERVERS: [&str; 3] = ["wsgi-rs", "hyper", "axum"];
const PEERS: [&str; 2] = ["hyper", "axum"];

/// One workload's headline metric and how to read it.
struct Workload {
    key: &'static str,
    title: &'static str,
    metric: &'static str,
    unit: &'static str,
    /// Higher is better (throughput) or lower is (memory, latency).
    higher_better: bool,
    /// The issue's target, as text.
    target: &'static str,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        key: "hello-64",
        title: "(a) plaintext hello, 64 connections",
        metric: "rps",
        unit: "req/s",
        higher_better: true,
        target: "≥ 1.00× hyper, ≥ 1.10× axum",
    },
    Workload {
        key: "hello-64",
        title: "(a) latency p50, 64 connections",
        metric: "p50_ms",
        unit: "ms",
        higher_better: false,
        target: "",
    },
    Workload {
        key: "hello-64",
        title: "(a) latency p99, 64 connections",
        metric: "p99_ms",
        unit: "ms",
        higher_better: false,
        target: "≤ 1.10× hyper",
    },
    Workload {
        key: "hello-log",
        title: "(a) plaintext hello, 64 connections, wsgi-rs with its access log on (stdout to a file; the peers log nothing)",
        metric: "rps",
        unit: "req/s",
        higher_better: true,
        target: "≥ 0.97× wsgi-rs without it",
    },
    Workload {
        key: "environ",
        title: "(b) every environ variable as JSON, 64 connections",
        metric: "rps",
        unit: "req/s",
        higher_better: true,
        target: "≥ 0.85× raw-hyper hello",
    },
    Workload {
        key: "stream-small",
        title: "(c) stream of 1,000 × 16 B futures, 64 connections",
        metric: "bytes_per_s",
        unit: "bytes/s",
        higher_better: true,
        target: "≥ 1.00× axum",
    },
    Workload {
        key: "stream-pending",
        title: "(c) stream of 1,000 × 16 B futures, each pending once, 64 connections",
        metric: "bytes_per_s",
        unit: "bytes/s",
        higher_better: true,
        target: "≥ 1.00× axum",
    },
    Workload {
        key: "stream-large",
        title: "(c) stream of 100 × 64 KiB futures, 64 connections",
        metric: "bytes_per_s",
        unit: "bytes/s",
        higher_better: true,
        target: "≥ 1.00× axum",
    },
    Workload {
        key: "hello-256",
        title: "(d) plaintext hello, 256 connections",
        metric: "rps",
        unit: "req/s",
        higher_better: true,
        target: "",
    },
    Workload {
        key: "hello-1024",
        title: "(d) plaintext hello, 1,024 connections",
        metric: "rps",
        unit: "req/s",
        higher_better: true,
        target: "≥ 1.00× hyper",
    },
    Workload {
        key: "idle-10k",
        title: "(e) resident memory with 10,000 idle keep-alive connections",
        metric: "rss_kib",
        unit: "KiB",
        higher_better: false,
        target: "≤ 1.10× hyper",
    },
    Workload {
        key: "h2",
        title: "(f) HTTP/2 (h2c) hello with h2load",
        metric: "rps",
        unit: "req/s",
        higher_better: true,
        target: "≥ 1.00× hyper",
    },
    Workload {
        key: "typed-json",
        title: "(g) typed handler: `Path` + `Json` in, `Json` out, 64 connections",
        metric: "rps",
        unit: "req/s",
        higher_better: true,
        target: "≥ 1.00× axum",
    },
];

/// Workloads that may also have a run of their own (`run.sh --only`), and
/// what that run measured: throughput, then callgrind's count; the third
/// part is the `wrk` command's script argument.
const FOCUSED: &[(&str, &str, &str)] = &[
    (
        "typed-json",
        "`POST /items/42` with a 109-byte JSON body: a typed handler taking `Path<u64>` and `Json<Item>` and returning `Json<Item>` with the id set (wsgi-rs: `#[wsgi_handler]` behind a `Router` in a `WsgiHandler`; axum: `Router`, `Path`, `Json`; raw hyper in full runs: the same by hand)",
        " -s benchmarks/post_item.lua",
    ),
    (
        "hello-log",
        "Plaintext hello with wsgi-rs's access log on (default template, stdout to a file), against the same hello without it (`hello-64`) in alternating rounds of the same run; axum, which logs nothing, for scale",
        "",
    ),
];

/// A focused workload measured beside its own baseline in the same run:
/// `hello-log` against wsgi-rs's `hello-64`.
const BASELINES: &[(&str, &str)] = &[("hello-log", "hello-64")];

/// What was changed in wsgi-rs to reach the figures (kept with the
/// generator so BENCHMARKS.md never drifts from it).
const CHANGES: &str = include_str!("../../CHANGES.md");

#[derive(Debug, Serialize)]
struct Row {
    workload: &'static str,
    title: &'static str,
    metric: &'static str,
    unit: &'static str,
    higher_better: bool,
    target: &'static str,
    samples: BTreeMap<&'static str, Vec<f64>>,
    median: BTreeMap<&'static str, f64>,
    /// wsgi-rs ÷ peer.
    ratio: BTreeMap<&'static str, f64>,
}

#[derive(Debug, Serialize)]
struct Results {
    machine: BTreeMap<&'static str, String>,
    settings: BTreeMap<String, String>,
    rows: Vec<Row>,
    /// Workloads measured on their own, by `run.sh --only`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    focused: Vec<Focused>,
}

/// One workload's own run: throughput alternating wsgi-rs and axum, and
/// instructions per request.
#[derive(Debug, Serialize)]
struct Focused {
    description: &'static str,
    /// The `wrk` script argument, if any.
    #[serde(skip)]
    script: &'static str,
    settings: BTreeMap<String, String>,
    throughput: Row,
    /// callgrind's instructions per request, by server.
    instructions: BTreeMap<&'static str, f64>,
    /// The baseline measured in the same run (see [`BASELINES`]), and
    /// its instructions per request by server.
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<(Row, BTreeMap<&'static str, f64>)>,
}

type Samples = BTreeMap<(String, String, String), Vec<f64>>;

/// `KEY=VALUE` lines.
fn settings(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// (workload, metric, server) -> samples, from raw lines.
fn samples(raw: &str) -> Samples {
    let mut samples = Samples::new();
    for line in raw.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if let [workload, server, _round, metric, value] = fields[..] {
            if let Ok(value) = value.parse::<f64>() {
                samples
                    .entry((workload.to_owned(), metric.to_owned(), server.to_owned()))
                    .or_default()
                    .push(value);
            }
        }
    }
    samples
}

/// One workload's row: samples, medians and ratios by server.
fn row(w: &Workload, samples: &Samples) -> Row {
    let mut row = Row {
        workload: w.key,
        title: w.title,
        metric: w.metric,
        unit: w.unit,
        higher_better: w.higher_better,
        target: w.target,
        samples: BTreeMap::new(),
        median: BTreeMap::new(),
        ratio: BTreeMap::new(),
    };
    for server in SERVERS {
        let key = (w.key.to_owned(), w.metric.to_owned(), server.to_owned());
        if let Some(values) = samples.get(&key) {
            if let Some(m) = median(values) {
                row.median.insert(server, m);
            }
            row.samples.insert(server, values.clone());
        }
    }
    if let Some(&ours) = row.median.get("wsgi-rs") {
        for peer in PEERS {
            if let Some(&theirs) = row.median.get(peer).filter(|v| **v > 0.0) {
                row.ratio.insert(peer, ours / theirs);
            }
        }
    }
    row
}

/// The workloads of [`FOCUSED`] that have a run of their own in `dir`.
fn focused(dir: &Path) -> Vec<Focused> {
    let mut out = Vec::new();
    for &(key, description, script) in FOCUSED {
        let Ok(raw) = std::fs::read_to_string(dir.join(format!("{key}.tsv"))) else {
            continue;
        };
        let Some(w) = WORKLOADS.iter().find(|w| w.key == key) else {
            continue;
        };
        let samples = samples(&raw);
        let throughput = row(w, &samples);
        let instructions = instructions_of(key, &samples);
        let baseline = BASELINES
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, base)| {
                WORKLOADS
                    .iter()
                    .find(|w| w.key == *base && w.metric == "rps")
            })
            .map(|base| (row(base, &samples), instructions_of(base.key, &samples)))
            .filter(|(row, _)| !row.median.is_empty());
        out.push(Focused {
            description,
            script,
            settings: settings(&dir.join(format!("{key}.env"))),
            throughput,
            instructions,
            baseline,
        });
    }
    out
}

/// The median instructions per request of `workload`, by server.
fn instructions_of(workload: &str, samples: &Samples) -> BTreeMap<&'static str, f64> {
    let mut instructions = BTreeMap::new();
    for server in SERVERS {
        let key = (
            workload.to_owned(),
            "instructions".to_owned(),
            server.to_owned(),
        );
        if let Some(m) = samples.get(&key).and_then(|v| median(v)) {
            instructions.insert(server, m);
        }
    }
    instructions
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

fn machine() -> BTreeMap<&'static str, String> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut m = BTreeMap::new();
    m.insert(
        "nproc",
        std::thread::available_parallelism()
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    m.insert("cpu", cpu);
    m.insert(
        "kernel",
        read("/proc/sys/kernel/osrelease").trim().to_owned(),
    );
    m.insert("rustc", rustc);
    m
}

fn human(value: f64, unit: &str) -> String {
    match unit {
        "bytes/s" => format!("{:.1} MB/s", value / 1e6),
        "req/s" => format!("{value:.0}"),
        "KiB" => format!("{:.1} MiB", value / 1024.0),
        _ => format!("{value:.2}"),
    }
}

fn load(args: &Args) -> std::io::Result<Results> {
    let raw = std::fs::read_to_string(&args.raw)?;
    let samples = samples(&raw);
    let rows = WORKLOADS
        .iter()
        .map(|w| row(w, &samples))
        .filter(|row| !row.median.is_empty())
        .collect();
    Ok(Results {
        machine: machine(),
        settings: settings(&args.meta),
        rows,
        focused: focused(args.raw.parent().unwrap_or(Path::new("."))),
    })
}

fn find<'a>(results: &'a Results, workload: &str, metric: &str) -> Option<&'a Row> {
    results
        .rows
        .iter()
        .find(|r| r.workload == workload && r.metric == metric)
}

/// The one-line summary for the README and the top of BENCHMARKS.md.
fn headline(results: &Results) -> String {
    let Some(hello) = find(results, "hello-64", "rps") else {
        return "No hello measurement yet: run `benchmarks/run.sh`.".to_owned();
    };
    let ratio = |peer| {
        hello
            .ratio
            .get(peer)
            .map_or("?".to_owned(), |r| format!("{r:.2}×"))
    };
    format!(
        "Plaintext hello at 64 connections: wsgi-rs serves {} req/s, {} raw hyper and {} axum (median of {} rounds, {} cores{}).",
        hello.median.get("wsgi-rs").map_or("?".to_owned(), |v| format!("{v:.0}")),
        ratio("hyper"),
        ratio("axum"),
        results.settings.get("ROUNDS").map_or("?", String::as_str),
        results.machine.get("nproc").map_or("?", String::as_str),
        match (
            results.settings.get("QUICK").is_some_and(|q| q == "1"),
            results.settings.get("NOTE").is_some_and(|n| !n.is_empty()),
        ) {
            (true, true) => ", quick run on a shared, noisy machine",
            (true, false) => ", quick run",
            (false, true) => ", on a shared, noisy machine",
            (false, false) => "",
        }
    )
}

fn markdown(results: &Results) -> String {
    let mut md = String::new();
    let s = |k: &str| results.settings.get(k).cloned().unwrap_or_default();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "<!-- Generated by `cargo run --release -p wsgi-benchmarks --bin report` from `benchmarks/results.json`; do not edit by hand. -->\n"
    );
    let _ = writeln!(md, "{}\n", headline(results));
    if !s("NOTE").is_empty() {
        let _ = writeln!(md, "> **Note:** {}\n", s("NOTE"));
    }
    let _ = writeln!(
        md,
        "![wsgi-rs relative to each peer](benchmarks/chart.svg)\n"
    );
    let _ = writeln!(md, "## Machine\n");
    for (k, v) in &results.machine {
        let _ = writeln!(md, "- {k}: {v}");
    }
    let _ = writeln!(
        md,
        "- load average when the run started: {}\n- run: {} to {}\n",
        s("LOADAVG"),
        s("STARTED"),
        s("FINISHED")
    );
    let _ = writeln!(md, "## How it was measured\n");
    let _ = writeln!(md, "```sh\n{}\n```\n", s("COMMAND"));
    let _ = writeln!(
        md,
        "`benchmarks/run.sh` builds three release servers serving identical workloads ([`benchmarks/src/lib.rs`](benchmarks/src/lib.rs)): \
wsgi-rs (`wsgi_bench`, {workers} worker event loops), raw hyper 1.x (`raw_hyper`: `http1::Builder`, or `http2::Builder` for h2, a multi-thread runtime of {workers} threads, a plain accept loop) \
and axum 0.8 (`axum_bench`: `axum::serve`, same runtime). Each round runs every server once per workload, in turn (wsgi-rs, hyper, axum, wsgi-rs, ...), so drift hits all alike; \
each figure is the median of {rounds} rounds of {duration}. Load: `wrk -t{threads} -c<connections> -d{duration} --latency` (HTTP/1.1 keep-alive), \
`h2load -c{h2c} -m{h2m} -t{threads} -D <duration>` (h2c prior knowledge), and `idle_clients` ({idle} loopback connections, one request each, then idle; the server's `VmRSS` is read from `/proc`, median of {idle_rounds} rounds). \
Everything runs on loopback, client and servers on the same cores. Instructions per request, which do not depend on load, come from `benchmarks/callgrind.sh`.\n",
        workers = s("WORKERS"),
        rounds = s("ROUNDS"),
        duration = s("DURATION"),
        threads = s("THREADS"),
        h2c = s("H2_CONNECTIONS"),
        h2m = s("H2_STREAMS"),
        idle = s("IDLE_CONNECTIONS"),
        idle_rounds = s("IDLE_ROUNDS"),
    );
    let _ = writeln!(md, "## Results\n");
    let _ = writeln!(
        md,
        "Ratios are wsgi-rs ÷ peer: above 1 is better for throughput, below 1 is better for latency and memory.\n"
    );
    for row in &results.rows {
        let _ = writeln!(md, "### {}\n", row.title);
        if !row.target.is_empty() {
            let _ = writeln!(md, "Target: {}\n", row.target);
        }
        let _ = writeln!(
            md,
            "| server | median | samples | wsgi-rs ÷ server |\n|---|---|---|---|"
        );
        let ours = row.median.get("wsgi-rs").copied();
        for server in SERVERS {
            let Some(&m) = row.median.get(server) else {
                continue;
            };
            let samples: Vec<String> = row.samples[server]
                .iter()
                .map(|v| human(*v, row.unit))
                .collect();
            let ratio = ours
                .filter(|_| m > 0.0)
                .map_or("–".to_owned(), |o| format!("{:.2}", o / m));
            let _ = writeln!(
                md,
                "| {server} | {} | {} | {ratio} |",
                human(m, row.unit),
                samples.join(", ")
            );
        }
        if row.workload == "hello-log" {
            if let (Some(ours), Some(off)) = (
                ours,
                find(results, "hello-64", "rps").and_then(|h| h.median.get("wsgi-rs")),
            ) {
                let _ = writeln!(
                    md,
                    "\nwsgi-rs hello with the access log ÷ without: **{:.2}**",
                    ours / off
                );
            }
        }
        if row.workload == "environ" {
            if let (Some(ours), Some(hello)) = (
                ours,
                find(results, "hello-64", "rps").and_then(|h| h.median.get("hyper")),
            ) {
                let _ = writeln!(
                    md,
                    "\nwsgi-rs environ ÷ raw-hyper hello: **{:.2}**",
                    ours / hello
                );
            }
        }
        let _ = writeln!(md);
    }
    for focused in &results.focused {
        focused_markdown(&mut md, focused);
    }
    let _ = writeln!(
        md,
        "## What was changed to reach them\n\n{}",
        CHANGES.trim()
    );
    md
}

/// The section of a workload measured on its own.
fn focused_markdown(md: &mut String, focused: &Focused) {
    let row = &focused.throughput;
    let s = |k: &str| focused.settings.get(k).cloned().unwrap_or_default();
    let _ = writeln!(md, "## {} (its own run)\n", row.title);
    let _ = writeln!(md, "{}.\n", focused.description);
    if !row.target.is_empty() {
        let _ = writeln!(md, "Target: {}\n", row.target);
    }
    let servers: Vec<&str> = SERVERS
        .iter()
        .copied()
        .filter(|s| row.median.contains_key(s))
        .collect();
    let _ = writeln!(
        md,
        "Measured apart from the full run above, with `{command}`, {started} to {finished} (load average {load} when it started): \
{rounds} rounds of {duration} alternating the servers ({order}), `wrk -t{threads} -c64 -d{duration}{script}`, {workers} server workers, client and servers on the same {nproc} cores.{note}\n",
        command = s("COMMAND"),
        started = s("STARTED"),
        finished = s("FINISHED"),
        load = s("LOADAVG"),
        rounds = s("ROUNDS"),
        duration = s("DURATION"),
        order = servers.join(", "),
        script = focused.script,
        threads = s("THREADS"),
        workers = s("WORKERS"),
        nproc = std::thread::available_parallelism().map_or(0, |n| n.get()),
        note = if s("NOTE").is_empty() {
            String::new()
        } else {
            format!(" {}", s("NOTE"))
        },
    );
    let _ = writeln!(
        md,
        "| server | median req/s | samples | wsgi-rs ÷ server | instructions/request | server ÷ wsgi-rs instructions |\n|---|---|---|---|---|---|"
    );
    let ours = row.median.get("wsgi-rs").copied();
    let our_instructions = focused.instructions.get("wsgi-rs").copied();
    for server in &servers {
        let m = row.median[server];
        let samples: Vec<String> = row.samples[server]
            .iter()
            .map(|v| human(*v, row.unit))
            .collect();
        let ratio = ours
            .filter(|_| m > 0.0)
            .map_or("–".to_owned(), |o| format!("{:.2}", o / m));
        let instructions = focused.instructions.get(server).copied();
        let _ = writeln!(
            md,
            "| {server} | {} | {} | {ratio} | {} | {} |",
            human(m, row.unit),
            samples.join(", "),
            instructions.map_or("–".to_owned(), |i| format!("{i:.0}")),
            match (instructions, our_instructions) {
                (Some(theirs), Some(ours)) if ours > 0.0 => format!("{:.2}", theirs / ours),
                _ => "–".to_owned(),
            }
        );
    }
    if let Some((base, base_instructions)) = &focused.baseline {
        baseline_markdown(md, focused, base, base_instructions);
    } else if let (Some(ratio), Some(ours), Some(theirs)) = (
        row.ratio.get("axum"),
        our_instructions,
        focused.instructions.get("axum"),
    ) {
        let _ = writeln!(
            md,
            "\nwsgi-rs ÷ axum: **{ratio:.2}×** the throughput (median of {} alternating rounds; wall-clock figures on a shared 2-core machine are noisy), and **{:.2}×** axum's speed by instructions per request ({ours:.0} against {theirs:.0}; callgrind, `benchmarks/callgrind.sh typed-json`, repeatable whatever else runs).",
            s("ROUNDS"),
            theirs / ours,
        );
    }
    let _ = writeln!(md);
}

/// A focused workload against its baseline of the same run (wsgi-rs
/// alone): the throughput and the instructions per request, with and
/// without what the workload adds.
fn baseline_markdown(
    md: &mut String,
    focused: &Focused,
    base: &Row,
    base_instructions: &BTreeMap<&'static str, f64>,
) {
    let (Some(with), Some(without)) = (
        focused.throughput.median.get("wsgi-rs"),
        base.median.get("wsgi-rs"),
    ) else {
        return;
    };
    let samples: Vec<String> = base.samples["wsgi-rs"]
        .iter()
        .map(|v| human(*v, base.unit))
        .collect();
    let _ = writeln!(
        md,
        "| wsgi-rs, `{}` | {} | {} | {:.2} | {} | |",
        base.workload,
        human(*without, base.unit),
        samples.join(", "),
        with / without,
        base_instructions
            .get("wsgi-rs")
            .map_or("–".to_owned(), |i| format!("{i:.0}")),
    );
    let _ = write!(
        md,
        "\nwsgi-rs `{}` ÷ `{}` in the same rounds: **{:.2}×** the throughput (median of {} rounds each)",
        focused.throughput.workload,
        base.workload,
        with / without,
        focused.settings.get("ROUNDS").map_or("", String::as_str),
    );
    if let (Some(with), Some(without)) = (
        focused.instructions.get("wsgi-rs"),
        base_instructions.get("wsgi-rs").filter(|i| **i > 0.0),
    ) {
        let _ = write!(
            md,
            ", and **{:+.1}%** instructions per request ({with:.0} against {without:.0}; callgrind, `benchmarks/callgrind.sh {}` and `/`, worker and log-writer threads together)",
            (with / without - 1.0) * 100.0,
            focused.throughput.workload,
        );
    }
    let _ = writeln!(md, ".");
}

/// wsgi-rs relative to each peer, oriented so that above 1 is better.
fn chart(results: &Results, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let bars: Vec<(String, [f64; 2])> = results
        .rows
        .iter()
        .filter(|r| r.metric != "p50_ms")
        .map(|r| {
            let label = match (r.workload, r.metric) {
                ("hello-64", "p99_ms") => "p99 latency".to_owned(),
                (w, _) => w.to_owned(),
            };
            let value = |peer| {
                r.ratio.get(peer).map_or(0.0, |&x| {
                    if r.higher_better {
                        x
                    } else if x > 0.0 {
                        1.0 / x
                    } else {
                        0.0
                    }
                })
            };
            (label, [value("hyper"), value("axum")])
        })
        .collect();
    let top = bars
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(1.2f64, f64::max)
        * 1.1;
    let n = bars.len().max(1) as f64;
    let root = SVGBackend::new(path, (960, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "wsgi-rs relative to each peer (above 1 = wsgi-rs better)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..n, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("ratio")
        .draw()?;
    let colors = [RGBColor(214, 96, 77), RGBColor(67, 147, 195)];
    for (p, peer) in ["raw hyper", "axum"].iter().enumerate() {
        let color = colors[p];
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let x0 = i as f64 + 0.15 + 0.35 * p as f64;
                Rectangle::new([(x0, 0.0), (x0 + 0.33, v[p])], color.filled())
            }))?
            .label(format!("vs {peer}"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 1.0), (n, 1.0)],
        BLACK.stroke_width(1),
    )))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    let style = TextStyle::from(("sans-serif", 13)).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Top,
    ));
    for (i, (label, _)) in bars.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw(&Text::new(label.clone(), (x, y + 6), style.clone()))?;
    }
    root.present()?;
    Ok(())
}

/// Replaces the generated sentence between the README's markers.
fn update_readme(path: &Path, sentence: &str) -> std::io::Result<()> {
    const START: &str = "<!-- benchmarks:start (generated by benchmarks' report) -->";
    const END: &str = "<!-- benchmarks:end -->";
    let text = std::fs::read_to_string(path)?;
    let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
        eprintln!("README.md has no benchmark markers; left unchanged");
        return Ok(());
    };
    let updated = format!(
        "{}{START}\n{sentence} See [BENCHMARKS.md](BENCHMARKS.md).\n{}",
        &text[..a],
        &text[b..]
    );
    std::fs::write(path, updated)
}

/// The "Python servers" section `benchmarks/python.sh` writes (a separate
/// run), kept when the Rust figures are regenerated.
fn python_section(previous: &str) -> String {
    kept_section(previous, "python")
}

/// A section another script writes (`<!-- NAME:start` ... `<!-- NAME:end
/// -->`), carried over from the previous BENCHMARKS.md.
fn kept_section(previous: &str, name: &str) -> String {
    let start_mark = format!("<!-- {name}:start");
    let end_mark = format!("<!-- {name}:end -->");
    match (previous.find(&start_mark), previous.find(&end_mark)) {
        (Some(start), Some(end)) if end > start => {
            format!("\n{}\n", &previous[start..end + end_mark.len()])
        }
        _ => String::new(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let results = load(&args)?;
    let bench_dir = args.root.join("benchmarks");
    std::fs::write(
        bench_dir.join("results.json"),
        serde_json::to_string_pretty(&results)? + "\n",
    )?;
    chart(&results, &bench_dir.join("chart.svg"))?;
    let path = args.root.join("BENCHMARKS.md");
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    // Sections measured by their own scripts: python.sh, websocket.sh.
    let kept = python_section(&previous) + &kept_section(&previous, "websocket");
    std::fs::write(&path, markdown(&results) + &kept)?;
    update_readme(&args.root.join("README.md"), &headline(&results))?;
    println!("{}", headline(&results));
    Ok(())
}
