//! A server run exactly as applications run it (`Server::run`), for the
//! signal-handling and logging tests: `GET /slow` answers after 500 ms,
//! `GET /fail` fails in the handler (a 500 and an error log line), any
//! path under `/fast/` answers `fast` at once.

use std::process::ExitCode;
use std::time::Duration;

use wsgi_core::server::Server;
use wsgi_core::{app_fn, Body, Chunk, Config, Environ, Error, StartResponse};

fn slow(environ: &mut Environ, start_response: StartResponse) -> Result<Body, Error> {
    if environ.path_info() == "/fail" {
        return Err(Error::msg("the handler failed on purpose"));
    }
    if environ.path_info().starts_with("/fast/") {
        start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        return Ok(Body::from("fast"));
    }
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(Body::from_chunks([
        Chunk::from("slow "),
        Chunk::future(async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok::<_, Error>("but complete")
        }),
    ]))
}

fn main() -> ExitCode {
    match Server::new(app_fn(slow)).config(Config::from_args()).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
