//! Asynchronous iterable bodies on the wire: framing, errors, backpressure,
//! and the close hook.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use wsgi_core::{app_fn, Body, Chunk, Environ, Error, Outcome, StartResponse};
use wsgi_tests::{get, raw_request, serve, IO_TIMEOUT};

fn io_error(message: &str) -> std::io::Error {
    std::io::Error::other(message.to_owned())
}

#[tokio::test]
async fn simple_async_body_streams_bytes_and_futures() {
    let server = serve(app_fn(|_: &mut Environ, start_response: StartResponse| {
        start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from("hello"),
            Chunk::future(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok::<_, Error>(" ")
            }),
            Chunk::from("World!"),
        ]))
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert!(response.complete);
    assert_eq!(response.text(), "hello World!");
}

#[tokio::test]
async fn full_body_gets_a_content_length() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>("Hello, World!")
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.header("content-length"), Some("13"));
    assert_eq!(response.header("transfer-encoding"), None);
    assert!(response.header("date").is_some());
    assert!(response
        .header("server")
        .is_some_and(|s| s.starts_with("wsgi-rs/")));
}

#[tokio::test]
async fn first_chunk_failing_gives_a_clean_500() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("X-Should-Not-Appear", "1")])?;
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from(""),
            Chunk::future(async { Err::<Bytes, _>(io_error("database gone")) }),
        ]))
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 500);
    assert!(response.complete);
    assert_eq!(response.header("x-should-not-appear"), None);
}

#[tokio::test]
async fn chunk_failing_after_the_head_aborts_the_connection() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from("partial "),
            Chunk::future(async { Err::<Bytes, _>(io_error("lost the upstream")) }),
            Chunk::from("never"),
        ]))
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200, "the head was already out");
    assert!(
        !response.complete,
        "an aborted stream must not end with the final chunk"
    );
    assert_eq!(response.text(), "partial ");
}

#[tokio::test]
async fn panic_in_the_body_after_the_head_aborts_the_connection() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from("partial"),
            Chunk::future(async {
                if true {
                    panic!("body bug");
                }
                Ok::<Bytes, Error>(Bytes::new())
            }),
        ]))
    }));
    let response = get(server.local_addr(), "/").await;
    assert!(!response.complete);
    let after = get(server.local_addr(), "/").await;
    assert_eq!(after.status, 200, "the worker still serves");
}

#[tokio::test]
async fn body_longer_than_content_length_never_sends_extra_bytes() {
    // Known before the head: a clean 500.
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Length", "5")])?;
        Ok::<_, Error>("Hello, World!")
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 500);
    assert!(!String::from_utf8_lossy(&response.raw).contains("World"));

    // Discovered while streaming: the connection is aborted after at most
    // the declared bytes.
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Length", "8")])?;
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from("12345"),
            Chunk::from("67890"),
        ]))
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), Some("8"));
    let head_end = response
        .raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap()
        + 4;
    assert!(
        response.raw.len() - head_end <= 8,
        "sent more than declared"
    );
    assert!(!response.complete);
}

#[tokio::test]
async fn body_shorter_than_content_length_is_an_error_not_a_short_200() {
    // Known before the head: a clean 500.
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Length", "100")])?;
        Ok::<_, Error>("short")
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 500);

    // Discovered while streaming: aborted, incomplete.
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Length", "100")])?;
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from("12345"),
            Chunk::from("67890"),
        ]))
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    assert!(!response.complete);
    assert_eq!(response.body.len(), 10);
}

#[tokio::test]
async fn head_responses_have_no_body() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>("Hello, World!")
    }));
    let raw = wsgi_tests::raw_exchange(
        server.local_addr(),
        b"HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "HEAD got a body: {text:?}");
    assert!(
        text.to_ascii_lowercase().contains("content-length: 13"),
        "{text}"
    );
}

#[tokio::test]
async fn no_content_and_not_modified_have_no_body() {
    for status in ["204 No Content", "304 Not Modified"] {
        let server = serve(app_fn(move |_: &mut Environ, sr: StartResponse| {
            sr.start(status, [("X-A", "1")])?;
            Ok::<_, Error>("must not be sent")
        }));
        let response = get(server.local_addr(), "/").await;
        assert_eq!(response.status_line, format!("HTTP/1.1 {status}"));
        assert!(
            !String::from_utf8_lossy(&response.raw).contains("must not"),
            "{status}"
        );
        assert_eq!(response.header("content-length"), None, "{status}");
    }
}

#[tokio::test]
async fn http_1_0_streaming_is_close_delimited() {
    let server = serve(app_fn(|_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks([Chunk::from("a"), Chunk::from("b")]))
    }));
    let response = raw_request(server.local_addr(), "GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(response.header("transfer-encoding"), None);
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.text(), "ab");
}

