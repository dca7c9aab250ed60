//! The hyper server: faults, protocols, limits and lifecycle.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsgi_core::{app_fn, Application, Body, Chunk, Environ, Error, StartResponse};
use wsgi_tests::{get, h2c_connect, raw_request, read_until, send, serve, serve_with, test_config};

fn hello(_: &mut Environ, sr: StartResponse) -> Result<Body, Error> {
    sr.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok("Hello, World!".into())
}

#[derive(Clone)]
struct Panicky;

impl Application for Panicky {
    async fn call(&self, environ: &mut Environ, sr: StartResponse) -> Result<Body, Error> {
        if environ.path_info() == "/panic" {
            panic!("handler bug");
        }
        hello(environ, sr)
    }
}

#[tokio::test]
async fn handler_panic_gives_500_and_the_server_keeps_serving() {
    let server = serve(Panicky);
    let response = get(server.local_addr(), "/panic").await;
    assert_eq!(response.status, 500);
    assert!(response.complete);
    assert!(
        !response.text().contains("handler bug"),
        "panic message is internal"
    );
    let next = get(server.local_addr(), "/").await;
    assert_eq!(next.status, 200);
    assert_eq!(next.text(), "Hello, World!");
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let server = serve(app_fn(hello));
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    for _ in 0..3 {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        read_until(&mut stream, b"Hello, World!").await;
    }
}

#[tokio::test]
async fn h2c_prior_knowledge_request_works() {
    let server = serve(app_fn(|environ: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        let protocol = format!(
            "{} {}",
            environ.server_protocol(),
            environ.get("HTTP_HOST").unwrap_or_default()
        );
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from(protocol),
            Chunk::from(" streamed"),
        ]))
    }));
    let (mut sender, _conn) = h2c_connect(server.local_addr()).await;
    let request = http::Request::get(format!("http://{}/", server.local_addr()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.expect("h2 response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let expected = format!("HTTP/2 {} streamed", server.local_addr());
    assert_eq!(body, expected.as_bytes());
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_slow_response_finish() {
    let started = Arc::new(tokio::sync::Notify::new());
    let notify = started.clone();
    let server = serve(app_fn(move |_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        notify.notify_one();
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from("slow "),
            Chunk::future(async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, Error>("but complete")
            }),
        ]))
    }));
    let addr = server.local_addr();
    let client = tokio::spawn(async move { get(addr, "/").await });
    started.notified().await;
    let shutdown_started = Instant::now();
    server.shutdown().await;
    let response = client.await.unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response.complete,
        "the in-flight response was cut: {:?}",
        response.text()
    );
    assert_eq!(response.text(), "slow but complete");
    assert!(
        shutdown_started.elapsed() < Duration::from_secs(5),
        "drained, not timed out"
    );
    // And the listener is gone.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Shuts `server` down in the background; returns once it stopped
/// accepting (its listener refuses connections) and the shutdown reached
/// its connections.
async fn begin_shutdown(server: wsgi_core::server::ServerHandle) -> tokio::task::JoinHandle<()> {
    let addr = server.local_addr();
    let shutdown = tokio::spawn(server.shutdown());
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown
}

