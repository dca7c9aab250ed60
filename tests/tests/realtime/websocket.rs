//! WebSocket over real sockets: the handshake and its refusals, the
//! protocol cases the Autobahn test suite covers (framing, reserved bits,
//! opcodes, fragmentation, interleaved control frames, UTF-8, close codes,
//! limits) with a raw-frame client written here, the lifecycle (close on
//! return and on panic, keep-alive and idle timeout, graceful shutdown,
//! backpressure, `max_connections`), middleware on the `101`, an
//! independent client (Python's `websockets`), and 1,000 concurrent
//! sockets with the server's memory reported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsgi_core::router::Router;
use wsgi_core::websocket::{close_code, Message, WebSocket, WebSocketUpgrade};
use wsgi_core::{response_middleware, wsgi_handler, Config, Environ, WsgiHandler, WsgiResponse};
use wsgi_tests::{parse_response, raw_request, serve_with, test_config, IO_TIMEOUT};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// Echoes text and binary messages until the socket closes.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && socket.send(message).await.is_err()
        {
            break;
        }
    }
}

#[wsgi_handler]
fn echo_endpoint(upgrade: WebSocketUpgrade) -> WsgiResponse {
    upgrade.max_message_size(64 * 1024).on_upgrade(echo)
}

#[wsgi_handler]
fn chat_endpoint(upgrade: WebSocketUpgrade) -> WsgiResponse {
    upgrade
        .protocols(["chat.v2", "chat.v1"])
        .allowed_origins(["https://allowed.example"])
        .on_upgrade(|mut socket| async move {
            let protocol = socket.protocol().unwrap_or("none").to_owned();
            let id = socket.connection().map_or(0, |c| c.id());
            let _ = socket
                .send(Message::text(format!(
                    "protocol={protocol} connection={id}"
                )))
                .await;
            echo(socket).await;
        })
}

/// Sends one message, then returns: the server closes with 1000.
#[wsgi_handler]
fn hello_endpoint(upgrade: WebSocketUpgrade) -> WsgiResponse {
    upgrade.on_upgrade(|mut socket| async move {
        let _ = socket.send(Message::text("hello")).await;
    })
}

#[wsgi_handler]
fn panic_endpoint(upgrade: WebSocketUpgrade) -> WsgiResponse {
    upgrade.on_upgrade(|_socket| async move {
        panic!("a WebSocket function that fails");
    })
}

#[wsgi_handler]
fn idle_endpoint(upgrade: WebSocketUpgrade) -> WsgiResponse {
    upgrade
        .idle_timeout(Some(Duration::from_millis(600)))
        .on_upgrade(echo)
}

/// Sends as fast as the connection takes messages, counting them.
fn flood_endpoint(sent: Arc<AtomicU64>) -> impl wsgi_core::Application + Clone {
    #[derive(Clone)]
    struct Flood(Arc<AtomicU64>);
    impl wsgi_core::Application for Flood {
        async fn call(
            &self,
            environ: &mut Environ,
            start_response: wsgi_core::StartResponse,
        ) -> Result<wsgi_core::Body, wsgi_core::Error> {
            let sent = Arc::clone(&self.0);
            let upgrade = WebSocketUpgrade::new(environ)?;
            upgrade
                .on_upgrade(move |mut socket| async move {
                    let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
                    while socket.send(Message::Binary(chunk.clone())).await.is_ok() {
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .start(environ, &start_response)
        }
    }
    Flood(sent)
}

#[response_middleware]
fn stamp(environ: &Environ, mut response: WsgiResponse) -> WsgiResponse {
    if environ.path_info() == "/replaced" {
        // A response middleware that turns the `101` into a refusal.
        return WsgiResponse::text("refused late\n").with_status(http::StatusCode::FORBIDDEN);
    }
    response
        .headers_mut()
        .insert("x-stamped", http::HeaderValue::from_static("yes"));
    response
}

/// Refuses requests without `?token=ok` before the WebSocket handler.
#[wsgi_handler]
fn guard(environ: &Environ) -> Option<WsgiResponse> {
    (environ.path_info().starts_with("/guarded") && environ.query_string() != "token=ok")
        .then(|| WsgiResponse::text("no token\n").with_status(http::StatusCode::UNAUTHORIZED))
}

fn app() -> WsgiHandler {
    WsgiHandler::default()
        .middleware(Guard)
        .middleware(
            Router::new()
                .get("/echo", EchoEndpoint)
                .get("/guarded", EchoEndpoint)
                .get("/replaced", EchoEndpoint)
                .get("/chat", ChatEndpoint)
                .get("/hello", HelloEndpoint)
                .get("/panic", PanicEndpoint)
                .get("/idle", IdleEndpoint),
        )
        .response_middleware(Stamp)
}

fn config() -> Config {
    let mut config = test_config();
    config.websocket_idle_timeout = Duration::from_secs(30);
    config
}

// ---- a raw-frame client ----

/// A client connection after a successful handshake.
struct Client {
    stream: TcpStream,
    /// Bytes read past the handshake's head.
    pending: Vec<u8>,
}

/// A frame as read off the wire.
#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

fn handshake_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Opens a socket; panics unless the answer is a valid `101`. Returns the
/// head too.
async fn open(addr: std::net::SocketAddr, path: &str, extra: &str) -> (Client, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(handshake_request(path, extra).as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut buf))
            .await
            .expect("the handshake answer in time")
            .expect("read");
        assert!(
            n > 0,
            "closed during the handshake: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..end]).into_owned();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nupgrade: websocket\r\n"), "{head}");
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nsec-websocket-accept: {ACCEPT}\r\n")),
        "{head}"
    );
    assert!(
        !lower.contains("content-length"),
        "a 101 carries no length: {head}"
    );
    let pending = got[end..].to_vec();
    (Client { stream, pending }, head)
}