#[tokio::test]
async fn slow_reader_does_not_make_the_server_buffer_the_body() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: u64 = 1000; // 64 MiB if it were all produced
    let produced = Arc::new(AtomicU64::new(0));
    let counter = produced.clone();
    let server = serve(app_fn(move |_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "application/octet-stream")])?;
        let counter = counter.clone();
        Ok::<_, Error>(Body::from_chunks((0..CHUNKS).map(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Chunk::from(Bytes::from(vec![b'x'; CHUNK]))
        })))
    }));
    let mut stream =
        wsgi_tests::send(server.local_addr(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    // Read a little, then stop reading while the server keeps trying.
    let mut buf = vec![0u8; 1024];
    stream.read_exact(&mut buf).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_stall = produced.load(Ordering::SeqCst);
    let buffered_bytes = after_stall * CHUNK as u64;
    // Socket buffers and hyper's write buffer hold a few MiB at most.
    assert!(
        buffered_bytes < 16 * 1024 * 1024,
        "server produced {buffered_bytes} bytes for a client that read 1 KiB"
    );
    assert!(after_stall < CHUNKS);
    // Once the client reads again, everything arrives.
    let mut total = 1024u64;
    let mut big = vec![0u8; 256 * 1024];
    let expected_body = CHUNKS * CHUNK as u64;
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT * 3;
    while total < expected_body {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut big))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        total += n as u64;
    }
    assert_eq!(produced.load(Ordering::SeqCst), CHUNKS);
}

#[tokio::test]
async fn client_disconnecting_mid_stream_runs_the_close_hook() {
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let started = Arc::new(AtomicUsize::new(0));
    let (log, count) = (outcomes.clone(), started.clone());
    let server = serve(app_fn(move |_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        let log = log.clone();
        count.fetch_add(1, Ordering::SeqCst);
        // An endless stream: only the client leaving can end it.
        let endless = futures_util::stream::repeat_with(|| {
            Chunk::future(async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Ok::<_, Error>("tick\n")
            })
        });
        Ok::<_, Error>(Body::from_chunk_stream(endless).on_close(move |outcome| {
            log.lock().unwrap().push(outcome);
        }))
    }));
    for _ in 0..5 {
        let mut stream =
            wsgi_tests::send(server.local_addr(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0);
        drop(stream);
    }
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    while outcomes.lock().unwrap().len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "close hooks did not run: {:?}",
            outcomes.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(started.load(Ordering::SeqCst), 5);
    assert_eq!(
        *outcomes.lock().unwrap(),
        vec![Outcome::Aborted; 5],
        "exactly once each"
    );
}

#[tokio::test]
async fn completed_body_reports_completed_once() {
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let log = outcomes.clone();
    let server = serve(app_fn(move |_: &mut Environ, sr: StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        let log = log.clone();
        Ok::<_, Error>(
            Body::from_chunks([Chunk::from("a"), Chunk::from("b")])
                .on_close(move |outcome| log.lock().unwrap().push(outcome)),
        )
    }));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.text(), "ab");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*outcomes.lock().unwrap(), vec![Outcome::Completed]);
}

/// Three lookups of 600, 300 and 600 ms, as chunks made by `chunk`; the
/// response and how long it took.
async fn three_lookups(chunk: fn(&'static str, u64) -> Chunk) -> (String, Duration) {
    let server = serve(app_fn(
        move |_: &mut Environ, start_response: StartResponse| {
            start_response.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok::<_, Error>(Body::from_chunks([
                chunk("a", 600),
                chunk("b", 300),
                chunk("c", 600),
            ]))
        },
    ));
    let started = std::time::Instant::now();
    let response = get(server.local_addr(), "/").await;
    let took = started.elapsed();
    assert!(response.complete);
    (response.text(), took)
}

async fn lookup(name: &'static str, ms: u64) -> Result<&'static str, Error> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(name)
}

#[tokio::test]
async fn spawned_chunks_run_at_once_and_arrive_in_order() {
    let (text, took) = three_lookups(|name, ms| Chunk::spawn(lookup(name, ms))).await;
    assert_eq!(text, "abc", "in the order they were made");
    assert!(
        took < Duration::from_millis(1100),
        "the lookups overlapped: {took:?}"
    );
}

#[tokio::test]
async fn lazy_chunk_futures_run_one_after_another() {
    // The documented difference: `Chunk::future` starts when its turn comes.
    let (text, took) = three_lookups(|name, ms| Chunk::future(lookup(name, ms))).await;
    assert_eq!(text, "abc");
    assert!(took >= Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn a_spawned_chunk_is_aborted_when_the_client_goes_away() {
    let finished = Arc::new(AtomicUsize::new(0));
    let seen = finished.clone();
    let server = serve(app_fn(
        move |_: &mut Environ, start_response: StartResponse| {
            start_response.start("200 OK", [("Content-Type", "text/plain")])?;
            let seen = seen.clone();
            Ok::<_, Error>(Body::from_chunks([
                Chunk::from("first"),
                Chunk::future(async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Ok::<_, Error>("never")
                }),
                Chunk::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    seen.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>("late")
                }),
            ]))
        },
    ));
    let mut stream =
        wsgi_tests::send(server.local_addr(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    wsgi_tests::read_until(&mut stream, b"first").await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(finished.load(Ordering::SeqCst), 0, "the task ran on");
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
