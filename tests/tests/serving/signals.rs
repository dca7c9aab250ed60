//! `Server::run` drains in-flight requests on SIGTERM and SIGINT.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsgi_tests::child::{read_address, send_signal};

/// Starts the `slow_server` binary on a free port; returns it and its address.
fn start_server(workers: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slow_server"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--workers",
            workers,
            "--log-level",
            "info",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start slow_server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = read_address(&mut lines);
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

async fn drains_on(signal: &str, workers: &str) {
    let (mut child, addr) = start_server(workers);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 64];
    let n = stream.read(&mut first).await.unwrap();
    assert!(n > 0, "the response started");
    send_signal(child.id(), signal);
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("response finished")
        .unwrap();
    let mut all = first[..n].to_vec();
    all.extend_from_slice(&rest);
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.ends_with("0\r\n\r\n"),
        "the in-flight response was cut after {signal}: {text:?}"
    );
    let (body, complete) =
        wsgi_tests::dechunk(&all[all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..]);
    assert!(complete);
    assert_eq!(body, b"slow but complete");

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after {signal}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening"
    );
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_then_exits() {
    drains_on("TERM", "1").await;
}

#[tokio::test]
async fn sigint_drains_in_flight_requests_with_several_workers() {
    drains_on("INT", "2").await;
}

/// The log is written by a thread of its own: every line queued while the
/// server ran (access lines, error lines) reaches stdout before it exits.
#[test]
fn every_log_line_is_written_before_the_server_exits() {
    use std::io::{Read, Write};
    const REQUESTS: usize = 200;
    let mut child = Command::new(env!("CARGO_BIN_EXE_slow_server"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--log-level",
            "info",
            "--access-log-format",
            "ACCESS {path} {status}",
        ])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start slow_server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = read_address(&mut lines);
    for _ in 0..REQUESTS {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /fail HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        assert!(response.starts_with(b"HTTP/1.1 500"));
    }
    send_signal(child.id(), "TERM");
    // To the end of stdout: the server has exited.
    let rest: Vec<String> = lines.map(|line| line.expect("read")).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    let count = |needle: &str| rest.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("ACCESS /fail 500"), REQUESTS, "{rest:#?}");
    assert_eq!(count("request failed"), REQUESTS, "{rest:#?}");
    assert!(
        rest.last().is_some_and(|l| l.contains("server stopped")),
        "the last line: {:?}",
        rest.last()
    );
}
