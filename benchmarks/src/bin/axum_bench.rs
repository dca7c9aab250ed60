//! axum 0.8 with `axum::serve` (HTTP/1.1 and h2c), serving the workloads of
//! `wsgi_benchmarks`, and `/ws`, a WebSocket echo (`benchmarks/websocket.sh`).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Request};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use clap::Parser;
use http::header::CONTENT_TYPE;
use wsgi_benchmarks::{json_object, peer_vars, runtime, Item, ServerArgs, StreamShape, HELLO};

/// The listening address, for `SERVER_NAME` when no `Host` is sent.
#[derive(Clone, Copy)]
struct LocalAddr(SocketAddr);

async fn environ(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> impl IntoResponse {
    let (head, _) = request.into_parts();
    let local = head.extensions.get::<LocalAddr>().map(|l| l.0);
    let json = json_object(&peer_vars(&head, Some(peer), local));
    ([(CONTENT_TYPE, "application/json")], json)
}

async fn stream(request: Request) -> impl IntoResponse {
    let shape = StreamShape::for_path(request.uri().path()).unwrap_or(StreamShape {
        chunks: 0,
        chunk: b"",
        pending: false,
    });
    (
        [(CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(shape.stream()),
    )
}

/// The typed-json workload: the id from the path, the item from the body.
async fn update(Path(id): Path<u64>, Json(mut item): Json<Item>) -> Json<Item> {
    item.id = id;
    Json(item)
}

/// Echoes text and binary messages, as wsgi-rs's `/ws` does.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && socket.send(message).await.is_err()
        {
            break;
        }
    }
}

fn main() -> std::io::Result<()> {
    let args = ServerArgs::parse();
    runtime(args.workers)?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.bind).await?;
        let local = LocalAddr(listener.local_addr()?);
        // `TCP_NODELAY`, as wsgi-rs and raw hyper set it: without it the
        // kernel gathers the stream workloads' tiny writes into fewer
        // packets, which measures Nagle's algorithm, not the framework.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let app = Router::new()
            .route(
                "/",
                get(|| async { ([(CONTENT_TYPE, "text/plain")], HELLO) }),
            )
            .route("/environ", get(environ))
            .route("/stream/small", get(stream))
            .route("/stream/pending", get(stream))
            .route("/stream/large", get(stream))
            .route("/items/{id}", post(update))
            .route(
                "/ws",
                get(|upgrade: WebSocketUpgrade| async move { upgrade.on_upgrade(echo) }),
            )
            .layer(axum::Extension(local));
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    })
}
