//! wsgi-rs serving the workloads of `wsgi_benchmarks` with one
//! application: plain WSGI for hello and environ, an asynchronous iterable
//! of futures for the streams. HTTP/1.1 and h2c on the same port.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use wsgi_benchmarks::{json_object, ServerArgs, StreamShape, HELLO};
use wsgi_core::server::Server;
use wsgi_core::{app_fn, Body, Config, Environ, Error, StartResponse};

fn app(environ: &mut Environ, start_response: StartResponse) -> Result<Body, Error> {
    let path = environ.uri().path();
    if path == "/environ" {
        let json = json_object(&environ.vars());
        start_response.start("200 OK", [("Content-Type", "application/json")])?;
        return Ok(json.into());
    }
    if let Some(shape) = StreamShape::for_path(path) {
        start_response.start("200 OK", [("Content-Type", "application/octet-stream")])?;
        return Ok(Body::from_stream(shape.stream()));
    }
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(Body::full(HELLO))
}

fn main() -> ExitCode {
    let args = ServerArgs::parse();
    let mut config = Config::default();
    config.bind = vec![args.bind];
    config.workers = args.workers;
    // The peers never close idle connections: neither may this one while
    // the idle-memory workload reads its RSS.
    config.http_keep_alive = Duration::from_secs(600);
    config.log_level = "warn".to_owned();
    match Server::new(app_fn(app)).config(config).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
