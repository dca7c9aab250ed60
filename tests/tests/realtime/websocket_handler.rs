//! pulsar's shape (`WebSocketHandler`: `on_open`, `on_message`, `on_bytes`,
//! `on_close`) served over real sockets, with tungstenite as the client:
//! the callbacks' order, a handler value per socket, and `on_close` after
//! a close from either side or a vanished client.

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as Frame;
use wsgi_core::extract::State;
use wsgi_core::router::Router;
use wsgi_core::websocket::{
    self, Message, Utf8Bytes, WebSocket, WebSocketHandler, WebSocketUpgrade,
};
use wsgi_core::{wsgi_handler, WsgiHandler, WsgiResponse};
use wsgi_tests::{serve_with, test_config, IO_TIMEOUT};

use crate::ws_client::{next, open, reported as called};

/// Numbers the text it echoes, reverses bytes, closes on "close"; tells
/// the test what was called.
struct Counting {
    count: u64,
    calls: mpsc::UnboundedSender<String>,
}

impl WebSocketHandler for Counting {
    async fn on_open(&mut self, socket: &mut WebSocket) {
        let _ = self.calls.send("open".to_owned());
        let _ = socket.send(Message::text("welcome")).await;
    }

    async fn on_message(&mut self, socket: &mut WebSocket, text: Utf8Bytes) {
        let _ = self.calls.send(format!("message {text}"));
        if text.as_str() == "close" {
            let _ = socket.close(4000, "asked to").await;
            return;
        }
        self.count += 1;
        let _ = socket
            .send(Message::text(format!("{}: {text}", self.count)))
            .await;
    }

    async fn on_bytes(&mut self, socket: &mut WebSocket, bytes: bytes::Bytes) {
        let _ = self.calls.send(format!("bytes {}", bytes.len()));
        let reversed: Vec<u8> = bytes.iter().rev().copied().collect();
        let _ = socket.send(Message::binary(reversed)).await;
    }

    async fn on_close(&mut self, frame: Option<websocket::CloseFrame>) {
        let said = frame.map_or_else(|| "none".to_owned(), |f| f.code.to_string());
        let _ = self.calls.send(format!("close {said}"));
    }
}

#[derive(Clone)]
struct Calls(mpsc::UnboundedSender<String>);

#[wsgi_handler]
fn numbered(upgrade: WebSocketUpgrade, State(calls): State<Calls>) -> WsgiResponse {
    upgrade.serve(Counting {
        count: 0,
        calls: calls.0,
    })
}

#[tokio::test]
async fn a_websocket_handler_gets_open_message_bytes_and_close_in_order() {
    let (tx, mut calls) = mpsc::unbounded_channel();
    let app = WsgiHandler::default()
        .with_state(Calls(tx))
        .middleware(Router::new().get("/ws", Numbered));
    let server = serve_with(app, test_config());
    let addr = server.local_addr();

    // The server closes (from `on_message`); the client's answer reaches
    // `on_close`.
    let mut first = open(addr, "/ws").await;
    assert_eq!(called(&mut calls).await, "open");
    assert_eq!(next(&mut first).await, Frame::text("welcome"));
    first.send(Frame::text("hi")).await.unwrap();
    assert_eq!(next(&mut first).await, Frame::text("1: hi"));
    assert_eq!(called(&mut calls).await, "message hi");
    first.send(Frame::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(next(&mut first).await, Frame::binary(vec![3u8, 2, 1]));
    assert_eq!(called(&mut calls).await, "bytes 3");
    first.send(Frame::text("there")).await.unwrap();
    assert_eq!(next(&mut first).await, Frame::text("2: there"));
    assert_eq!(called(&mut calls).await, "message there");

    // A second socket has a handler of its own (its count starts again).
    let mut second = open(addr, "/ws").await;
    assert_eq!(called(&mut calls).await, "open");
    assert_eq!(next(&mut second).await, Frame::text("welcome"));
    second.send(Frame::text("hello")).await.unwrap();
    assert_eq!(next(&mut second).await, Frame::text("1: hello"));
    assert_eq!(called(&mut calls).await, "message hello");

    first.send(Frame::text("close")).await.unwrap();
    assert_eq!(called(&mut calls).await, "message close");
    match next(&mut first).await {
        Frame::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::from(4000));
            assert_eq!(frame.reason.as_str(), "asked to");
        }
        other => panic!("expected the server's close, got {other:?}"),
    }
    // tungstenite answers with the same code when the stream is polled.
    while let Ok(Some(_)) = tokio::time::timeout(IO_TIMEOUT, first.next()).await {}
    assert_eq!(called(&mut calls).await, "close 4000");

    // The client closes first.
    second
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "done".into(),
        }))
        .await
        .unwrap();
    assert_eq!(called(&mut calls).await, "close 1000");

    // The client vanishes without a close frame.
    let third = open(addr, "/ws").await;
    assert_eq!(called(&mut calls).await, "open");
    drop(third);
    assert_eq!(called(&mut calls).await, "close none");
    server.shutdown().await;
}
