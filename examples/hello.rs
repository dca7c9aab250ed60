//! The smallest WSGI application: every request gets `200 OK`,
//! `text/plain`, `Hello, World!` (with a Content-Length).
//!
//! ```text
//! cargo run --release --example hello -- --bind 127.0.0.1:8060 --workers 2
//! curl -i http://127.0.0.1:8060/
//! ```

use std::process::ExitCode;

use wsgi_core::server::Server;
use wsgi_core::{app_fn, Config, Environ, Error, StartResponse};

fn main() -> ExitCode {
    // A synchronous handler is plain WSGI 1.0.1.
    let hello = app_fn(|_environ: &mut Environ, start_response: StartResponse| {
        start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>("Hello, World!")
    });
    match Server::new(hello).config(Config::from_args()).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