impl Client {
    /// Sends a masked frame with `first` as its first byte (FIN, RSV, opcode).
    async fn send_raw(&mut self, first: u8, payload: &[u8], masked: bool) {
        let mut frame = vec![first];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => frame.push(mask_bit | n as u8),
            n if n < 65536 => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            let mask = [0x12, 0x34, 0x56, 0x78];
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        } else {
            frame.extend_from_slice(payload);
        }
        // A server that failed the connection may have closed it already.
        let _ = self.stream.write_all(&frame).await;
    }

    async fn send(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let first = if fin { 0x80 } else { 0 } | opcode;
        self.send_raw(first, payload, true).await;
    }

    async fn fill(&mut self, n: usize) -> bool {
        let mut buf = vec![0u8; 65536];
        while self.pending.len() < n {
            let read = tokio::time::timeout(IO_TIMEOUT, self.stream.read(&mut buf))
                .await
                .expect("a frame arrived in time");
            match read {
                Ok(0) | Err(_) => return false,
                Ok(read) => self.pending.extend_from_slice(&buf[..read]),
            }
        }
        true
    }

    /// The next frame, or `None` once the server closed the connection.
    async fn recv(&mut self) -> Option<Frame> {
        if !self.fill(2).await {
            return None;
        }
        let (b0, b1) = (self.pending[0], self.pending[1]);
        assert_eq!(b1 & 0x80, 0, "server frames are not masked");
        let (len, header) = match b1 & 0x7f {
            126 => {
                assert!(self.fill(4).await);
                (
                    u16::from_be_bytes([self.pending[2], self.pending[3]]) as usize,
                    4,
                )
            }
            127 => {
                assert!(self.fill(10).await);
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&self.pending[2..10]);
                (u64::from_be_bytes(bytes) as usize, 10)
            }
            n => (n as usize, 2),
        };
        assert!(
            self.fill(header + len).await,
            "the connection closed mid-frame"
        );
        let payload = self.pending[header..header + len].to_vec();
        self.pending.drain(..header + len);
        Some(Frame {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0f,
            payload,
        })
    }

    /// Reads frames up to the server's close; returns its code (`None`
    /// for an empty close) and checks the connection then ends.
    async fn expect_close(&mut self) -> Option<u16> {
        loop {
            let frame = self.recv().await.expect("a close frame before the end");
            if frame.opcode == 0x8 {
                let code = (frame.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                if frame.payload.len() > 2 {
                    assert!(
                        std::str::from_utf8(&frame.payload[2..]).is_ok(),
                        "UTF-8 reason"
                    );
                }
                return code;
            }
        }
    }

    /// After the close handshake the server closes the TCP connection.
    async fn expect_end(&mut self) {
        assert!(
            self.recv().await.is_none(),
            "the server ends the connection after the close"
        );
    }

    async fn close(&mut self, code: u16) {
        self.send(true, 0x8, &code.to_be_bytes()).await;
    }
}

