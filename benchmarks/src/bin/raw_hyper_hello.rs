//! Raw hyper 1.x: `http1::Builder`, a multi-thread runtime, a plain accept
//! loop, answering `Hello, World!` — the baseline wsgi-rs is measured
//! against.

use std::convert::Infallible;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use wsgi_benchmarks::{runtime, PeerArgs};

fn main() -> std::io::Result<()> {
    let args = PeerArgs::parse();
    runtime(args.workers)?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.bind).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    let mut response =
                        http::Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
