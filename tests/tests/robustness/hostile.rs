//! Hostile input over raw TCP: malformed request lines and headers, framing
//! conflicts, request smuggling, oversized heads, binary junk and other
//! protocols on the plaintext port. Every case must get a 4xx or a close
//! within a bounded time, never reach the application as a valid request,
//! and leave the server answering fresh connections with 200.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsgi_core::{app_fn, Body, Chunk, Environ, Error, StartResponse};
use wsgi_tests::{parse_response, raw_exchange, serve_with, test_config};

/// How long the server may take to answer or close for one case.
const CASE_DEADLINE: Duration = Duration::from_secs(5);

/// What the test client saw for one case.
#[derive(Debug)]
enum Outcome {
    /// The server closed (or reset) the connection without any response.
    Closed,
    /// Status codes of the HTTP/1 responses received before the close.
    Answered(Vec<u16>),
    /// Bytes that are not an HTTP/1 response (e.g. an HTTP/2 GOAWAY frame),
    /// followed by a close.
    NonHttp1,
    /// Neither an answer nor a close within `CASE_DEADLINE`.
    Hung(Vec<u8>),
}

/// An application that records the path of every request it sees, reads the
/// whole body (so broken framing surfaces as a body error) and answers 200.
fn recording_app(seen: Arc<Mutex<Vec<String>>>) -> impl wsgi_core::Application + Clone {
    app_fn(move |environ: &mut Environ, sr: StartResponse| {
        let path = environ.get("RAW_URI").unwrap_or_default().into_owned();
        seen.lock().unwrap().push(path.clone());
        let mut input = environ.take_input();
        Ok::<_, Error>(Body::from_chunks([Chunk::future(async move {
            let body = input.read_all().await?;
            sr.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok::<_, Error>(format!("ok {path} {}", body.len()))
        })]))
    })
}

/// Counts the HTTP/1 responses in `raw` (status lines at the start or right
/// after a previous response's end are enough for this purpose: any
/// `HTTP/1.x ddd ` that starts a line).
fn statuses(raw: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 12 <= raw.len() {
        let at_line_start = i == 0 || raw[i - 1] == b'\n';
        if at_line_start
            && (raw[i..].starts_with(b"HTTP/1.1 ") || raw[i..].starts_with(b"HTTP/1.0 "))
        {
            if let Some(code) = std::str::from_utf8(&raw[i + 9..i + 12])
                .ok()
                .and_then(|s| s.parse().ok())
            {
                out.push(code);
            }
        }
        i += 1;
    }
    out
}

/// Sends `bytes` on a fresh connection and watches what comes back until
/// the server closes or `CASE_DEADLINE` passes. A server that closes while
/// the client is still writing (a reset) counts as a close.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Outcome {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    // Write and read concurrently: a server refusing a huge head early must
    // not deadlock the client.
    let (mut reader, mut writer) = stream.split();
    let write = async {
        let _ = writer.write_all(bytes).await;
        // Keep the write half open: silence, not EOF, is the hostile part.
        std::future::pending::<()>().await;
    };
    let read = async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    let closed = tokio::time::timeout(CASE_DEADLINE, async {
        tokio::select! {
            () = write => unreachable!(),
            closed = read => closed,
        }
    })
    .await
    .unwrap_or(false);
    if !closed {
        // Not closed in time: acceptable only when a complete 4xx arrived
        // and the server just keeps the connection open.
        let codes = statuses(&got);
        if !codes.is_empty() && parse_response(&got, false).is_some_and(|r| r.complete) {
            return Outcome::Answered(codes);
        }
        return Outcome::Hung(got);
    }
    if got.is_empty() {
        return Outcome::Closed;
    }
    let codes = statuses(&got);
    if codes.is_empty() {
        Outcome::NonHttp1
    } else {
        Outcome::Answered(codes)
    }
}

/// A case: a name, the bytes sent, and whether an HTTP/1 4xx (rather than a
/// bare close or a non-HTTP/1 answer) is required.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// `Some(path)`: a request smuggled in the body that must never be
    /// served.
    hidden: Option<&'static str>,
}

fn case(name: &'static str, bytes: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        bytes: bytes.into(),
        hidden: None,
    }
}

fn smuggle(name: &'static str, bytes: impl Into<Vec<u8>>, hidden: &'static str) -> Case {
    Case {
        name,
        bytes: bytes.into(),
        hidden: Some(hidden),
    }
}

