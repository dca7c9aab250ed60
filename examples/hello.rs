//! The smallest WSGI application: every request gets `200 OK`,
//! `text/plain`, `Hello, World!` (with a Content-Length).
//!
//! ```text
//! cargo run --release --example hello -- --bind 127.0.0.1:8060 --workers 2
//! curl -i http://127.0.0.1:8060/
//! ```

use std::process::ExitCode;

use wsgi_core::server::Server;
use wsgi_core::{wsgi_handler, Config, Environ, Error, StartResponse};

/// A synchronous handler is plain WSGI 1.0.1; `#[wsgi_handler]` adds the
/// `Hello` type that the server runs.
#[wsgi_handler]
fn hello(_environ: &Environ, start_response: StartResponse) -> Result<&'static str, Error> {
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok("Hello, World!")
}

fn main() -> ExitCode {
    match Server::new(Hello).config(Config::from_args()).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
