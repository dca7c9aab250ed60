//! axum 0.8 with `axum::serve`, answering `Hello, World!`.

use axum::routing::get;
use axum::Router;
use clap::Parser;
use wsgi_benchmarks::{runtime, PeerArgs};

fn main() -> std::io::Result<()> {
    let args = PeerArgs::parse();
    runtime(args.workers)?.block_on(async move {
        let app = Router::new().fallback(get(|| async { "Hello, World!" }));
        let listener = tokio::net::TcpListener::bind(&args.bind).await?;
        axum::serve(listener, app).await
    })
}
