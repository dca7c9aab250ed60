//! The chat example (`examples/chat.rs`) over real sockets: the page, and
//! two clients talking, one over the WebSocket and one over the
//! Server-Sent Events fallback with `POST /send`.

#[allow(dead_code, unreachable_pub)]
#[path = "../../../examples/chat.rs"]
pub(super) mod example;

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wsgi_tests::{get, raw_request, read_more_until, serve_with, test_config};

async fn websocket(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    read_more_until(&mut stream, &mut got, b"\r\n\r\n").await;
    assert!(
        got.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
    stream
}

fn text_frame(text: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | text.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[tokio::test]
async fn the_page_offers_the_websocket_and_the_event_stream() {
    let server = serve_with(example::app(example::Room::new(10)), test_config());
    let page = get(server.local_addr(), "/").await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let text = page.text();
    assert!(
        text.contains("new WebSocket(") && text.contains("new EventSource("),
        "{text}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_websocket_client_and_an_event_stream_client_talk() {
    let server = serve_with(example::app(example::Room::new(10)), test_config());
    let addr = server.local_addr();
    let mut ws = websocket(addr).await;
    let mut sse = TcpStream::connect(addr).await.unwrap();
    sse.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut events = Vec::new();
    read_more_until(&mut sse, &mut events, b"\r\n\r\n").await;
    assert!(String::from_utf8_lossy(&events).contains("text/event-stream"));

    // The WebSocket speaks: both hear it.
    ws.write_all(&text_frame(b"hello from ws")).await.unwrap();
    read_more_until(
        &mut sse,
        &mut events,
        b"event: said\nid: 1\ndata: hello from ws\n\n",
    )
    .await;
    let mut heard = Vec::new();
    let mut expected = vec![0x81, 13];
    expected.extend_from_slice(b"hello from ws");
    read_more_until(&mut ws, &mut heard, &expected).await;

    // The fallback speaks with a POST: the WebSocket hears it.
    let response = raw_request(
        addr,
        "POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\nConnection: close\r\n\r\nhi from posts",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let mut expected = vec![0x81, 13];
    expected.extend_from_slice(b"hi from posts");
    read_more_until(&mut ws, &mut heard, &expected).await;
    read_more_until(&mut sse, &mut events, b"id: 2\ndata: hi from posts\n\n").await;

    // Too long, or empty: refused, the room goes on.
    let long = "x".repeat(example::MAX_MESSAGE + 1);
    let response = raw_request(
        addr,
        &format!("POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{long}", long.len()),
    )
    .await;
    assert_eq!(response.status, 400);
    server.shutdown().await;
}
