//! `HealthCheck` probes over sockets, and `shutdown_drain`: readiness turns
//! 503 as soon as a shutdown begins while requests are still served.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsgi_core::middleware::HealthCheck;
use wsgi_core::{app_fn, Environ, Error, StartResponse, WsgiHandler};
use wsgi_tests::{get, raw_request, serve_with, test_config};

fn app(_: &mut Environ, sr: StartResponse) -> Result<&'static str, Error> {
    sr.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok("app")
}

fn handler(health: HealthCheck) -> WsgiHandler {
    WsgiHandler::default().middleware(health).app(app_fn(app))
}

#[tokio::test]
async fn probes_answer_and_other_requests_pass() {
    let server = serve_with(handler(HealthCheck::new()), test_config());
    let addr = server.local_addr();
    let live = get(addr, "/healthz").await;
    assert_eq!((live.status, live.text().as_str()), (200, "ok"));
    assert_eq!(live.header("cache-control"), Some("no-store"));
    let ready = get(addr, "/readyz").await;
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready"));
    for path in ["/", "/healthz/x", "/ready"] {
        assert_eq!(get(addr, path).await.text(), "app", "{path}");
    }
    let head = raw_request(
        addr,
        "HEAD /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "{:?}", head.text());
    let post = raw_request(
        addr,
        "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(post.text(), "app", "only GET and HEAD are probes");
    server.shutdown().await;
}

#[tokio::test]
async fn custom_paths_and_a_readiness_check() {
    let warm = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&warm);
    let health = HealthCheck::new()
        .liveness_path("/-/alive")
        .readiness_path("/-/ready")
        .ready_when(move || flag.load(Ordering::Relaxed));
    let server = serve_with(handler(health), test_config());
    let addr = server.local_addr();
    assert_eq!(get(addr, "/-/alive").await.text(), "ok");
    let ready = get(addr, "/-/ready").await;
    assert_eq!((ready.status, ready.text().as_str()), (503, "not ready"));
    warm.store(true, Ordering::Relaxed);
    assert_eq!(get(addr, "/-/ready").await.status, 200);
    assert_eq!(
        get(addr, "/healthz").await.text(),
        "app",
        "default paths moved"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn readiness_fails_during_the_drain_while_requests_are_served() {
    let mut config = test_config();
    config.shutdown_drain = Duration::from_millis(800);
    let server = serve_with(handler(HealthCheck::new()), config);
    let addr = server.local_addr();
    assert_eq!(get(addr, "/readyz").await.status, 200);

    let started = Instant::now();
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = get(addr, "/readyz").await;
    assert_eq!(
        (ready.status, ready.text().as_str()),
        (503, "shutting down")
    );
    assert_eq!(get(addr, "/healthz").await.status, 200, "still alive");
    let normal = get(addr, "/").await;
    assert_eq!((normal.status, normal.text().as_str()), (200, "app"));

    stopping.await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "stopped before the drain ended: {:?}",
        started.elapsed()
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after the shutdown"
    );
}

#[tokio::test]
async fn without_a_drain_the_shutdown_is_immediate() {
    let server = serve_with(handler(HealthCheck::new()), test_config());
    let addr = server.local_addr();
    let started = Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
