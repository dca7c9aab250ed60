//! WebSocket over HTTP/2 (RFC 8441): hyper's HTTP/2 client sends an
//! extended CONNECT (`:protocol websocket`) over a real socket to the same
//! `WebSocketUpgrade` handler HTTP/1.1 clients use, gets `200` and talks
//! over the stream with tungstenite; the refusals, other streams going on
//! beside the socket, and the graceful shutdown's close `1001`.

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper::ext::Protocol;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;
use wsgi_core::router::Router;
use wsgi_core::websocket::{Message, WebSocketUpgrade};
use wsgi_core::{response_middleware, wsgi_handler, Environ, WsgiHandler, WsgiResponse};
use wsgi_tests::{serve_with, test_config, IO_TIMEOUT};

type ClientSocket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Echoes text and binary messages; says which HTTP version and
/// subprotocol it was opened with first.
#[wsgi_handler]
fn echo_endpoint(environ: &Environ, upgrade: WebSocketUpgrade) -> WsgiResponse {
    let version = format!("{:?}", environ.version());
    upgrade
        .protocols(["chat.v1"])
        .on_upgrade(move |mut socket| async move {
            let hello = format!("{version} {}", socket.protocol().unwrap_or("-"));
            if socket.send(Message::text(hello)).await.is_err() {
                return;
            }
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Text(_) | Message::Binary(_))
                    && socket.send(message).await.is_err()
                {
                    break;
                }
            }
        })
}

#[wsgi_handler]
fn plain() -> &'static str {
    "plain\n"
}

#[response_middleware]
fn stamp(_environ: &Environ, mut response: WsgiResponse) -> WsgiResponse {
    response
        .headers_mut()
        .insert("x-stamped", http::HeaderValue::from_static("yes"));
    response
}

fn app() -> WsgiHandler {
    WsgiHandler::default()
        .middleware(
            Router::new()
                .get("/echo", EchoEndpoint)
                .get("/plain", Plain),
        )
        .response_middleware(Stamp)
}

/// An HTTP/2 connection (prior knowledge, cleartext).
async fn connect(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

/// A request on `path`: an extended CONNECT when `protocol` is given.
fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    protocol: Option<&'static str>,
    headers: &[(&str, &str)],
) -> Request<Empty<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .version(Version::HTTP_2)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(Empty::new()).unwrap();
    if let Some(protocol) = protocol {
        request
            .extensions_mut()
            .insert(Protocol::from_static(protocol));
    }
    request
}

async fn send(
    sender: &mut SendRequest<Empty<Bytes>>,
    request: Request<Empty<Bytes>>,
) -> Response<Incoming> {
    sender.ready().await.unwrap();
    tokio::time::timeout(IO_TIMEOUT, sender.send_request(request))
        .await
        .expect("an answer in time")
        .unwrap()
}

async fn text(response: Response<Incoming>) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

/// The extended CONNECT for a WebSocket on `/echo` (subprotocol `chat.v1`).
fn websocket_connect(addr: SocketAddr) -> Request<Empty<Bytes>> {
    request(
        addr,
        Method::CONNECT,
        "/echo",
        Some("websocket"),
        &[
            ("sec-websocket-version", "13"),
            ("sec-websocket-protocol", "chat.v1"),
        ],
    )
}

