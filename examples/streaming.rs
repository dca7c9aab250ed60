//! Asynchronous iterables, as in pulsar's `simple_async`.
//!
//! - `GET /` streams `b"hello"`, then a future resolving to `b" "`, then
//!   `b"World!"`: `hello World!`, chunked.
//! - `GET /{n}` streams `n` chunks of 16 bytes, each produced by a future.
//!
//! ```text
//! cargo run --example streaming -- --bind 127.0.0.1:8060
//! curl -N http://127.0.0.1:8060/
//! curl -N http://127.0.0.1:8060/100
//! ```

use std::process::ExitCode;

use wsgi_core::server::Server;
use wsgi_core::{wsgi_handler, Body, Chunk, Config, Environ, Error, StartResponse};

/// One 16-byte line, `chunk 000042\n` padded, produced asynchronously.
fn numbered_chunk(i: u32) -> Chunk {
    Chunk::future(async move {
        tokio::task::yield_now().await;
        Ok::<_, Error>(format!("chunk {i:09}\n"))
    })
}

/// A synchronous handler whose body is asynchronous: the server awaits the
/// futures among its items in order.
#[wsgi_handler]
fn streaming(environ: &Environ, start_response: StartResponse) -> Result<Body, Error> {
    let path = environ.path_info();
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        return Ok(Body::from_chunks([
            Chunk::from("hello"),
            Chunk::future(async { Ok::<_, Error>(" ") }),
            Chunk::from("World!"),
        ]));
    }
    match path.parse::<u32>() {
        Ok(n) if n <= 1_000_000 => {
            start_response.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok(Body::from_chunks((0..n).map(numbered_chunk)))
        }
        _ => {
            start_response.start("404 Not Found", [("Content-Type", "text/plain")])?;
            Ok("Try / or /{n} with n up to 1000000.\n".into())
        }
    }
}

fn main() -> ExitCode {
    match Server::new(Streaming).config(Config::from_args()).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
