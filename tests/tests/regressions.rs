//! Regressions found in review: each test pins a fixed defect.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsgi_core::middleware::ServiceMiddleware;
use wsgi_core::{
    app_fn, Body, Chunk, Environ, Error, HttpError, Input, StartResponse, WsgiHandler,
};
use wsgi_tests::{get, raw_request, serve, serve_with, test_config};

// start() after the head went out is silently accepted.
#[tokio::test]
async fn second_start_after_head_sent_is_refused() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        let sr2 = sr.clone();
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from("first;"),
            Chunk::future(async move {
                Ok::<_, Error>(match sr2.start("404 Not Found", [("X-B", "1")]) {
                    Ok(_) => format!("accepted, is_started={}", sr2.is_started()),
                    Err(e) => format!("refused: {e}"),
                })
            }),
        ]))
    }));
    let r = get(server.local_addr(), "/").await;
    assert!(r.text().contains("refused"), "{}", r.text());
}

// HttpError from a plain application loses its headers (Location, Allow).
#[tokio::test]
async fn redirect_error_from_plain_app_has_location() {
    let server = serve(app_fn(|_: &mut Environ, _sr: StartResponse| {
        Err::<Body, Error>(HttpError::redirect("/login").into())
    }));
    let r = get(server.local_addr(), "/").await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("/login"),
        "{}",
        String::from_utf8_lossy(&r.raw)
    );
}

// body over the limit read with `?` in a plain app is a 500, not 413.
#[tokio::test]
async fn chunked_body_over_limit_read_with_question_mark_is_413() {
    let mut config = test_config();
    config.stream_buffer = 10;
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

// bytes written via write() while producing an item go out after it.
#[tokio::test]
async fn write_during_item_goes_before_the_item() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        let write = sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks([Chunk::future(async move {
            write.write("a");
            Ok::<_, Error>("b")
        })]))
    }));
    let r = get(server.local_addr(), "/").await;
    assert_eq!(r.text(), "ab");
}

// capture() (plain app inside a WsgiHandler) drops write() bytes queued
// by the body's last poll.
#[tokio::test]
async fn captured_app_keeps_trailing_written_bytes() {
    let handler = WsgiHandler::default().app(app_fn(|_: &mut Environ, sr: StartResponse| {
        let write = sr.start("200 OK", [("Content-Type", "text/plain")])?;
        let mut step = 0;
        let stream = futures_util::stream::poll_fn(move |_| {
            step += 1;
            match step {
                1 => std::task::Poll::Ready(Some(Chunk::from("head;"))),
                _ => {
                    write.write("tail");
                    std::task::Poll::Ready(None)
                }
            }
        });
        Ok::<_, Error>(Body::from_chunk_stream(stream))
    }));
    let server = serve(handler);
    let r = get(server.local_addr(), "/").await;
    assert_eq!(r.text(), "head;tail");
}

// a tower service's Content-Length is dropped: HEAD says 0, GET is chunked.
#[tokio::test]
async fn tower_service_content_length_survives() {
    let service = tower::service_fn(|request: http::Request<Input>| async move {
        let body = if request.method() == http::Method::HEAD {
            ""
        } else {
            "hello"
        };
        Ok::<_, std::convert::Infallible>(
            http::Response::builder()
                .header("content-length", "5")
                .body(http_body_util::Full::new(bytes::Bytes::from_static(
                    body.as_bytes(),
                )))
                .unwrap(),
        )
    });
    let server = serve(WsgiHandler::default().middleware(ServiceMiddleware::new(service)));
    let head = raw_request(
        server.local_addr(),
        "HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    let g = get(server.local_addr(), "/").await;
    assert_eq!(
        (head.header("content-length"), g.header("content-length")),
        (Some("5"), Some("5")),
        "HEAD: {}\nGET: {}",
        String::from_utf8_lossy(&head.raw),
        String::from_utf8_lossy(&g.raw)
    );
}

// a panicking close hook on a finished body kills the connection without
// any response.
#[tokio::test]
async fn panicking_close_hook_still_answers() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from("ok").on_close(|_| panic!("hook")))
    }));
    let raw = wsgi_tests::raw_exchange(
        server.local_addr(),
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(!raw.is_empty(), "no response at all");
}

// Proxy-* headers are hop-by-hop (see `start_response.rs`): refused, not
// passed through.
#[tokio::test]
async fn proxy_connection_is_refused() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Proxy-Connection", "keep-alive")])?;
        Ok::<_, Error>("x")
    }));
    let r = get(server.local_addr(), "/").await;
    assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.raw));
}

// HEAD on a streaming endpoint waits for the first body item.
#[tokio::test]
async fn head_does_not_wait_for_the_stream() {
    let polled = Arc::new(AtomicBool::new(false));
    let p = polled.clone();
    let server = serve(app_fn(move |_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/event-stream")])?;
        let p = p.clone();
        Ok::<_, Error>(Body::from_chunks([Chunk::future(async move {
            p.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok::<_, Error>("event")
        })]))
    }));
    let started = Instant::now();
    let _ = raw_request(
        server.local_addr(),
        "HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "HEAD took {:?}",
        started.elapsed()
    );
}

// a streamed body with a declared Content-Length that is fully sent is
// closed as `Aborted`, not `Completed`.
#[tokio::test]
async fn fully_sent_declared_length_body_closes_completed() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = serve(app_fn(move |_: &mut Environ, sr: StartResponse| {
        sr.start(
            "200 OK",
            [("Content-Type", "text/plain"), ("Content-Length", "5")],
        )?;
        let log = log.clone();
        Ok::<_, Error>(
            Body::from_chunks([Chunk::from("hel"), Chunk::from("lo")])
                .on_close(move |o| log.lock().unwrap().push(o)),
        )
    }));
    let r = get(server.local_addr(), "/").await;
    assert_eq!(r.text(), "hello");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(*seen.lock().unwrap(), [wsgi_core::Outcome::Completed]);
}