/// Opens a WebSocket on `/echo` over `sender`'s connection.
async fn open(addr: SocketAddr, sender: &mut SendRequest<Empty<Bytes>>) -> ClientSocket {
    let response = send(sender, websocket_connect(addr)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let upgraded = hyper::upgrade::on(response).await.unwrap();
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await
}

async fn next(socket: &mut ClientSocket) -> Frame {
    tokio::time::timeout(IO_TIMEOUT, socket.next())
        .await
        .expect("a message in time")
        .expect("the socket is open")
        .expect("a valid message")
}

#[tokio::test]
async fn an_extended_connect_opens_a_websocket_beside_other_streams() {
    let server = serve_with(app(), test_config());
    let addr = server.local_addr();
    let mut sender = connect(addr).await;

    let response = send(&mut sender, websocket_connect(addr)).await;
    // RFC 8441 §5: `200`, no key to answer; response middleware ran.
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["sec-websocket-protocol"], "chat.v1");
    assert_eq!(headers["x-stamped"], "yes");
    assert!(headers.get("sec-websocket-accept").is_none(), "{headers:?}");
    assert!(headers.get("upgrade").is_none(), "{headers:?}");
    let upgraded = hyper::upgrade::on(response).await.unwrap();
    let mut socket =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    assert_eq!(next(&mut socket).await, Frame::text("HTTP/2.0 chat.v1"));

    socket.send(Frame::text("hello over h2")).await.unwrap();
    assert_eq!(next(&mut socket).await, Frame::text("hello over h2"));
    let big = Bytes::from(vec![7u8; 64 * 1024]);
    socket.send(Frame::binary(big.clone())).await.unwrap();
    assert_eq!(next(&mut socket).await, Frame::Binary(big));

    // The connection serves other streams while the socket is open, a
    // second socket included.
    let plain = send(&mut sender, request(addr, Method::GET, "/plain", None, &[])).await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(text(plain).await, "plain\n");
    let mut second = open(addr, &mut sender).await;
    assert_eq!(next(&mut second).await, Frame::text("HTTP/2.0 chat.v1"));
    second.send(Frame::text("second")).await.unwrap();
    assert_eq!(next(&mut second).await, Frame::text("second"));

    // The close handshake, echoed.
    socket
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    match next(&mut socket).await {
        Frame::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the close answer, got {other:?}"),
    }
    second.send(Frame::text("still here")).await.unwrap();
    assert_eq!(next(&mut second).await, Frame::text("still here"));
    drop((socket, second, sender));
    server.shutdown().await;
}

#[tokio::test]
async fn http2_requests_that_are_not_a_websocket_connect_are_refused_clearly() {
    let server = serve_with(app(), test_config());
    let addr = server.local_addr();
    let mut sender = connect(addr).await;
    let version = [("sec-websocket-version", "13")];
    let cases: [(Request<Empty<Bytes>>, StatusCode, &str); 4] = [
        (
            request(
                addr,
                Method::CONNECT,
                "/echo",
                Some("webtransport"),
                &version,
            ),
            StatusCode::BAD_REQUEST,
            "must be `websocket`, not `webtransport`",
        ),
        (
            request(addr, Method::GET, "/echo", None, &version),
            StatusCode::BAD_REQUEST,
            "extended CONNECT (RFC 8441)",
        ),
        (
            request(addr, Method::CONNECT, "/echo", Some("websocket"), &[]),
            StatusCode::UPGRADE_REQUIRED,
            "Sec-WebSocket-Version: 13",
        ),
        (
            request(
                addr,
                Method::CONNECT,
                "/echo",
                Some("websocket"),
                &[
                    ("sec-websocket-version", "13"),
                    ("origin", "http://evil.example"),
                ],
            ),
            StatusCode::FORBIDDEN,
            "origin `http://evil.example`",
        ),
    ];
    for (request, status, says) in cases {
        let described = format!(
            "{} {:?}",
            request.method(),
            request.extensions().get::<Protocol>()
        );
        let response = send(&mut sender, request).await;
        assert_eq!(response.status(), status, "{described}");
        let body = text(response).await;
        assert!(body.contains(says), "{described}: {body}");
    }
    // A page of the server's own origin (`:authority`) is accepted.
    let response = send(
        &mut sender,
        request(
            addr,
            Method::CONNECT,
            "/echo",
            Some("websocket"),
            &[
                ("sec-websocket-version", "13"),
                ("origin", &format!("http://{addr}")),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    // An extended CONNECT to a path no rule matches: 404, as a GET.
    let response = send(
        &mut sender,
        request(
            addr,
            Method::CONNECT,
            "/nowhere",
            Some("websocket"),
            &version,
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    drop(sender);
    server.shutdown().await;
}

#[tokio::test]
async fn a_graceful_shutdown_closes_an_http2_websocket_with_1001() {
    let server = serve_with(app(), test_config());
    let addr = server.local_addr();
    let mut sender = connect(addr).await;
    let mut socket = open(addr, &mut sender).await;
    assert_eq!(next(&mut socket).await, Frame::text("HTTP/2.0 chat.v1"));
    let shutdown = tokio::spawn(server.shutdown());
    match next(&mut socket).await {
        Frame::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected close 1001, got {other:?}"),
    }
    // tungstenite answers the close; the server then ends the stream.
    while let Ok(Some(_)) = tokio::time::timeout(IO_TIMEOUT, socket.next()).await {}
    tokio::time::timeout(IO_TIMEOUT, shutdown)
        .await
        .expect("the shutdown ends once the socket closed")
        .unwrap();
}
