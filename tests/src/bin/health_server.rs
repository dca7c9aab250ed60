//! A server run exactly as applications run it (`Server::run`), with the
//! `HealthCheck` probes in front of an app that answers with its process
//! id and whether `LISTEN_FDS` is still in its environment: for the
//! socket-activation and drain tests.

use std::process::ExitCode;

use wsgi_core::middleware::HealthCheck;
use wsgi_core::server::Server;
use wsgi_core::{app_fn, Config, Environ, Error, StartResponse, WsgiHandler};

fn app(_: &mut Environ, start_response: StartResponse) -> Result<String, Error> {
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(format!(
        "pid={} LISTEN_FDS={}",
        std::process::id(),
        std::env::var("LISTEN_FDS").unwrap_or_else(|_| "unset".into())
    ))
}

fn main() -> ExitCode {
    let handler = WsgiHandler::default()
        .middleware(HealthCheck::new())
        .app(app_fn(app));
    match Server::new(handler).config(Config::from_args()).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
