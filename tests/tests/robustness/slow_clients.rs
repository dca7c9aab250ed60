//! Slow clients against a server in a child process (`load_server`, 1 s
//! `header_read_timeout`): 1,000 slowloris connections dribbling a request
//! head a byte at a time, reconnecting for 3 s, plus readers that ask for a
//! 64 MiB body and never read it. Meanwhile normal requests keep a low
//! latency, every slowloris connection is closed close to the header
//! timeout, the server does not buffer the unread bodies (its resident
//! memory stays bounded), and its open descriptors come back to baseline.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsgi_tests::child::{rss_kib, ChildServer};
use wsgi_tests::{get, read_until, send};

const ATTACKERS: usize = 1_000;
const READERS: usize = 16;
const NORMAL: usize = 200;
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the attackers keep reconnecting.
const ATTACK: Duration = Duration::from_secs(3);

/// One slowloris client: sends a request head one byte every 200 ms until
/// the server closes the connection, then reconnects, until `until`.
/// Returns how long each connection lasted (`None`: still open after 5 s).
async fn slowloris(addr: SocketAddr, until: Instant) -> Vec<Option<Duration>> {
    let mut lasted = Vec::new();
    while Instant::now() < until {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let _ = stream
            .write_all(b"GET /hello HTTP/1.1\r\nHost: h\r\nX-Slow: ")
            .await;
        let mut buf = [0u8; 1024];
        let mut closed = None;
        for _ in 0..25 {
            tokio::select! {
                read = stream.read(&mut buf) => {
                    // EOF, a reset or an error response: the server gave
                    // up on this head.
                    let _ = read;
                    closed = Some(started.elapsed());
                    break;
                }
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stream.write_all(b"a").await.is_err() {
                        closed = Some(started.elapsed());
                        break;
                    }
                }
            }
        }
        lasted.push(closed);
        if closed.is_none() {
            break;
        }
    }
    lasted
}

