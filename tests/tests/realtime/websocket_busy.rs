//! A WebSocket whose function is busy elsewhere (not waiting in `recv`):
//! the keep-alive still pings a silent client, and a graceful shutdown
//! still closes the socket with `1001` at once, whether the function
//! sleeps or only sends. Over real sockets, with tungstenite as the client.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as Frame;
use wsgi_core::extract::State;
use wsgi_core::router::Router;
use wsgi_core::websocket::{Message, WebSocketUpgrade};
use wsgi_core::{wsgi_handler, WsgiHandler, WsgiResponse};
use wsgi_tests::{serve_with, test_config, IO_TIMEOUT};

use crate::ws_client::{next, open, reported};

/// What the functions report: how their `send` after the busy spell went.
#[derive(Clone)]
struct Report(mpsc::UnboundedSender<String>);

/// Says "start", is busy for `BUSY` without reading, then tries to say
/// "done" and reports how that went.
#[wsgi_handler]
fn busy_endpoint(upgrade: WebSocketUpgrade, State(report): State<Report>) -> WsgiResponse {
    upgrade
        .idle_timeout(Some(Duration::from_millis(400)))
        .on_upgrade(move |mut socket| async move {
            let _ = socket.send(Message::text("start")).await;
            tokio::time::sleep(BUSY).await;
            let sent = socket.send(Message::text("done")).await;
            let _ = report.0.send(match sent {
                Ok(()) => "sent".to_owned(),
                Err(e) => format!("refused: {e}"),
            });
        })
}

/// Sends a tick every 20 ms, never reading, until a send fails.
#[wsgi_handler]
fn ticker_endpoint(upgrade: WebSocketUpgrade, State(report): State<Report>) -> WsgiResponse {
    upgrade.on_upgrade(move |mut socket| async move {
        let mut ticks = 0u64;
        while socket.send(Message::text("tick")).await.is_ok() {
            ticks += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = report.0.send(format!("stopped after {ticks} ticks"));
    })
}

/// How long the busy function is away from its socket.
const BUSY: Duration = Duration::from_millis(2500);

fn app(report: Report) -> WsgiHandler {
    WsgiHandler::default().with_state(report).middleware(
        Router::new()
            .get("/busy", BusyEndpoint)
            .get("/ticker", TickerEndpoint),
    )
}

#[tokio::test]
async fn a_busy_function_still_has_its_silent_client_pinged() {
    let (tx, mut report) = mpsc::unbounded_channel();
    let server = serve_with(app(Report(tx)), test_config());
    let mut client = open(server.local_addr(), "/busy").await;
    assert_eq!(next(&mut client).await, Frame::text("start"));
    // Half the 400 ms idle timeout: a ping, long before the function is
    // back. (tungstenite answers it with a pong while reading.)
    let started = Instant::now();
    match next(&mut client).await {
        Frame::Ping(_) => {}
        other => panic!("expected a ping while the function is busy, got {other:?}"),
    }
    assert!(
        started.elapsed() < BUSY / 2,
        "the ping came after {:?}",
        started.elapsed()
    );
    // Only reading can close for idleness (it alone sees the pong), so the
    // socket stays open and the function's message goes out.
    loop {
        match next(&mut client).await {
            Frame::Ping(_) => continue,
            Frame::Text(text) => {
                assert_eq!(text.as_str(), "done");
                break;
            }
            other => panic!("expected `done`, got {other:?}"),
        }
    }
    assert_eq!(reported(&mut report).await, "sent");
    server.shutdown().await;
}

#[tokio::test]
async fn a_shutdown_closes_the_socket_of_a_busy_function_with_1001_at_once() {
    let (tx, mut report) = mpsc::unbounded_channel();
    let server = serve_with(app(Report(tx)), test_config());
    let mut client = open(server.local_addr(), "/busy").await;
    assert_eq!(next(&mut client).await, Frame::text("start"));
    let started = Instant::now();
    let shutdown = tokio::spawn(server.shutdown());
    loop {
        match next(&mut client).await {
            Frame::Ping(_) => continue,
            Frame::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Away);
                break;
            }
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
    assert!(
        started.elapsed() < BUSY / 2,
        "the close came after {:?}, not while the function was busy",
        started.elapsed()
    );
    // tungstenite answers the close; the function's next send is refused.
    while let Ok(Some(_)) = tokio::time::timeout(IO_TIMEOUT, client.next()).await {}
    let said = reported(&mut report).await;
    assert!(
        said.starts_with("refused: the WebSocket is closed"),
        "{said}"
    );
    tokio::time::timeout(IO_TIMEOUT, shutdown)
        .await
        .expect("the shutdown ends once the function returned")
        .unwrap();
}

#[tokio::test]
async fn a_shutdown_closes_the_socket_of_a_function_that_only_sends_with_1001() {
    let (tx, mut report) = mpsc::unbounded_channel();
    let server = serve_with(app(Report(tx)), test_config());
    let mut client = open(server.local_addr(), "/ticker").await;
    for _ in 0..3 {
        assert_eq!(next(&mut client).await, Frame::text("tick"));
    }
    let shutdown = tokio::spawn(server.shutdown());
    loop {
        match next(&mut client).await {
            Frame::Text(_) => continue,
            Frame::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Away);
                break;
            }
            other => panic!("expected ticks then close 1001, got {other:?}"),
        }
    }
    while let Ok(Some(_)) = tokio::time::timeout(IO_TIMEOUT, client.next()).await {}
    let said = reported(&mut report).await;
    assert!(said.starts_with("stopped after "), "{said}");
    tokio::time::timeout(IO_TIMEOUT, shutdown)
        .await
        .expect("the shutdown ends once the socket closed")
        .unwrap();
}
