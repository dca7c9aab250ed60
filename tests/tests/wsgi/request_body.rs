//! Request body details over raw sockets: `Expect: 100-continue` answered
//! only when the application reads, never when it answers without reading;
//! a client that stops mid-body makes the read fail visibly, in bounded time.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsgi_core::{
    app_fn, wsgi_handler, Body, Chunk, Environ, Error, StartResponse, WsgiHandler, WsgiResponse,
};
use wsgi_tests::{raw_request, read_until, send, serve, serve_with, test_config, IO_TIMEOUT};

/// Waits a moment before reading the body, so a premature `100 Continue`
/// would be visible, then echoes it; a read error is answered with its
/// message and status.
#[wsgi_handler]
async fn slow_reader(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    if environ.path_info() == "/no-read" {
        return Ok(WsgiResponse::text("answered without reading"));
    }
    if environ.path_info() == "/propagate" {
        let body = environ.input().read_all().await?;
        return Ok(WsgiResponse::text(format!("{} bytes", body.len())));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    match environ.input().read_all().await {
        Ok(body) => Ok(WsgiResponse::text(format!(
            "read {}",
            String::from_utf8_lossy(&body)
        ))),
        Err(error) => Ok(WsgiResponse::text(format!("read failed: {error}"))
            .with_status(http::StatusCode::BAD_REQUEST)),
    }
}

fn app() -> WsgiHandler {
    WsgiHandler::default().middleware(SlowReader)
}

const EXPECT_HEAD: &str = "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn continue_is_sent_only_when_the_application_reads() {
    let server = serve(app());
    let mut stream = send(server.local_addr(), EXPECT_HEAD.as_bytes()).await;
    // The application sleeps 300 ms before reading: nothing may come yet.
    let mut buf = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(150), stream.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the server sent {:?} before the application read the body",
        early.map(|n| String::from_utf8_lossy(&buf[..n.unwrap_or(0)]).into_owned())
    );
    let got = read_until(&mut stream, b"\r\n\r\n").await;
    assert!(
        got.starts_with(b"HTTP/1.1 100 Continue\r\n"),
        "expected 100 Continue, got {:?}",
        String::from_utf8_lossy(&got)
    );
    stream.write_all(b"hello").await.expect("send the body");
    let rest = read_until(&mut stream, b"read hello").await;
    assert!(String::from_utf8_lossy(&rest).contains("200 OK"));
}

#[tokio::test]
async fn an_application_that_answers_without_reading_sends_no_continue() {
    let server = serve(app());
    let head = EXPECT_HEAD.replace("/read", "/no-read");
    let mut stream = send(server.local_addr(), head.as_bytes()).await;
    let mut received = Vec::new();
    let _ = tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut received)).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("answered without reading"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
}

#[tokio::test]
async fn a_client_that_closes_mid_body_makes_the_read_fail() {
    let server = serve(app());
    let mut stream = send(
        server.local_addr(),
        b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten.",
    )
    .await;
    stream.shutdown().await.expect("half-close");
    let mut received = Vec::new();
    let _ = tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut received)).await;
    // The application saw the error: it answers 400 with its message.
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request"), "{text}");
    assert!(
        text.contains("read failed: reading the request body failed"),
        "{text}"
    );
}

#[tokio::test]
async fn a_client_that_goes_silent_mid_body_times_out_in_bounded_time() {
    let mut config = test_config();
    config.http_keep_alive = Duration::from_millis(300);
    config.header_read_timeout = Duration::from_millis(300);
    let server = serve_with(app(), config);
    let started = tokio::time::Instant::now();
    let mut stream = send(
        server.local_addr(),
        b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten.",
    )
    .await;
    // Keep the connection open and send nothing more.
    let mut received = Vec::new();
    let _ = tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut received)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "the stalled request was held for {elapsed:?}"
    );
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains("400 Bad Request"), "{text}");
    assert!(text.contains("read failed"), "{text}");
    drop(stream);
}

#[tokio::test]
async fn a_silent_body_read_with_question_mark_is_answered_408() {
    let mut config = test_config();
    config.header_read_timeout = Duration::from_millis(200);
    let server = serve_with(app(), config);
    let mut stream = send(
        server.local_addr(),
        b"POST /propagate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten.",
    )
    .await;
    let got = read_until(&mut stream, b"\r\n\r\n").await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn an_unknown_expectation_is_417_without_running_the_application() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = wsgi_tests::serve(wsgi_core::app_fn(
        move |_: &mut wsgi_core::Environ, start_response: wsgi_core::StartResponse| {
            counter.fetch_add(1, Ordering::SeqCst);
            start_response.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok::<_, wsgi_core::Error>("ran")
        },
    ));
    let response = wsgi_tests::raw_request(
        server.local_addr(),
        "POST / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert_eq!(response.status, 417);
    assert!(
        response.text().contains("100-continue"),
        "{}",
        response.text()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

// body over the limit read with `?` in a plain app is a 500, not 413.
#[tokio::test]
async fn chunked_body_over_limit_read_with_question_mark_is_413() {
    let mut config = test_config();
    config.max_request_body = 10;
    let server = serve_with(
        app_fn(|environ: &mut Environ, sr: StartResponse| {
            let mut input = environ.take_input();
            Ok::<_, Error>(Body::from_chunks([Chunk::future(async move {
                let body = input.read_all().await?;
                sr.start("200 OK", [("Content-Type", "text/plain")])?;
                Ok::<_, Error>(body)
            })]))
        }),
        config,
    );
    let r = raw_request(
        server.local_addr(),
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.raw));
}