/// A TLS 1.2/1.3 ClientHello, as a browser would send to an https port.
fn tls_client_hello() -> Vec<u8> {
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x00, 0x2f, // record: handshake, TLS 1.0, length 47
        0x01, 0x00, 0x00, 0x2b, // ClientHello, length 43
        0x03, 0x03, // client version TLS 1.2
    ];
    hello.extend_from_slice(&[0x42; 32]); // random
    hello.extend_from_slice(&[0x00]); // session id length
    hello.extend_from_slice(&[0x00, 0x02, 0x13, 0x01]); // cipher suites
    hello.extend_from_slice(&[0x01, 0x00]); // compression methods
    hello.extend_from_slice(&[0x00, 0x00]); // extensions length
    hello
}

fn cases() -> Vec<Case> {
    let huge_target = format!(
        "GET /{} HTTP/1.1\r\nHost: h\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        "b".repeat(70 * 1024)
    );
    let many_headers = {
        let mut r = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
        for i in 0..150 {
            r.push_str(&format!("X-H{i}: v\r\n"));
        }
        r.push_str("\r\n");
        r
    };
    let many_small_headers_block = {
        // Under the header count but over 64 KiB in total.
        let mut r = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
        for i in 0..90 {
            r.push_str(&format!("X-H{i}: {}\r\n", "c".repeat(800)));
        }
        r.push_str("\r\n");
        r
    };
    let junk: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut h2_junk = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    h2_junk.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01]);
    h2_junk.extend_from_slice(&junk[..512]);
    let mut nul_in_value = b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a".to_vec();
    nul_in_value.extend_from_slice(b"\0b\r\n\r\n");

    vec![
        // Request line.
        case("empty request line", "\r\n\r\n\r\n\r\nxx\r\n\r\n"),
        case("method only", "GET\r\n\r\n"),
        case("no version", "GET /\r\nHost: h\r\n\r\n"),
        case("unknown version HTTP/2.0 in HTTP/1 framing", "GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
        case("version HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n"),
        case("version HTTP/3.0", "GET / HTTP/3.0\r\nHost: h\r\n\r\n"),
        case("lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n"),
        case("garbage version", "GET / FOO/1.1\r\nHost: h\r\n\r\n"),
        case("extra token in request line", "GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n"),
        case("tab-separated request line", "GET\t/\tHTTP/1.1\r\nHost: h\r\n\r\n"),
        case("space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"),
        case("control byte in target", "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n"),
        case("method with a slash", "GE/T / HTTP/1.1\r\nHost: h\r\n\r\n"),
        case("bare LF line endings with junk", "GET / HTTP/1.1\nHost: h\n\rX\n\n"),
        case("bare CR in request line", "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n"),
        case("oversized request target (100 KiB)", huge_target),
        // Headers.
        case("space in header name", "GET / HTTP/1.1\r\nHost: h\r\nX Bad: v\r\n\r\n"),
        case("space before colon", "GET / HTTP/1.1\r\nHost: h\r\nX-Bad : v\r\n\r\n"),
        case("header without colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"),
        case("empty header name", "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"),
        case("NUL in header value", nul_in_value),
        case("NUL in header name", "GET / HTTP/1.1\r\nHost: h\r\nX-\0A: v\r\n\r\n"),
        case("bare CR in header value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n"),
        case("obs-fold continuation line", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n  folded\r\n\r\n"),
        case("leading whitespace before first header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n"),
        case("non-token byte in header name", "GET / HTTP/1.1\r\nHost: h\r\nX-(A): v\r\n\r\n"),
        case("oversized header block (70 KiB value)", huge_header),
        case("oversized header block (90 headers of 800 bytes)", many_small_headers_block),
        case("too many headers (150)", many_headers),
        case("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
        case("HTTP/1.1 POST without Host", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
        case("two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        case("two Host headers on HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
        case("Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        case("Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        case("Host with userinfo", "GET / HTTP/1.1\r\nHost: user@evil\r\n\r\n"),
        case("Host with a bad port", "GET / HTTP/1.1\r\nHost: a:port\r\n\r\n"),
        // Content-Length.
        case("two different Content-Length headers", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"),
        case("Content-Length list with different values", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 5\r\n\r\nabcde"),
        case("negative Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\nabc"),
        case("non-numeric Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\nabc"),
        case("Content-Length with a plus sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc"),
        case("hexadecimal Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc"),
        case("overflowing Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\nabc"),
        case("empty Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\nabc"),
        // Transfer-Encoding.
        case("Transfer-Encoding gzip only", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
        case("Transfer-Encoding identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\nabc"),
        case("Transfer-Encoding chunked then gzip", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        case("Transfer-Encoding xchunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        case("Transfer-Encoding on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        // Chunked bodies.
        case("non-hex chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        case("negative chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n"),
        case("overflowing chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
        case("chunk longer than its size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n"),
        case("chunk data without CRLF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n"),
        case("truncated chunk then silence", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"),
        case("missing last chunk then silence", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"),
        case("body shorter than Content-Length then silence", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"),
        // Binary and other protocols.
        case("binary junk", junk.clone()),
        case("all 0xff bytes", vec![0xffu8; 2048]),
        case("NUL bytes", vec![0u8; 2048]),
        case("TLS ClientHello on the plaintext port", tls_client_hello()),
        case("HTTP/2 preface followed by junk", h2_junk),
        case("HTTP/2 preface with a bad frame header", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x09\x00\x00\x00\x00\x00junkjunk".to_vec()),
        // Smuggling: a request hidden in a body must never be answered.
        smuggle(
            "CL then TE chunked with a hidden request",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 47\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled-cl-te HTTP/1.1\r\nHost: h\r\n\r\n",
            "/smuggled-cl-te",
        ),
        smuggle(
            "TE chunked then CL with a hidden request",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /smuggled-te-cl HTTP/1.1\r\nHost: h\r\n\r\n",
            "/smuggled-te-cl",
        ),
        smuggle(
            "duplicate Transfer-Encoding headers with a hidden request",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 44\r\n\r\n0\r\n\r\nGET /smuggled-te-te HTTP/1.1\r\nHost: h\r\n\r\n",
            "/smuggled-te-te",
        ),
        smuggle(
            "obfuscated Transfer-Encoding with a hidden request",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /smuggled-te-obf HTTP/1.1\r\nHost: h\r\n\r\n",
            "/smuggled-te-obf",
        ),
        smuggle(
            "conflicting Content-Length with a hidden request",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /smuggled-cl-cl HTTP/1.1\r\nHost: h\r\n\r\n",
            "/smuggled-cl-cl",
        ),
    ]
}

/// Why `outcome` is not acceptable for `case`, if it is not.
fn verdict(case: &Case, outcome: &Outcome) -> Result<(), String> {
    match outcome {
        Outcome::Closed | Outcome::NonHttp1 => Ok(()),
        Outcome::Hung(got) => Err(format!(
            "neither a 4xx nor a close within {CASE_DEADLINE:?}; received {:?}",
            String::from_utf8_lossy(got)
        )),
        Outcome::Answered(codes) => {
            if case.hidden.is_some() && codes.len() > 1 {
                return Err(format!(
                    "{} responses on one connection (a smuggled request was answered): {codes:?}",
                    codes.len()
                ));
            }
            if case.hidden.is_none() && codes.iter().any(|c| !(400..500).contains(c)) {
                return Err(format!("expected only 4xx responses, got {codes:?}"));
            }
            if case.hidden.is_some() && codes.iter().any(|c| *c >= 500) {
                return Err(format!(
                    "expected a 4xx (or 200 for the outer request), got {codes:?}"
                ));
            }
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_4xx_or_close_and_the_server_keeps_serving() {
    let _load = wsgi_tests::exclusive().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut config = test_config();
    // Silent clients (truncated bodies, bare HTTP/2 prefaces) are cut off
    // well within the per-case deadline.
    config.header_read_timeout = Duration::from_secs(2);
    assert!(config.max_header_size <= 64 * 1024 && config.max_headers <= 100);
    let server = serve_with(recording_app(Arc::clone(&seen)), config);
    let addr = server.local_addr();
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());

    // The cases are independent connections: run them all at once so the
    // silent ones wait out their timeouts together.
    let runs = cases.iter().map(|case| async move {
        let started = Instant::now();
        let outcome = exchange(addr, &case.bytes).await;
        let took = started.elapsed();
        let mut problems = Vec::new();
        if let Err(why) = verdict(case, &outcome) {
            problems.push(why);
        }
        let after = raw_exchange(
            addr,
            b"GET /after HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
        if !parse_response(&after, false).is_some_and(|r| r.status == 200 && r.complete) {
            problems.push(format!(
                "a fresh valid request afterwards got {:?}",
                String::from_utf8_lossy(&after)
            ));
        }
        (case.name, outcome, took, problems)
    });
    let results = futures_util::future::join_all(runs).await;

    let served = seen.lock().unwrap().clone();
    let mut failures = Vec::new();
    for (case, (name, outcome, took, problems)) in cases.iter().zip(results) {
        println!("{name}: {outcome:?} in {took:?}");
        if let Some(hidden) = case.hidden {
            if served.iter().any(|p| p.contains(hidden)) {
                failures.push(format!(
                    "case `{name}`: the hidden request {hidden} was served"
                ));
            }
        }
        for problem in problems {
            failures.push(format!("case `{name}`: {problem}"));
        }
    }
    // Only the outer requests of smuggling cases and the `/after` probes
    // may reach the application.
    for path in &served {
        assert!(
            path == "/" || path == "/after",
            "the application saw an unexpected request {path:?}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    server.shutdown().await;
}

#[tokio::test]
async fn http10_without_host_is_still_served() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = serve_with(recording_app(seen), test_config());
    let raw = raw_exchange(server.local_addr(), b"GET /old HTTP/1.0\r\n\r\n").await;
    let response = parse_response(&raw, false);
    assert!(
        response.is_some_and(|r| r.status == 200 && r.complete),
        "HTTP/1.0 without Host got {:?}",
        String::from_utf8_lossy(&raw)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn http11_without_host_gets_400_and_never_reaches_the_application() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = serve_with(recording_app(Arc::clone(&seen)), test_config());
    let raw = raw_exchange(
        server.local_addr(),
        b"GET /no-host HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    let response = parse_response(&raw, false);
    assert!(
        response.is_some_and(|r| r.status == 400 && r.complete),
        "HTTP/1.1 without Host got {:?}",
        String::from_utf8_lossy(&raw)
    );
    assert!(seen.lock().unwrap().is_empty(), "the application ran");
    server.shutdown().await;
}

/// Unusual but valid requests: the rules above must not reject them, and
/// nothing in the environ may panic on them.
#[tokio::test]
async fn odd_but_valid_requests_are_served() {
    let ninety_nine_headers = {
        let mut r = String::from("GET /many HTTP/1.1\r\nHost: h\r\nConnection: close\r\n");
        for i in 0..98 {
            r.push_str(&format!("X-H{i}: v\r\n"));
        }
        r.push_str("\r\n");
        r.into_bytes()
    };
    let mut obs_text =
        b"GET /obs HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Latin: caf".to_vec();
    obs_text.extend_from_slice(b"\xe9\r\n\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty Host", b"GET /empty-host HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n".to_vec()),
        ("Host with a port", b"GET /port HTTP/1.1\r\nHost: h:8080\r\nConnection: close\r\n\r\n".to_vec()),
        ("IPv6 Host", b"GET /v6 HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n".to_vec()),
        ("absolute-form target", b"GET http://h/abs HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".to_vec()),
        ("obs-text in a header value", obs_text),
        ("percent-encoded non-UTF-8 path", b"GET /%ff%fe HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".to_vec()),
        ("percent-encoded NUL in the path", b"GET /a%00b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".to_vec()),
        ("100 headers (the limit)", ninety_nine_headers),
        ("two Cookie headers", b"GET /cookies HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2\r\nConnection: close\r\n\r\n".to_vec()),
        ("same Content-Length twice", b"POST /same-cl HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc".to_vec()),
    ];
    let app = app_fn(|environ: &mut Environ, sr: StartResponse| {
        // Touch every variable, as a debugging middleware would.
        let all = environ.vars().len() + environ.path_info_bytes().len();
        let _ = (
            environ.server_name(),
            environ.server_port(),
            environ.raw_uri(),
        );
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(format!("{all} variables"))
    });
    let server = serve_with(app, test_config());
    let mut failures = Vec::new();
    for (name, bytes) in &cases {
        let raw = raw_exchange(server.local_addr(), bytes).await;
        if !parse_response(&raw, false).is_some_and(|r| r.status == 200 && r.complete) {
            failures.push(format!(
                "case `{name}`: expected 200, got {:?}",
                String::from_utf8_lossy(&raw)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    server.shutdown().await;
}

#[tokio::test]
async fn junk_pipelined_after_a_valid_request_gets_400_after_the_first_response() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = serve_with(recording_app(Arc::clone(&seen)), test_config());
    let mut request = b"GET /first HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
    request.extend_from_slice(b"\x00\x01\x02 not a request\r\n\r\n");
    let raw = raw_exchange(server.local_addr(), &request).await;
    assert_eq!(
        statuses(&raw),
        vec![200, 400],
        "received {:?}",
        String::from_utf8_lossy(&raw)
    );
    assert_eq!(*seen.lock().unwrap(), vec!["/first".to_owned()]);
    server.shutdown().await;
}
