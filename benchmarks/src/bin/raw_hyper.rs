//! Raw hyper 1.x: `http1::Builder` (or `http2::Builder` with `--h2`), a
//! multi-thread runtime, a plain accept loop — the baseline wsgi-rs is
//! measured against, serving the workloads of `wsgi_benchmarks`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use http::header::{HeaderValue, CONTENT_TYPE};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use wsgi_benchmarks::{json_object, peer_vars, runtime, Item, ServerArgs, StreamShape, HELLO};

type Body = BoxBody<Bytes, std::io::Error>;

/// The typed-json workload by hand: the id from the path, the item from
/// the whole body, answered as JSON (400 for anything that does not fit).
async fn update(request: http::Request<Incoming>) -> http::Response<Body> {
    let id = request
        .uri()
        .path()
        .strip_prefix("/items/")
        .and_then(|id| id.parse::<u64>().ok());
    let body = request.into_body().collect().await.ok();
    let item = body.and_then(|b| serde_json::from_slice::<Item>(&b.to_bytes()).ok());
    let (Some(id), Some(mut item)) = (id, item) else {
        let mut response =
            http::Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed());
        *response.status_mut() = http::StatusCode::BAD_REQUEST;
        return response;
    };
    item.id = id;
    let json = serde_json::to_vec(&item).unwrap_or_default();
    let mut response =
        http::Response::new(Full::new(Bytes::from(json)).map_err(|e| match e {}).boxed());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn respond(
    request: http::Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> http::Response<Body> {
    let (head, _) = request.into_parts();
    let path = head.uri.path();
    let (body, content_type): (Body, &'static str) = if path == "/environ" {
        let json = json_object(&peer_vars(&head, Some(peer), Some(local)));
        (
            Full::new(Bytes::from(json)).map_err(|e| match e {}).boxed(),
            "application/json",
        )
    } else if let Some(shape) = StreamShape::for_path(path) {
        let frames = shape.stream().map(|chunk| chunk.map(Frame::data));
        (
            BodyExt::boxed(StreamBody::new(frames)),
            "application/octet-stream",
        )
    } else {
        (
            Full::new(Bytes::from_static(HELLO))
                .map_err(|e| match e {})
                .boxed(),
            "text/plain",
        )
    };
    let mut response = http::Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn main() -> std::io::Result<()> {
    let args = ServerArgs::parse();
    let h2 = args.h2;
    runtime(args.workers)?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.bind).await?;
        let local = listener.local_addr()?;
        loop {
            let (stream, peer) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<Incoming>| async move {
                    if request.method() == http::Method::POST
                        && request.uri().path().starts_with("/items/")
                    {
                        return Ok::<_, Infallible>(update(request).await);
                    }
                    Ok(respond(request, peer, local))
                });
                let io = TokioIo::new(stream);
                let _ = if h2 {
                    http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, service)
                        .await
                } else {
                    http1::Builder::new().serve_connection(io, service).await
                };
            });
        }
    })
}