// A proxy with pooled connections (nginx `keepalive`) sends its next
// request the moment a response ends. If the shutdown closed a connection
// that had just answered, that request would be lost, and a lost POST is a
// 502 the proxy cannot retry.
#[tokio::test]
async fn shutdown_serves_a_request_sent_on_a_just_used_connection_then_closes_it() {
    let server = serve(app_fn(hello));
    let mut stream = send(server.local_addr(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_until(&mut stream, b"Hello, World!").await;
    let shutdown = begin_shutdown(server).await;
    stream
        .write_all(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .expect("the connection is still open");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .expect("the server answered and closed")
        .expect("closed cleanly, not reset");
    let response = wsgi_tests::parse_response(&raw, false).expect("an answer to the request");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Hello, World!");
    assert_eq!(
        response.header("connection"),
        Some("close"),
        "the answer says the connection ends"
    );
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("the shutdown finished")
        .unwrap();
}

#[tokio::test]
async fn shutdown_serves_a_connection_waiting_in_the_listen_queue() {
    // One connection at a time: a second one waits in the kernel's queue,
    // connected and with its request sent, but not accepted.
    let mut config = test_config();
    config.max_connections = 1;
    let server = serve_with(app_fn(hello), config);
    let addr = server.local_addr();
    let mut first = send(addr, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_until(&mut first, b"Hello, World!").await;
    let mut waiting = send(addr, b"GET /waiting HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), waiting.read(&mut buf))
            .await
            .is_err(),
        "not served while the first connection holds the only slot"
    );
    let shutdown = tokio::spawn(server.shutdown());
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), waiting.read_to_end(&mut raw))
        .await
        .expect("the waiting connection was answered and closed")
        .expect("served, not reset when the listener closed");
    let response = wsgi_tests::parse_response(&raw, false).expect("an answer");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("the shutdown finished")
        .unwrap();
}

#[tokio::test]
async fn shutdown_ends_idle_connections_cleanly_once_quiet() {
    let server = serve(app_fn(hello));
    let addr = server.local_addr();
    let mut quiet = send(addr, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_until(&mut quiet, b"Hello, World!").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut recent = send(addr, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_until(&mut recent, b"Hello, World!").await;
    let started = Instant::now();
    let shutdown = tokio::spawn(server.shutdown());
    let mut rest = Vec::new();
    for (stream, name) in [(&mut quiet, "quiet"), (&mut recent, "recent")] {
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
            .await
            .unwrap_or_else(|_| panic!("the {name} connection was closed"))
            .unwrap_or_else(|e| panic!("the {name} connection was reset: {e}"));
        let closed = started.elapsed();
        // Idle for 0.7 s: not about to be reused, closed at once. Used a
        // moment ago: kept open for half a second in case the next request
        // is on its way.
        match name {
            "quiet" => assert!(closed < Duration::from_millis(300), "{name}: {closed:?}"),
            _ => assert!(
                closed >= Duration::from_millis(300) && closed < Duration::from_secs(2),
                "{name}: {closed:?}"
            ),
        }
    }
    assert!(rest.is_empty(), "nothing more was sent");
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("the shutdown finished")
        .unwrap();
}

#[tokio::test]
async fn shutdown_closes_a_connection_that_never_sent_a_byte() {
    // The head deadline (10 s) and the shutdown timeout (5 s) are both far
    // longer than the drain may take here.
    let server = serve(app_fn(hello));
    let mut silent = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    // Let the server accept it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a silent connection held the drain for {:?}",
        started.elapsed()
    );
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(1), silent.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the silent connection is still open: {closed:?}"
    );
}

#[tokio::test]
async fn shutdown_timeout_bounds_draining_then_closes_what_is_left() {
    let mut config = test_config();
    config.shutdown_timeout = Duration::from_millis(200);
    let server = serve_with(
        app_fn(|_: &mut Environ, sr: StartResponse| {
            sr.start("200 OK", [("Content-Type", "text/plain")])?;
            let endless = futures_util::stream::repeat_with(|| {
                Chunk::future(async {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Ok::<_, Error>("x")
                })
            });
            Ok::<_, Error>(Body::from_chunk_stream(endless))
        }),
        config,
    );
    let mut stream = send(server.local_addr(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let mut buf = [0u8; 4096];
    assert!(stream.read(&mut buf).await.unwrap() > 0);
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown finished despite an endless response");
    assert!(started.elapsed() >= Duration::from_millis(150));
    // With `workers = 0` the runtime outlives the server: the leftover
    // connection must still be closed, not served on forever. Drain what
    // was in flight, then expect EOF or a reset within 1 s.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut still_streaming = false;
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => still_streaming = true,
            Err(_) => {}
        }
    }
    panic!("connection still open after shutdown returned (streaming: {still_streaming})");
}

#[tokio::test]
async fn silent_connection_is_closed_after_the_header_read_timeout() {
    let mut config = test_config();
    config.header_read_timeout = Duration::from_millis(300);
    let server = serve_with(app_fn(hello), config);
    for partial in [&b""[..], b"GET / HTTP/1.1\r\nHost: h\r\n"] {
        let mut stream = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        stream.write_all(partial).await.unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
            .await
            .expect("the server closed the slow connection")
            .ok();
        assert!(started.elapsed() >= Duration::from_millis(250));
    }
    assert_eq!(get(server.local_addr(), "/").await.status, 200);
}

/// Waits for the server to close `stream`; returns how long it took.
async fn time_to_close(stream: &mut tokio::net::TcpStream) -> Duration {
    let started = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("the server closed the connection")
        .ok();
    started.elapsed()
}

#[tokio::test]
async fn idle_keep_alive_connection_closes_after_http_keep_alive() {
    let mut config = test_config();
    config.http_keep_alive = Duration::from_millis(300);
    config.header_read_timeout = Duration::from_secs(30);
    let server = serve_with(app_fn(hello), config);
    let mut stream = send(server.local_addr(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_until(&mut stream, b"Hello, World!").await;
    let idle = time_to_close(&mut stream).await;
    assert!(
        idle >= Duration::from_millis(250) && idle < Duration::from_secs(3),
        "closed after {idle:?}"
    );
}

/// After a request, an idle connection closes whichever way the request's
/// end reached the connection's task: with HTTP/1 hyper writes the
/// response's end on that task, with HTTP/2 the stream ends on a task of
/// its own (see `Connection::poll_watching_ends`).
#[tokio::test]
async fn idle_keep_alive_closes_http2_connections_and_pipelined_http1_ones() {
    let mut config = test_config();
    config.http_keep_alive = Duration::from_millis(300);
    config.header_read_timeout = Duration::from_millis(1200);
    let server = serve_with(app_fn(hello), config);

    let (mut sender, conn) = h2c_connect(server.local_addr()).await;
    h2_hello(&mut sender, server.local_addr()).await;
    let idle = h2_time_to_close(conn).await;
    assert!(
        idle >= Duration::from_millis(250) && idle < Duration::from_secs(3),
        "closed after {idle:?}"
    );

    // Two requests in one write: the second is answered from hyper's
    // buffer, and the idle deadline starts after it, not after the first.
    let mut stream = send(
        server.local_addr(),
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .await;
    let mut seen = Vec::new();
    while seen.windows(13).filter(|w| w == b"Hello, World!").count() < 2 {
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before both responses");
        seen.extend_from_slice(&buf[..n]);
    }
    let idle = time_to_close(&mut stream).await;
    assert!(
        idle >= Duration::from_millis(250) && idle < Duration::from_secs(3),
        "closed after {idle:?}"
    );
}

/// A request that ends unanswered on a task other than the connection's
/// still ends its connection's busy period: an HTTP/2 client cancels a
/// request whose application has not answered, the stream's task drops
/// the response, and the idle connection then closes after
/// `http_keep_alive` (it would stay open for good if the cancelled
/// request still counted as in flight).
#[tokio::test]
async fn a_cancelled_http2_request_leaves_the_connection_to_its_keep_alive() {
    let mut config = test_config();
    config.http_keep_alive = Duration::from_millis(300);
    config.header_read_timeout = Duration::from_secs(30);
    let server = serve_with(
        app_fn(|_: &mut Environ, sr: StartResponse| {
            sr.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok::<_, Error>(Body::from_chunks([Chunk::future(async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok::<_, Error>(Bytes::from_static(b"too late"))
            })]))
        }),
        config,
    );
    let (mut sender, conn) = h2c_connect(server.local_addr()).await;
    let request = http::Request::get(format!("http://{}/", server.local_addr()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    // Dropped unanswered: the client resets the stream.
    let unanswered =
        tokio::time::timeout(Duration::from_millis(200), sender.send_request(request)).await;
    assert!(
        unanswered.is_err(),
        "the response came before its first chunk"
    );
    let idle = h2_time_to_close(conn).await;
    assert!(idle < Duration::from_secs(3), "closed after {idle:?}");
}

/// An idle HTTP/2 connection lasts the keep-alive timeout, not the
/// shorter header timeout, although its client sends frames after the
/// response (a `WINDOW_UPDATE`, a `PING`) that start no request.
#[tokio::test]
async fn an_idle_http2_connection_lasts_the_keep_alive_timeout_despite_its_frames() {
    let mut config = test_config();
    config.http_keep_alive = Duration::from_millis(1500);
    config.header_read_timeout = Duration::from_millis(300);
    let server = serve_with(app_fn(hello), config);
    let (mut sender, conn) = h2c_connect(server.local_addr()).await;
    h2_hello(&mut sender, server.local_addr()).await;
    // Past the header timeout, the connection still serves.
    tokio::time::sleep(Duration::from_millis(700)).await;
    h2_hello(&mut sender, server.local_addr()).await;
    let idle = h2_time_to_close(conn).await;
    assert!(
        idle >= Duration::from_millis(1300) && idle < Duration::from_secs(4),
        "closed {idle:?} after the last response"
    );
}

/// A `GET /` of the hello app on an HTTP/2 connection.
async fn h2_hello(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    addr: std::net::SocketAddr,
) {
    let request = http::Request::get(format!("http://{addr}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.expect("h2 response");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "Hello, World!");
}

/// How long until the server closes an HTTP/2 connection (its client's
/// task ends), from now.
async fn h2_time_to_close(conn: tokio::task::JoinHandle<hyper::Result<()>>) -> Duration {
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the server closed the idle HTTP/2 connection")
        .unwrap()
        .ok();
    started.elapsed()
}

#[tokio::test]
async fn keep_alive_timeout_does_not_cut_a_slow_response() {
    let mut config = test_config();
    config.http_keep_alive = Duration::from_millis(100);
    let server = serve_with(
        app_fn(|_: &mut Environ, sr: StartResponse| {
            sr.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok::<_, Error>(Body::from_chunks([Chunk::future(async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok::<_, Error>("slow")
            })]))
        }),
        config,
    );
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        read_until(&mut stream, b"slow\r\n0\r\n\r\n").await;
    }
}

#[tokio::test]
async fn slow_head_on_a_kept_alive_connection_hits_the_header_timeout() {
    let mut config = test_config();
    config.http_keep_alive = Duration::from_secs(30);
    config.header_read_timeout = Duration::from_millis(300);
    let server = serve_with(app_fn(hello), config);
    let mut stream = send(server.local_addr(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_until(&mut stream, b"Hello, World!").await;
    // Idle for longer than the header timeout: still open (keep-alive is 30 s).
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let took = time_to_close(&mut stream).await;
    assert!(
        took < Duration::from_secs(3),
        "partial head held the connection for {took:?}"
    );
}

#[tokio::test]
async fn oversized_headers_get_431_and_the_server_keeps_serving() {
    let mut config = test_config();
    config.max_header_size = 8 * 1024;
    let server = serve_with(app_fn(hello), config);
    let big = "a".repeat(16 * 1024);
    let response = raw_request(
        server.local_addr(),
        &format!("GET / HTTP/1.1\r\nHost: h\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(response.status, 431);
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let response = raw_request(
        server.local_addr(),
        &format!("GET / HTTP/1.1\r\nHost: h\r\n{many}Connection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(response.status, 431, "more than max_headers");
    assert_eq!(get(server.local_addr(), "/").await.status, 200);
}

#[tokio::test]
async fn body_larger_than_stream_buffer_gets_413() {
    let mut config = test_config();
    config.max_request_body = 1024;
    let called = Arc::new(AtomicUsize::new(0));
    let count = called.clone();
    let server = serve_with(
        app_fn(move |environ: &mut Environ, sr: StartResponse| {
            count.fetch_add(1, Ordering::SeqCst);
            let _ = environ;
            hello(environ, sr)
        }),
        config,
    );
    let response = raw_request(
        server.local_addr(),
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 413);
    assert!(response.text().contains("1024"));
    assert_eq!(
        called.load(Ordering::SeqCst),
        0,
        "the application is not called"
    );
}

#[tokio::test]
async fn chunked_body_over_the_limit_fails_the_read() {
    let mut config = test_config();
    config.max_request_body = 10;
    let server = serve_with(
        app_fn(|environ: &mut Environ, sr: StartResponse| {
            let mut input = environ.take_input();
            sr.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok::<_, Error>(Body::from_chunks([Chunk::future(async move {
                Ok::<_, Error>(match input.read_all().await {
                    Ok(_) => "read everything".to_owned(),
                    Err(e) => format!("refused: {e}"),
                })
            })]))
        }),
        config,
    );
    let response = raw_request(
        server.local_addr(),
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
    )
    .await;
    assert!(
        response
            .text()
            .starts_with("refused: request body is larger than the 10-byte limit"),
        "{}",
        response.text()
    );
}

#[tokio::test]
async fn malformed_request_gets_400_and_the_server_keeps_serving() {
    let server = serve(app_fn(hello));
    for junk in [
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
    ] {
        let raw = wsgi_tests::raw_exchange(server.local_addr(), junk.as_bytes()).await;
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.starts_with("HTTP/1.1 4") || text.starts_with("HTTP/1.1 505"),
            "{junk:?} -> {text:?}"
        );
    }
    assert_eq!(get(server.local_addr(), "/").await.status, 200);
}

#[derive(Clone)]
struct ThreadName;

impl Application for ThreadName {
    async fn call(&self, environ: &mut Environ, sr: StartResponse) -> Result<Body, Error> {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        let _ = environ;
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok(thread.into())
    }
}

#[tokio::test]
async fn workers_run_on_their_own_threads() {
    let mut config = test_config();
    config.workers = 2;
    let server = serve_with(ThreadName, config);
    let mut threads = std::collections::HashSet::new();
    for _ in 0..40 {
        let response = get(server.local_addr(), "/").await;
        assert_eq!(response.status, 200);
        threads.insert(response.text());
    }
    assert!(
        threads.iter().all(|t| t.starts_with("wsgi-worker-")),
        "{threads:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn connection_handle_reaches_the_event_loop() {
    let server = serve(app_fn(|environ: &mut Environ, sr: StartResponse| {
        let handle = environ
            .connection()
            .expect("pulsar.connection")
            .handle()
            .clone();
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks([Chunk::future(async move {
            let joined = handle
                .spawn(async { "spawned on the connection's loop" })
                .await;
            Ok::<_, Error>(joined?)
        })]))
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.text(), "spawned on the connection's loop");
}

/// `/slow-call` sleeps in the handler, `/slow-first` in the first body
/// item, `/slow-later` in the second, `/steady` yields five items 100 ms
/// apart.
#[derive(Clone)]
struct Slow;

impl Application for Slow {
    async fn call(&self, environ: &mut Environ, sr: StartResponse) -> Result<Body, Error> {
        let nap = |ms| {
            Chunk::future(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, Error>("x")
            })
        };
        let path = environ.path_info().to_string();
        if path == "/slow-call" {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok(match &*path {
            "/slow-first" => Body::from_chunks([nap(5000)]),
            "/slow-later" => Body::from_chunks([Chunk::from("first"), nap(5000)]),
            _ => Body::from_chunks([nap(100), nap(100), nap(100), nap(100), nap(100)]),
        })
    }
}

fn response_timeout_config() -> wsgi_core::Config {
    let mut config = test_config();
    config.response_timeout = Duration::from_millis(300);
    config
}

#[tokio::test]
async fn response_timeout_answers_504_when_the_answer_is_too_slow() {
    let server = serve_with(Slow, response_timeout_config());
    for path in ["/slow-call", "/slow-first"] {
        let started = Instant::now();
        let response = get(server.local_addr(), path).await;
        assert_eq!(response.status, 504, "{path}");
        assert!(response.complete);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path} took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn response_timeout_aborts_a_stream_whose_next_item_is_too_slow() {
    let server = serve_with(Slow, response_timeout_config());
    let started = Instant::now();
    let response = get(server.local_addr(), "/slow-later").await;
    assert_eq!(response.status, 200, "the head was already out");
    assert_eq!(response.text(), "first");
    assert!(
        !response.complete,
        "an aborted stream must not look complete"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn response_timeout_bounds_each_item_not_the_whole_response() {
    let server = serve_with(Slow, response_timeout_config());
    let response = get(server.local_addr(), "/steady").await;
    assert_eq!(response.status, 200);
    assert!(response.complete);
    assert_eq!(response.text(), "xxxxx");
}