/// A server failing the connection sends `code` and ends it.
async fn assert_fails_with(client: &mut Client, code: u16, case: &str) {
    let got = client.expect_close().await;
    assert_eq!(got, Some(code), "{case}: the close code");
    client.expect_end().await;
}

async fn serve() -> wsgi_core::server::ServerHandle {
    serve_with(app(), config())
}

// ---- the handshake ----

#[tokio::test]
async fn the_handshake_answers_101_with_the_accept_key_through_response_middleware() {
    let server = serve().await;
    let (mut client, head) = open(server.local_addr(), "/echo", "").await;
    assert!(
        head.to_ascii_lowercase().contains("\r\nx-stamped: yes\r\n"),
        "{head}"
    );
    client.send(true, 0x1, b"hi").await;
    let frame = client.recv().await.unwrap();
    assert_eq!(
        (frame.fin, frame.opcode, frame.payload.as_slice()),
        (true, 1, &b"hi"[..])
    );
    client.close(1000).await;
    assert_eq!(client.expect_close().await, Some(1000));
    client.expect_end().await;
    server.shutdown().await;
}

#[tokio::test]
async fn bad_handshakes_get_a_clear_4xx_and_the_server_keeps_serving() {
    let server = serve().await;
    let addr = server.local_addr();
    // `Connection: close` too: `raw_request` reads until the server closes.
    let base =
        "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nConnection: close\r\n";
    let cases: [(String, u16, &str); 7] = [
        (
            format!("POST /echo HTTP/1.1\r\n{base}Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"),
            405,
            "Not Allowed",
        ),
        (
            format!("GET /echo HTTP/1.1\r\n{base}Sec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "Sec-WebSocket-Key",
        ),
        (
            format!("GET /echo HTTP/1.1\r\n{base}Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "Sec-WebSocket-Key",
        ),
        (
            format!("GET /echo HTTP/1.1\r\n{base}Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n\r\n"),
            426,
            "version 13",
        ),
        (
            format!("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "Upgrade: websocket",
        ),
        (
            format!("GET /echo HTTP/1.0\r\n{base}Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "HTTP/1.1",
        ),
        (
            handshake_request("/chat", "Origin: https://evil.example\r\nConnection: close\r\n"),
            403,
            "origin",
        ),
    ];
    for (request, status, says) in cases {
        let response = raw_request(addr, &request).await;
        assert_eq!(response.status, status, "{request}\n{}", response.text());
        assert!(
            response.text().contains(says),
            "{request}\n{}",
            response.text()
        );
        if status == 426 {
            assert_eq!(response.header("sec-websocket-version"), Some("13"));
        }
    }
    // Same origin passes by default; a listed origin passes where listed.
    let (_client, _) = open(addr, "/echo", "Origin: http://127.0.0.1\r\n").await;
    let response = raw_request(
        addr,
        &handshake_request(
            "/echo",
            "Origin: http://evil.example\r\nConnection: close\r\n",
        ),
    )
    .await;
    assert_eq!(response.status, 403, "{}", response.text());
    let (_client, _) = open(addr, "/chat", "Origin: https://allowed.example\r\n").await;
    // A plain request to a WebSocket endpoint is a 400, not a hang.
    let response = raw_request(
        addr,
        "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 400);
    server.shutdown().await;
}

#[tokio::test]
async fn start_response_still_refuses_101_and_upgrade_from_applications() {
    let app = wsgi_core::app_fn(|_: &mut Environ, sr: wsgi_core::StartResponse| {
        sr.start("101 Switching Protocols", [("Upgrade", "websocket")])?;
        Ok::<_, wsgi_core::Error>("")
    });
    let server = serve_with(app, config());
    let response = raw_request(
        server.local_addr(),
        &handshake_request("/", "Connection: close\r\n"),
    )
    .await;
    assert_eq!(
        response.status,
        500,
        "{}",
        String::from_utf8_lossy(&response.raw)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn subprotocols_are_negotiated_and_the_connection_identifies_the_socket() {
    let server = serve().await;
    let (mut client, head) = open(
        server.local_addr(),
        "/chat",
        "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n",
    )
    .await;
    assert!(
        head.contains("\r\nsec-websocket-protocol: chat.v2\r\n"),
        "{head}"
    );
    let hello = client.recv().await.unwrap();
    let text = String::from_utf8(hello.payload).unwrap();
    assert!(text.starts_with("protocol=chat.v2 connection="), "{text}");
    let id: u64 = text.rsplit('=').next().unwrap().parse().unwrap();
    assert!(id > 0, "{text}");
    // None in common: no protocol header.
    let (mut other, head) = open(
        server.local_addr(),
        "/chat",
        "Sec-WebSocket-Protocol: x\r\n",
    )
    .await;
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{head}"
    );
    let hello = other.recv().await.unwrap();
    assert!(String::from_utf8(hello.payload)
        .unwrap()
        .starts_with("protocol=none"));
    server.shutdown().await;
}

#[tokio::test]
async fn middleware_that_answers_first_means_no_upgrade() {
    let server = serve().await;
    let response = raw_request(
        server.local_addr(),
        &handshake_request("/guarded", "Connection: close\r\n"),
    )
    .await;
    assert_eq!(response.status, 401, "{}", response.text());
    let (mut client, _) = open(server.local_addr(), "/guarded?token=ok", "").await;
    client.send(true, 0x2, &[1, 2, 3]).await;
    assert_eq!(client.recv().await.unwrap().payload, vec![1, 2, 3]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_101_replaced_by_response_middleware_leaves_an_ordinary_connection() {
    let server = serve().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(handshake_request("/replaced", "").as_bytes())
        .await
        .unwrap();
    let first = wsgi_tests::read_until(&mut stream, b"refused late\n").await;
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("HTTP/1.1 403 "), "{text}");
    assert!(!text.to_ascii_lowercase().contains("upgrade"), "{text}");
    // The same connection serves the next request.
    stream
        .write_all(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let second = wsgi_tests::read_until(&mut stream, b"\r\n\r\n").await;
    assert!(
        second.starts_with(b"HTTP/1.1 404 "),
        "{}",
        String::from_utf8_lossy(&second)
    );
    server.shutdown().await;
}

// ---- framing (Autobahn 1.x, 2.x) ----

#[tokio::test]
async fn text_and_binary_messages_of_every_length_encoding_echo() {
    let server = serve().await;
    let (mut client, _) = open(server.local_addr(), "/echo", "").await;
    for len in [0usize, 1, 125, 126, 127, 65535, 65536] {
        let text = "a".repeat(len);
        client.send(true, 0x1, text.as_bytes()).await;
        let frame = client.recv().await.unwrap();
        assert_eq!(
            (frame.opcode, frame.payload.len()),
            (1, len),
            "text of {len}"
        );
        let binary: Vec<u8> = (0..len).map(|i| i as u8).collect();
        client.send(true, 0x2, &binary).await;
        let frame = client.recv().await.unwrap();
        assert_eq!(
            (frame.opcode, frame.payload),
            (2, binary),
            "binary of {len}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn pings_get_pongs_with_their_payload_and_pongs_are_ignored() {
    let server = serve().await;
    let (mut client, _) = open(server.local_addr(), "/echo", "").await;
    for payload in [&b""[..], b"ping", &[0xffu8; 125][..]] {
        client.send(true, 0x9, payload).await;
        let frame = client.recv().await.unwrap();
        assert_eq!((frame.opcode, frame.payload.as_slice()), (0xA, payload));
    }
    client.send(true, 0xA, b"unsolicited").await;
    client.send(true, 0x1, b"still here").await;
    let frame = client.recv().await.unwrap();
    assert_eq!(
        (frame.opcode, frame.payload.as_slice()),
        (1, &b"still here"[..])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn protocol_violations_fail_the_connection_with_1002() {
    let server = serve().await;
    let addr = server.local_addr();
    // (first byte, payload, masked, case)
    let cases: [(u8, Vec<u8>, bool, &str); 10] = [
        (0x80 | 0x40 | 0x1, b"rsv1".to_vec(), true, "RSV1 set"),
        (0x80 | 0x20 | 0x2, b"rsv2".to_vec(), true, "RSV2 set"),
        (0x80 | 0x10 | 0x9, vec![], true, "RSV3 on a ping"),
        (0x80 | 0x3, vec![], true, "reserved data opcode 3"),
        (0x80 | 0x7, b"x".to_vec(), true, "reserved data opcode 7"),
        (0x80 | 0xB, vec![], true, "reserved control opcode 11"),
        (
            0x80 | 0xF,
            b"x".to_vec(),
            true,
            "reserved control opcode 15",
        ),
        (0x80 | 0x9, vec![0; 126], true, "a ping over 125 bytes"),
        (0x9, b"fragmented".to_vec(), true, "a fragmented ping"),
        (
            0x80 | 0x1,
            b"unmasked".to_vec(),
            false,
            "an unmasked client frame",
        ),
    ];
    for (first, payload, masked, case) in cases {
        let (mut client, _) = open(addr, "/echo", "").await;
        client.send_raw(first, &payload, masked).await;
        assert_fails_with(&mut client, close_code::PROTOCOL, case).await;
    }
    // The server still serves.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x1, b"ok").await;
    assert_eq!(client.recv().await.unwrap().payload, b"ok");
    server.shutdown().await;
}

// ---- fragmentation and interleaved control frames (Autobahn 5.x) ----

#[tokio::test]
async fn fragmented_messages_are_joined_and_control_frames_may_interleave() {
    let server = serve().await;
    let (mut client, _) = open(server.local_addr(), "/echo", "").await;
    client.send(false, 0x1, b"frag").await;
    client.send(false, 0x0, b"men").await;
    client.send(true, 0x9, b"between").await;
    client.send(true, 0x0, b"ted").await;
    let pong = client.recv().await.unwrap();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (0xA, &b"between"[..])
    );
    let frame = client.recv().await.unwrap();
    assert_eq!(
        (frame.fin, frame.opcode, frame.payload.as_slice()),
        (true, 1, &b"fragmented"[..])
    );
    // Binary in many one-byte fragments.
    client.send(false, 0x2, &[0]).await;
    for i in 1..20u8 {
        client.send(i == 19, 0x0, &[i]).await;
    }
    let frame = client.recv().await.unwrap();
    assert_eq!(frame.payload, (0..20u8).collect::<Vec<_>>());
    // Empty fragments.
    client.send(false, 0x1, b"").await;
    client.send(false, 0x0, b"").await;
    client.send(true, 0x0, b"").await;
    let frame = client.recv().await.unwrap();
    assert_eq!((frame.opcode, frame.payload.len()), (1, 0));
    server.shutdown().await;
}

#[tokio::test]
async fn broken_fragmentation_fails_with_1002() {
    let server = serve().await;
    let addr = server.local_addr();
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x0, b"continuation first").await;
    assert_fails_with(
        &mut client,
        close_code::PROTOCOL,
        "continuation without a start",
    )
    .await;

    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(false, 0x1, b"one").await;
    client.send(true, 0x1, b"two").await;
    assert_fails_with(
        &mut client,
        close_code::PROTOCOL,
        "a new message inside a fragmented one",
    )
    .await;

    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(false, 0x8, &1000u16.to_be_bytes()).await;
    assert_fails_with(&mut client, close_code::PROTOCOL, "a fragmented close").await;
    server.shutdown().await;
}

// ---- UTF-8 (Autobahn 6.x, 7.5) ----

#[tokio::test]
async fn text_must_be_utf8_even_across_fragments() {
    let server = serve().await;
    let addr = server.local_addr();
    // Valid: a four-byte character split over fragments mid-sequence.
    let (mut client, _) = open(addr, "/echo", "").await;
    let text = "κόσμε 𝄞 ok".as_bytes();
    client.send(false, 0x1, &text[..7]).await;
    client.send(false, 0x0, &text[7..12]).await;
    client.send(true, 0x0, &text[12..]).await;
    assert_eq!(client.recv().await.unwrap().payload, text);

    let invalid: [(&[u8], &str); 4] = [
        (
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            "a surrogate",
        ),
        (b"\xff", "0xff"),
        (b"\xc0\xaf", "an overlong encoding"),
        (b"\xf4\x90\x80\x80", "a code point past U+10FFFF"),
    ];
    for (bytes, case) in invalid {
        let (mut client, _) = open(addr, "/echo", "").await;
        client.send(true, 0x1, bytes).await;
        assert_fails_with(&mut client, close_code::INVALID, case).await;
    }
    // Invalid in a middle fragment, the message never completed.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(false, 0x1, b"ok so far").await;
    client.send(false, 0x0, b"\xff\xfe").await;
    assert_fails_with(
        &mut client,
        close_code::INVALID,
        "invalid UTF-8 in a fragment",
    )
    .await;
    // A close reason that is not UTF-8.
    let (mut client, _) = open(addr, "/echo", "").await;
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"\xff\xfe");
    client.send(true, 0x8, &payload).await;
    let code = client.expect_close().await;
    assert!(matches!(code, Some(1007) | Some(1002)), "{code:?}");
    server.shutdown().await;
}

// ---- close codes (Autobahn 7.x) ----

#[tokio::test]
async fn the_close_handshake_echoes_valid_codes_and_refuses_invalid_ones() {
    let server = serve().await;
    let addr = server.local_addr();
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let (mut client, _) = open(addr, "/echo", "").await;
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice("bye ✓".as_bytes());
        client.send(true, 0x8, &payload).await;
        assert_eq!(
            client.expect_close().await,
            Some(code),
            "close {code} is echoed"
        );
        client.expect_end().await;
    }
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let (mut client, _) = open(addr, "/echo", "").await;
        client.close(code).await;
        assert_eq!(
            client.expect_close().await,
            Some(1002),
            "close {code} is refused"
        );
        client.expect_end().await;
    }
    // An empty close is answered with an empty close.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x8, b"").await;
    assert_eq!(client.expect_close().await, None);
    client.expect_end().await;
    // A one-byte close payload is invalid.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x8, &[3]).await;
    assert_fails_with(&mut client, close_code::PROTOCOL, "a one-byte close").await;
    // Data after the close is not answered.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.close(1000).await;
    client.send(true, 0x1, b"after close").await;
    assert_eq!(client.expect_close().await, Some(1000));
    client.expect_end().await;
    server.shutdown().await;
}

// ---- limits (Autobahn 9.x-style sizes) ----

#[tokio::test]
async fn messages_over_the_limit_close_with_1009() {
    let server = serve().await;
    let addr = server.local_addr();
    // At the limit: fine.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x2, &vec![7u8; 64 * 1024]).await;
    assert_eq!(client.recv().await.unwrap().payload.len(), 64 * 1024);
    // One frame over it.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x2, &vec![7u8; 64 * 1024 + 1]).await;
    assert_fails_with(&mut client, close_code::SIZE, "a frame over the limit").await;
    // Fragments adding up to more.
    let (mut client, _) = open(addr, "/echo", "").await;
    for i in 0..5 {
        client
            .send(false, if i == 0 { 0x2 } else { 0x0 }, &vec![1u8; 16 * 1024])
            .await;
    }
    assert_fails_with(&mut client, close_code::SIZE, "fragments over the limit").await;
    // A declared 64-bit length far over the limit, with no payload sent.
    let (mut client, _) = open(addr, "/echo", "").await;
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(1u64 << 40).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    client.stream.write_all(&frame).await.unwrap();
    assert_fails_with(&mut client, close_code::SIZE, "a huge declared length").await;
    server.shutdown().await;
}

// ---- lifecycle ----

#[tokio::test]
async fn returning_closes_with_1000_and_a_panic_with_1011() {
    let server = serve().await;
    let addr = server.local_addr();
    let (mut client, _) = open(addr, "/hello", "").await;
    assert_eq!(client.recv().await.unwrap().payload, b"hello");
    assert_eq!(client.expect_close().await, Some(1000));
    client.close(1000).await;
    client.expect_end().await;

    let (mut client, _) = open(addr, "/panic", "").await;
    assert_eq!(client.expect_close().await, Some(1011));
    client.close(1011).await;
    client.expect_end().await;
    // The server still serves.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x1, b"alive").await;
    assert_eq!(client.recv().await.unwrap().payload, b"alive");
    server.shutdown().await;
}

#[tokio::test]
async fn a_silent_socket_is_pinged_then_closed_with_1001() {
    let server = serve().await;
    let (mut client, _) = open(server.local_addr(), "/idle", "").await;
    let started = Instant::now();
    let ping = client.recv().await.unwrap();
    assert_eq!(ping.opcode, 0x9, "a ping after half the idle timeout");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    // Not answering: closed at the idle timeout.
    assert_eq!(client.expect_close().await, Some(1001));
    assert!(started.elapsed() >= Duration::from_millis(550));
    client.close(1001).await;
    client.expect_end().await;

    // Answering pongs keeps it open past the timeout.
    let (mut client, _) = open(server.local_addr(), "/idle", "").await;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let frame = client.recv().await.unwrap();
        assert_eq!(frame.opcode, 0x9, "only pings while the client answers");
        client.send(true, 0xA, &frame.payload).await;
    }
    client.send(true, 0x1, b"still open").await;
    loop {
        let frame = client.recv().await.unwrap();
        if frame.opcode == 0x1 {
            assert_eq!(frame.payload, b"still open");
            break;
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_graceful_shutdown_closes_sockets_with_1001_and_waits_for_them() {
    let server = serve().await;
    let addr = server.local_addr();
    let (mut first, _) = open(addr, "/echo", "").await;
    let (mut second, _) = open(addr, "/echo", "").await;
    let shutdown = tokio::spawn(server.shutdown());
    assert_eq!(first.expect_close().await, Some(1001));
    assert_eq!(second.expect_close().await, Some(1001));
    // Messages still in flight are read before the answer.
    first.close(1001).await;
    first.expect_end().await;
    assert!(
        !shutdown.is_finished(),
        "the shutdown waits for the second socket"
    );
    second.close(1001).await;
    second.expect_end().await;
    tokio::time::timeout(IO_TIMEOUT, shutdown)
        .await
        .expect("the shutdown ends once the sockets closed")
        .unwrap();
}

#[tokio::test]
async fn a_client_that_does_not_read_holds_the_sender_back() {
    let sent = Arc::new(AtomicU64::new(0));
    let server = serve_with(flood_endpoint(Arc::clone(&sent)), config());
    let (client, _) = open(server.local_addr(), "/", "").await;
    // Let the socket buffers fill, then check the count stopped growing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = sent.load(Ordering::SeqCst);
    assert_eq!(before, after, "the sender waits for the client");
    // 64 KiB messages: what fits in the kernel's buffers, not 1 GiB.
    assert!(
        after < 200,
        "{after} messages of 64 KiB went out to a client that reads nothing"
    );
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn a_socket_counts_as_a_connection_for_max_connections() {
    let mut config = config();
    config.max_connections = 1;
    let server = serve_with(app(), config);
    let addr = server.local_addr();
    let (mut socket, _) = open(addr, "/echo", "").await;
    // A second connection waits in the backlog while the socket is open.
    let waiting = tokio::spawn(async move {
        raw_request(
            addr,
            "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "answered while the socket held the only slot"
    );
    socket.close(1000).await;
    assert_eq!(socket.expect_close().await, Some(1000));
    let response = tokio::time::timeout(IO_TIMEOUT, waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn the_access_log_has_a_line_when_the_socket_ends() {
    // The access line is a `tracing` event: collect it.
    use std::sync::Mutex;
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = serve().await;
    let (mut client, _) = open(server.local_addr(), "/echo", "").await;
    client.send(true, 0x1, b"12345").await;
    client.recv().await.unwrap();
    client.close(4001).await;
    assert_eq!(client.expect_close().await, Some(4001));
    client.expect_end().await;
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let text = String::from_utf8_lossy(&lines.0.lock().unwrap()).into_owned();
        if let Some(line) = text.lines().find(|l| l.contains("WEBSOCKET /echo")) {
            assert!(line.contains("closed 4001"), "{line}");
            assert!(line.contains("5 bytes in, 5 bytes out"), "{line}");
            assert!(line.contains(" ms"), "{line}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no access line for the socket: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

// ---- parsing the answer to a refused handshake with the shared helper ----

#[tokio::test]
async fn a_refused_handshake_is_a_complete_http_response() {
    let server = serve().await;
    let raw = wsgi_tests::raw_exchange(
        server.local_addr(),
        handshake_request(
            "/chat",
            "Origin: https://evil.example\r\nConnection: close\r\n",
        )
        .as_bytes(),
    )
    .await;
    let response = parse_response(&raw, false).expect("a parsable response");
    assert_eq!(response.status, 403);
    assert!(response.complete);
    server.shutdown().await;
}
