//! Abusive clients at volume: clients that vanish in the middle of a
//! streamed body, and slowloris clients that dribble a request head. Counts
//! are kept small enough for CI on two cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use wsgi_core::{app_fn, Body, Environ, Error, Outcome, StartResponse};
use wsgi_tests::{get, read_until, send, serve_with, test_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_abandoned_streamed_body_is_closed_exactly_once() {
    let _load = wsgi_tests::exclusive().await;
    const CLIENTS: usize = 2_000;
    const CONCURRENCY: usize = 64;
    let started_bodies = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let app = {
        let started_bodies = Arc::clone(&started_bodies);
        let outcomes = Arc::clone(&outcomes);
        app_fn(move |environ: &mut Environ, sr: StartResponse| {
            sr.start("200 OK", [("Content-Type", "text/plain")])?;
            if environ.path_info() != "/stream" {
                return Ok(Body::from("ok"));
            }
            started_bodies.fetch_add(1, Ordering::SeqCst);
            let outcomes = Arc::clone(&outcomes);
            // A slow stream of at most 1,000 chunks (10 s): long enough
            // that every client leaves before its end.
            let stream = futures_util::stream::unfold(0u32, |n| async move {
                if n >= 1_000 {
                    return None;
                }
                if n > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Some((Ok::<_, Error>(format!("chunk {n}\n")), n + 1))
            });
            Ok::<_, Error>(Body::from_stream(stream).on_close(move |outcome| {
                outcomes.lock().unwrap().push(outcome);
            }))
        })
    };
    let server = serve_with(app, test_config());
    let addr = server.local_addr();
    let started = Instant::now();
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let permit = Arc::clone(&limit).acquire_owned().await.unwrap();
        clients.spawn(async move {
            let _permit = permit;
            let mut stream = send(addr, b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n").await;
            // The head and the first chunk arrived: vanish mid-body.
            read_until(&mut stream, b"chunk 0\n").await;
            drop(stream);
        });
    }
    while let Some(done) = clients.join_next().await {
        done.expect("client task");
    }
    // The server notices each departure on its next write (every 10 ms).
    let deadline = Instant::now() + Duration::from_secs(10);
    while outcomes.lock().unwrap().len() < CLIENTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A moment more, so a second close of any body would be seen.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let outcomes = outcomes.lock().unwrap().clone();
    println!(
        "{CLIENTS} abandoned bodies closed in {:?}",
        started.elapsed()
    );
    assert_eq!(started_bodies.load(Ordering::SeqCst), CLIENTS);
    assert_eq!(
        outcomes.len(),
        CLIENTS,
        "close hooks ran {} times for {CLIENTS} abandoned bodies",
        outcomes.len()
    );
    let not_aborted: Vec<_> = outcomes
        .iter()
        .filter(|o| **o != Outcome::Aborted)
        .collect();
    assert!(
        not_aborted.is_empty(),
        "abandoned bodies closed with {not_aborted:?}"
    );
    let after = get(addr, "/after").await;
    assert_eq!((after.status, after.text().as_str()), (200, "ok"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_and_others_still_served() {
    let _load = wsgi_tests::exclusive().await;
    const ATTACKERS: usize = 200;
    let mut config = test_config();
    config.header_read_timeout = Duration::from_secs(1);
    let app = app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>("ok")
    });
    let server = serve_with(app, config);
    let addr = server.local_addr();
    let mut attackers = tokio::task::JoinSet::new();
    for _ in 0..ATTACKERS {
        attackers.spawn(async move {
            let started = Instant::now();
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let _ = stream
                .write_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
                .await;
            let mut buf = [0u8; 1024];
            // One header byte every 100 ms, for at most 5 s.
            for _ in 0..50 {
                tokio::select! {
                    read = stream.read(&mut buf) => {
                        // EOF, a reset, or an error response: the server
                        // gave up on this head.
                        let _ = read;
                        return Some(started.elapsed());
                    }
                    () = tokio::time::sleep(Duration::from_millis(100)) => {
                        if stream.write_all(b"a").await.is_err() {
                            return Some(started.elapsed());
                        }
                    }
                }
            }
            None
        });
    }
    // Meanwhile, a normal client is served promptly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let normal = get(addr, "/").await;
    let normal_took = asked.elapsed();
    assert_eq!(normal.status, 200, "{}", normal.text());
    assert!(
        normal_took < Duration::from_secs(1),
        "a normal request during the attack took {normal_took:?}"
    );
    let mut closed_after = Vec::new();
    let mut still_open = 0;
    while let Some(done) = attackers.join_next().await {
        match done.expect("attacker task") {
            Some(took) => closed_after.push(took),
            None => still_open += 1,
        }
    }
    assert_eq!(
        still_open, 0,
        "{still_open} of {ATTACKERS} slowloris connections were still open after 5 s"
    );
    let slowest = closed_after.iter().max().copied().unwrap_or_default();
    let fastest = closed_after.iter().min().copied().unwrap_or_default();
    println!("slowloris connections closed after {fastest:?}..{slowest:?}; normal request took {normal_took:?}");
    assert!(
        fastest >= Duration::from_millis(900),
        "a slowloris connection was closed before the header timeout ({fastest:?})"
    );
    assert!(
        slowest < Duration::from_secs(3),
        "the slowest slowloris connection lasted {slowest:?} with a 1 s header timeout"
    );
    server.shutdown().await;
}