/// The `p`-th percentile of sorted `values`.
fn percentile(values: &[Duration], p: usize) -> Duration {
    values[(values.len() - 1) * p / 100]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_leave_normal_ones_served_and_memory_bounded() {
    let _load = wsgi_tests::exclusive().await;
    let server = ChildServer::start(
        env!("CARGO_BIN_EXE_load_server"),
        &["--header-read-timeout", "1"],
    );
    let addr = server.addr();
    let fds_baseline = server.fd_count();

    // Warm-up: one client reads a whole 64 MiB body, and the normal path
    // runs once, so the allocator has grown for both.
    let mut reader = send(addr, b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let mut received = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    let head = read_until(&mut reader, b"\r\n\r\n").await;
    let head_end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
    received += head.len() - head_end;
    while received < 64 * 1024 * 1024 {
        let n = reader.read(&mut buf).await.expect("read /big");
        assert!(n > 0, "/big ended after {received} bytes");
        received += n;
    }
    drop(reader);
    assert_eq!(get(addr, "/hello").await.status, 200);
    let stats = server
        .wait_for_stats(Duration::from_secs(5), |s| s.completed == 1)
        .await;
    assert_eq!(stats.completed, 1, "{stats:?}");
    let baseline = server.rss_kib();

    let peak_rss = Arc::new(AtomicU64::new(baseline));
    let peak_fds = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (peak_rss, peak_fds) = (Arc::clone(&peak_rss), Arc::clone(&peak_fds));
        let pid = server.pid();
        tokio::spawn(async move {
            loop {
                if let Some(rss) = rss_kib(pid) {
                    peak_rss.fetch_max(rss, Ordering::Relaxed);
                }
                if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
                    peak_fds.fetch_max(fds.count(), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // Readers that never read past the head of a 64 MiB body.
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let mut stream = send(addr, b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n").await;
        read_until(&mut stream, b"\r\n\r\n").await;
        readers.push(stream);
    }
    let attack_started = Instant::now();
    let until = attack_started + ATTACK;
    let mut attackers = tokio::task::JoinSet::new();
    for _ in 0..ATTACKERS {
        attackers.spawn(slowloris(addr, until));
    }

    // Normal clients during the attack: 200 requests, one every 10 ms.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut latencies = Vec::with_capacity(NORMAL);
    for _ in 0..NORMAL {
        let asked = Instant::now();
        let response = get(addr, "/hello").await;
        latencies.push(asked.elapsed());
        assert_eq!(
            (response.status, response.text().as_str()),
            (200, "ok"),
            "a normal request during the attack"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let normal_done = attack_started.elapsed();

    let mut lasted = Vec::new();
    let mut still_open = 0;
    while let Some(done) = attackers.join_next().await {
        for connection in done.expect("attacker task") {
            match connection {
                Some(took) => lasted.push(took),
                None => still_open += 1,
            }
        }
    }
    let rss_under_attack = peak_rss.load(Ordering::Relaxed);

    // The readers leave; the server notices on its next write.
    drop(readers);
    let stats = server
        .wait_for_stats(Duration::from_secs(10), |s| {
            s.closed() == 1 + READERS as u64
        })
        .await;
    let fds_after = server
        .wait_for_fds(Duration::from_secs(5), fds_baseline)
        .await;
    sampler.abort();
    let rss_after = server.rss_kib();

    latencies.sort();
    lasted.sort();
    let (fastest, slowest) = (lasted[0], lasted[lasted.len() - 1]);
    println!(
        "{} slowloris connections from {ATTACKERS} clients in {ATTACK:?}, closed after \
         {fastest:?}..{slowest:?} (p50 {:?}); {NORMAL} normal requests in {normal_done:?}: \
         p50 {:?}, p99 {:?}, max {:?}; RSS baseline {baseline} KiB, peak {rss_under_attack} KiB, \
         after {rss_after} KiB; fds baseline {fds_baseline}, peak {}, after {fds_after}; {stats:?}",
        lasted.len(),
        percentile(&lasted, 50),
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies[NORMAL - 1],
        peak_fds.load(Ordering::Relaxed),
    );

    // (a) Normal clients are not starved: none waited behind the attackers
    // until the header timeout freed a slot (then it would take at least
    // that long). The bound is the timeout, not a speed target: latency
    // figures are printed above and benchmarks measure speed.
    assert!(
        latencies[NORMAL - 1] < HEADER_TIMEOUT,
        "the slowest normal request during the attack took {:?}, as long as \
         the {HEADER_TIMEOUT:?} header timeout that frees the attackers' slots",
        latencies[NORMAL - 1]
    );
    // (b) Every slowloris connection is closed, close to the header timeout.
    assert_eq!(
        still_open, 0,
        "{still_open} slowloris connections outlived 5 s"
    );
    assert!(
        lasted.len() >= ATTACKERS,
        "only {} slowloris connections",
        lasted.len()
    );
    assert!(
        fastest >= HEADER_TIMEOUT - Duration::from_millis(100),
        "a slowloris connection was closed before the header timeout ({fastest:?})"
    );
    // The bound is loose on purpose: a connection's time counts from
    // before its connect, and 1,000 connects at once on a loaded machine
    // (2.58 s was seen under a parallel build) can wait for the accept
    // queue. A header timer reset by each dribbled byte would keep a
    // connection for the whole 5 s dribble, far above it.
    assert!(
        slowest < HEADER_TIMEOUT + Duration::from_millis(3000),
        "a slowloris connection lasted {slowest:?} with a {HEADER_TIMEOUT:?} header timeout"
    );
    // (c) Backpressure: the never-read bodies stay unproduced. Buffering
    // them would cost 64 MiB per reader (1 GiB); what the attack costs is
    // the 1,000 connections' buffers and tasks plus each reader's few
    // queued chunks: measured at +28..31 MiB in a debug build (RELIABILITY.md). The bound
    // leaves room for that and stays below one buffered body.
    assert!(
        rss_under_attack < baseline + 48 * 1024,
        "resident memory went from {baseline} KiB to {rss_under_attack} KiB under the attack"
    );
    // Every unread body was dropped as Aborted once its reader left.
    assert_eq!(
        (stats.started, stats.completed, stats.aborted, stats.failed),
        (1 + READERS as u64, 1, READERS as u64, 0),
        "{stats:?}"
    );
    assert!(
        fds_after <= fds_baseline,
        "the server holds {fds_after} descriptors after the attack, {fds_baseline} before"
    );
    assert_eq!(get(addr, "/hello").await.status, 200);
}
