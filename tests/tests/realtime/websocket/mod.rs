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

mod handshake;
mod lifecycle;
mod protocol;
