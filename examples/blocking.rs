//! A handler that blocks, run on tokio's blocking pool with
//! `#[wsgi_handler(blocking)]`: the event loop keeps serving other requests
//! while it works.
//!
//! `GET /?ms=N` sleeps `N` milliseconds (at most 5000; a stand-in for a
//! synchronous database driver or file API), then answers with the path,
//! the time slept and the thread that did the work.
//!
//! ```text
//! cargo run --example blocking -- --bind 127.0.0.1:8060 --workers 1
//! curl 'http://127.0.0.1:8060/report?ms=2000' & curl 'http://127.0.0.1:8060/quick?ms=0'
//! ```

use std::process::ExitCode;
use std::time::Duration;

use wsgi_core::server::Server;
use wsgi_core::{wsgi_handler, Config, Environ, Error, HttpError, StartResponse};

/// The longest sleep a request may ask for.
const MAX_MS: u64 = 5_000;

/// A plain `fn` that blocks; the environ moves to the blocking thread and
/// back, so it is read here as usual.
#[wsgi_handler(blocking)]
fn slow_report(environ: &Environ, start_response: StartResponse) -> Result<String, Error> {
    let ms = match environ.query_string().strip_prefix("ms=") {
        None => 0,
        Some(ms) => ms
            .parse::<u64>()
            .ok()
            .filter(|&ms| ms <= MAX_MS)
            .ok_or_else(|| HttpError::bad_request(format!("ms must be 0 to {MAX_MS}")))?,
    };
    std::thread::sleep(Duration::from_millis(ms));
    let thread = std::thread::current();
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(format!(
        "{} slept {ms} ms on thread {:?} ({:?})\n",
        environ.path_info(),
        thread.name().unwrap_or("unnamed"),
        thread.id(),
    ))
}

fn main() -> ExitCode {
    match Server::new(SlowReport).config(Config::from_args()).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
