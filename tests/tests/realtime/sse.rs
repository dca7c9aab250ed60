//! Server-Sent Events and `Body::head_at_once` over real sockets: the head
//! goes out before the first event, events arrive as they are produced
//! with their fields exactly framed, keep-alive comments fill silences,
//! `Last-Event-ID` is read, and a long-polling body in the WSGI form sends
//! its head at once too. (Through nginx: `tests/tests/nginx.rs`.)

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsgi_core::router::Router;
use wsgi_core::sse::{Event, EventStream, LastEventId};
use wsgi_core::{wsgi_handler, Body, Chunk, Environ, Error, StartResponse, WsgiHandler};
use wsgi_tests::{dechunk, read_more_until, serve_with, test_config, IO_TIMEOUT};

/// Three events 300 ms apart, the first after 300 ms too, numbered from
/// the one after `Last-Event-ID`.
#[wsgi_handler]
fn events(LastEventId(last): LastEventId) -> EventStream {
    let first: u64 = last
        .and_then(|id| id.parse().ok())
        .map_or(0, |id: u64| id + 1);
    let events = stream::iter(first..first + 3).then(|n| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok::<_, Error>(
            Event::new()
                .event("tick")
                .id(n.to_string())
                .data(format!("tick {n}\nline two")),
        )
    });
    EventStream::new(events)
}

/// Quiet for 1 s, with keep-alive comments every 200 ms, then one event.
#[wsgi_handler]
fn quiet() -> EventStream {
    let events = stream::once(async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        Ok::<_, Error>(Event::new().retry(Duration::from_millis(1500)).data("late"))
    });
    EventStream::new(events).keep_alive(Duration::from_millis(200))
}

/// One event, then a failure: the stream is aborted, not completed.
#[wsgi_handler]
fn failing() -> EventStream {
    let events = stream::iter([
        Ok(Event::new().data("one")),
        Err(Error::msg("the event source failed")),
    ]);
    EventStream::new(events)
}

/// Long polling in the WSGI form: `200` at once, the answer after 500 ms.
#[wsgi_handler]
fn long_poll(_environ: &Environ, start_response: StartResponse) -> Result<Body, Error> {
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(Body::from_chunks([Chunk::future(async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok::<_, Error>("news\n")
    })])
    .head_at_once())
}

/// The same without `head_at_once`: PEP 3333's rule, head with the answer.
#[wsgi_handler]
fn classic_poll(_environ: &Environ, start_response: StartResponse) -> Result<Body, Error> {
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(Body::from_chunks([Chunk::future(async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok::<_, Error>("news\n")
    })]))
}

fn app() -> WsgiHandler {
    WsgiHandler::default().middleware(
        Router::new()
            .get("/events", Events)
            .get("/quiet", Quiet)
            .get("/failing", Failing)
            .get("/poll", LongPoll)
            .get("/classic", ClassicPoll),
    )
}

async fn request(addr: std::net::SocketAddr, path: &str, extra: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn the_head_goes_out_before_the_first_event_and_events_arrive_live() {
    let server = serve_with(app(), test_config());
    let started = Instant::now();
    let mut stream = request(server.local_addr(), "/events", "").await;
    let mut got = Vec::new();
    read_more_until(&mut stream, &mut got, b"\r\n\r\n").await;
    let head_after = started.elapsed();
    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(head.contains("cache-control: no-cache"), "{head}");
    assert!(head.contains("x-accel-buffering: no"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(
        head_after < Duration::from_millis(250),
        "the head waited {head_after:?} for the first event"
    );
    read_more_until(&mut stream, &mut got, b"tick 0").await;
    let first = started.elapsed();
    read_more_until(&mut stream, &mut got, b"tick 1").await;
    let second = started.elapsed();
    assert!(
        second - first >= Duration::from_millis(200),
        "{first:?} {second:?}"
    );
    let mut rest = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    got.extend_from_slice(&rest);
    let body_start = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (body, complete) = dechunk(&got[body_start..]);
    assert!(complete, "the stream ended properly");
    let expected: String = (0..3)
        .map(|n| format!("event: tick\nid: {n}\ndata: tick {n}\ndata: line two\n\n"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&body), expected);
    server.shutdown().await;
}

#[tokio::test]
async fn last_event_id_resumes_the_stream() {
    let server = serve_with(app(), test_config());
    let mut stream = request(server.local_addr(), "/events", "Last-Event-ID: 41\r\n").await;
    let mut got = Vec::new();
    read_more_until(&mut stream, &mut got, b"id: 44\n").await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("id: 42\n") && !text.contains("id: 41\n"),
        "{text}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn keep_alive_comments_fill_the_silence() {
    let server = serve_with(app(), test_config());
    let mut stream = request(server.local_addr(), "/quiet", "").await;
    let mut got = Vec::new();
    read_more_until(&mut stream, &mut got, b"data: late\n\n").await;
    let text = String::from_utf8_lossy(&got);
    let comments = text.matches(": keep-alive\n\n").count();
    assert!(
        (3..=6).contains(&comments),
        "{comments} keep-alive comments in 1 s:\n{text}"
    );
    assert!(text.contains("retry: 1500\ndata: late\n\n"), "{text}");
    server.shutdown().await;
}

#[tokio::test]
async fn an_event_source_that_fails_aborts_the_stream() {
    let server = serve_with(app(), test_config());
    let mut stream = request(server.local_addr(), "/failing", "").await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    let body_start = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (body, complete) = dechunk(&got[body_start..]);
    assert_eq!(String::from_utf8_lossy(&body), "data: one\n\n");
    assert!(
        !complete,
        "an aborted stream must not end like a complete one"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_body_with_head_at_once_sends_its_head_before_its_first_byte() {
    let server = serve_with(app(), test_config());
    for (path, early) in [("/poll", true), ("/classic", false)] {
        let started = Instant::now();
        let mut stream = request(server.local_addr(), path, "").await;
        let mut got = Vec::new();
        read_more_until(&mut stream, &mut got, b"\r\n\r\n").await;
        let head_after = started.elapsed();
        assert_eq!(
            head_after < Duration::from_millis(300),
            early,
            "{path}: head after {head_after:?}"
        );
        read_more_until(&mut stream, &mut got, b"news\n").await;
        assert!(started.elapsed() >= Duration::from_millis(500));
    }
    server.shutdown().await;
}
