//! WebSocket with other clients than the raw one of `websocket.rs`: an
//! independent implementation (Python's `websockets` package) against the
//! server, and 1,000 sockets held at once against the `load_server`
//! process, whose resident memory is reported.
//!
//! The Python is `$WSGI_PYTHON`, else the CI venv
//! (`target/python-venv/bin/python`), else `python3`, and must import
//! `websockets`. Without it the interop test says why on stderr and passes,
//! unless `WSGI_REQUIRE_WEBSOCKETS=1` (CI sets it, after installing the
//! package), which makes it a failure.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsgi_core::router::Router;
use wsgi_core::websocket::{Message, WebSocketUpgrade};
use wsgi_core::{wsgi_handler, WsgiHandler, WsgiResponse};
use wsgi_tests::child::ChildServer;
use wsgi_tests::{serve_with, test_config, IO_TIMEOUT};

fn report(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// A Python that can `import websockets`, or `None` after saying why the
/// test is skipped (a failure when `WSGI_REQUIRE_WEBSOCKETS=1`).
fn python_or_skip(test: &str) -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/python-venv/bin/python");
    let candidates: Vec<PathBuf> = match std::env::var_os("WSGI_PYTHON") {
        Some(chosen) => vec![chosen.into()],
        None => vec![venv, "python3".into()],
    };
    let found = candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import websockets"])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    if found.is_none() {
        let required = std::env::var("WSGI_REQUIRE_WEBSOCKETS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{test}: WSGI_REQUIRE_WEBSOCKETS=1 but no Python with the `websockets` package (pip install websockets, or set WSGI_PYTHON)"
        );
        report(&format!(
            "{test}: skipped, no Python with the `websockets` package (set WSGI_PYTHON, or WSGI_REQUIRE_WEBSOCKETS=1 to fail)"
        ));
    }
    found
}

#[wsgi_handler]
fn echo_endpoint(upgrade: WebSocketUpgrade) -> WsgiResponse {
    upgrade
        .protocols(["chat.v1"])
        .max_message_size(256 * 1024)
        .on_upgrade(|mut socket| async move {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Text(_) | Message::Binary(_))
                    && socket.send(message).await.is_err()
                {
                    break;
                }
            }
        })
}

#[wsgi_handler]
fn goodbye_endpoint(upgrade: WebSocketUpgrade) -> WsgiResponse {
    upgrade.on_upgrade(|mut socket| async move {
        let _ = socket.send(Message::text("goodbye")).await;
        let _ = socket.close(4000, "done here").await;
        while socket.recv().await.is_some() {}
    })
}

/// The Python client: every check prints a line; any failure raises.
const CLIENT: &str = r#"
import asyncio, sys
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

base = sys.argv[1]

async def main():
    async with connect(base + "/echo", subprotocols=["chat.v1"], max_size=None) as ws:
        assert ws.subprotocol == "chat.v1", ws.subprotocol
        for text in ["", "hello", "κόσμε 𝄞", "x" * 70000]:
            await ws.send(text)
            got = await ws.recv()
            assert got == text, (len(got), len(text))
        for size in [0, 1, 125, 126, 65535, 65536, 200000]:
            data = bytes(i % 251 for i in range(size))
            await ws.send(data)
            assert await ws.recv() == data, size
        # A fragmented message, sent from an iterator.
        await ws.send(["frag", "men", "ted"])
        assert await ws.recv() == "fragmented"
        latency = await (await ws.ping(b"are you there"))
        print("ping ok", latency >= 0)
        await ws.close(1000, "bye")
        assert ws.close_code == 1000, ws.close_code
        print("echo ok")
    async with connect(base + "/echo", max_size=None) as ws:
        await ws.send(b"x" * (256 * 1024 + 1))
        try:
            await ws.recv()
            raise AssertionError("a message over the limit was echoed")
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1009, closed
        print("limit ok")
    async with connect(base + "/goodbye") as ws:
        assert await ws.recv() == "goodbye"
        try:
            await ws.recv()
            raise AssertionError("no close")
        except ConnectionClosed as closed:
            assert closed.rcvd.code == 4000 and closed.rcvd.reason == "done here", closed
        print("server close ok")

asyncio.run(main())
print("all ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pythons_websockets_client_talks_to_the_server() {
    let Some(python) = python_or_skip("pythons_websockets_client_talks_to_the_server") else {
        return;
    };
    let app = WsgiHandler::default().middleware(
        Router::new()
            .get("/echo", EchoEndpoint)
            .get("/goodbye", GoodbyeEndpoint),
    );
    let server = serve_with(app, test_config());
    let base = format!("ws://{}", server.local_addr());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-c", CLIENT, &base])
            .output()
            .expect("run the Python client")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all ok"),
        "the Python client failed:\n{stdout}\n{stderr}"
    );
    for line in ["ping ok True", "echo ok", "limit ok", "server close ok"] {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
    server.shutdown().await;
}

/// Opens a WebSocket with a raw handshake and checks the `101`.
async fn open(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut byte))
            .await
            .expect("the handshake answer in time")
            .unwrap();
        assert_eq!(n, 1, "closed during the handshake");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A masked text frame.
fn text_frame(text: &[u8]) -> Vec<u8> {
    assert!(text.len() < 126);
    let mut frame = vec![0x81, 0x80 | text.len() as u8, 1, 2, 3, 4];
    frame.extend(
        text.iter()
            .enumerate()
            .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]),
    );
    frame
}

async fn echo_once(stream: &mut TcpStream, text: &[u8]) {
    stream.write_all(&text_frame(text)).await.unwrap();
    let mut answer = vec![0u8; 2 + text.len()];
    tokio::time::timeout(IO_TIMEOUT, stream.read_exact(&mut answer))
        .await
        .expect("the echo in time")
        .unwrap();
    assert_eq!(&answer[..2], &[0x81, text.len() as u8]);
    assert_eq!(&answer[2..], text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sockets_are_held_and_served() {
    const SOCKETS: usize = 1_000;
    let server = ChildServer::start(env!("CARGO_BIN_EXE_load_server"), &["--backlog", "2048"]);
    let addr = server.addr();
    // Warm the server up so the baseline includes its steady state.
    let mut warm = open(addr).await;
    echo_once(&mut warm, b"warm").await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.rss_kib();
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(SOCKETS);
    for _ in 0..SOCKETS {
        sockets.push(open(addr).await);
    }
    let opened = started.elapsed();
    // Every socket is live: each echoes, all at once.
    let echoes = sockets.into_iter().enumerate().map(|(i, mut stream)| {
        tokio::spawn(async move {
            echo_once(&mut stream, format!("socket {i}").as_bytes()).await;
            stream
        })
    });
    let mut sockets = Vec::with_capacity(SOCKETS);
    for echo in echoes {
        sockets.push(echo.await.expect("every socket echoes"));
    }
    let held = server.rss_kib();
    let per_socket = (held.saturating_sub(before)) as f64 / SOCKETS as f64;
    report(&format!(
        "{SOCKETS} WebSockets: opened in {:.2} s; server RSS {:.1} MiB before, {:.1} MiB with them open ({per_socket:.1} KiB per socket)",
        opened.as_secs_f64(),
        before as f64 / 1024.0,
        held as f64 / 1024.0,
    ));
    assert!(
        per_socket < 64.0,
        "{per_socket:.1} KiB per idle WebSocket: far more than its buffers"
    );
    // Closing them all frees their connections: the server still serves.
    drop(sockets);
    let mut after = open(addr).await;
    echo_once(&mut after, b"after").await;
}
