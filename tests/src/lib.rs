//! Helpers for the end-to-end tests: a server on a free loopback port and a
//! raw HTTP/1 client that shows exactly what went over the wire.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsgi_core::server::{Server, ServerHandle};
use wsgi_core::{Application, Config};

pub mod child;

/// Held by the load tests (many connections, memory and latency read
/// while they run) so that they do not overlap one another in their test
/// binary: each measures the server under its own load only.
/// (An asynchronous lock: it is held across `.await`, and a test that
/// fails while holding it releases it without poisoning it.)
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOAD.lock().await
}

/// How long any single wire operation in a test may take before the test
/// fails instead of hanging.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A configuration for tests: a free loopback port, the caller's runtime.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.bind = vec!["127.0.0.1:0".parse().expect("an address")];
    config.workers = 0;
    config.shutdown_timeout = Duration::from_secs(5);
    config
}

/// Starts `app` on the current runtime with [`test_config`].
pub fn serve<A: Application + Clone>(app: A) -> ServerHandle {
    serve_with(app, test_config())
}

/// Starts `app` with `config`.
pub fn serve_with<A: Application + Clone>(app: A, config: Config) -> ServerHandle {
    Server::new(app)
        .config(config)
        .spawn()
        .expect("the test server starts")
}

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status line, e.g. `HTTP/1.1 200 OK`.
    pub status_line: String,
    /// The status code.
    pub status: u16,
    /// Header lines as sent, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body after de-chunking.
    pub body: Vec<u8>,
    /// Whether the body was complete per its framing (length reached, or
    /// final chunk seen, or close-delimited).
    pub complete: bool,
    /// Everything received, verbatim.
    pub raw: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` verbatim on a new connection and reads until the server
/// closes it (or `IO_TIMEOUT`). Use `Connection: close` in the request.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    let mut received = Vec::new();
    let _ = tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut received)).await;
    received
}

/// Sends `request` and parses the single response it gets.
pub async fn raw_request(addr: SocketAddr, request: &str) -> RawResponse {
    let raw = raw_exchange(addr, request.as_bytes()).await;
    parse_response(&raw, request.starts_with("HEAD ")).unwrap_or_else(|| {
        panic!(
            "no parsable response to {request:?}; got {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// An HTTP/2 client connection to `addr` without TLS (prior knowledge):
/// the request sender, and the task driving the connection, which ends
/// when the server closes it.
pub async fn h2c_connect(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>>,
    tokio::task::JoinHandle<hyper::Result<()>>,
) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    (sender, tokio::spawn(conn))
}

/// A `GET` with `Connection: close`.
pub async fn get(addr: SocketAddr, path: &str) -> RawResponse {
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
    .await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses one HTTP/1 response from `raw`.
pub fn parse_response(raw: &[u8], head_request: bool) -> Option<RawResponse> {
    let head_end = find(raw, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?.to_owned();
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[head_end + 4..];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (body, complete) = if head_request || status == 204 || status == 304 {
        (Vec::new(), rest.is_empty())
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        let body = rest[..rest.len().min(len)].to_vec();
        let complete = body.len() == len;
        (body, complete)
    } else {
        (rest.to_vec(), true)
    };
    Some(RawResponse {
        status_line,
        status,
        headers,
        body,
        complete,
        raw: raw.to_vec(),
    })
}

/// Decodes a chunked body; `complete` is whether the last chunk arrived.
pub fn dechunk(mut data: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(data, b"\r\n") else {
            return (body, false);
        };
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap_or("");
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (body, false);
        };
        data = &data[line_end + 2..];
        if size == 0 {
            return (body, data.starts_with(b"\r\n"));
        }
        if data.len() < size + 2 {
            body.extend_from_slice(&data[..data.len().min(size)]);
            return (body, false);
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Opens a connection and sends `request` on it, leaving it open.
pub async fn send(addr: SocketAddr, request: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    stream
}

/// Reads from `stream` until what was received contains `end`; fails the
/// test if the connection closes first or `IO_TIMEOUT` passes.
pub async fn read_until(stream: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    read_more_until(stream, &mut got, end).await;
    got
}

/// [`read_until`] adding to what was already received in `got` (a stream
/// read in steps: a head, then one event after another).
pub async fn read_more_until(stream: &mut TcpStream, got: &mut Vec<u8>, end: &[u8]) {
    let mut buf = vec![0u8; 4096];
    while find(got, end).is_none() {
        let n = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut buf))
            .await
            .expect("the response arrived in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed early after {:?}",
            String::from_utf8_lossy(got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}
