//! Echoes the request as WSGI sees it: a JSON object with every string
//! environ variable (CGI variables, every `HTTP_*`, `RAW_URI`,
//! `REMOTE_ADDR`, `wsgi.url_scheme`, ...) keyed by its PEP 3333 name, plus
//! the size of the request body, which it reads first.
//!
//! ```text
//! cargo run --example environ -- --bind 127.0.0.1:8060
//! curl -s -d 'hello' 'http://127.0.0.1:8060/some/path?x=1'
//! ```

use std::process::ExitCode;

use serde_json::{Map, Value};
use wsgi_core::server::Server;
use wsgi_core::{wsgi_handler, Config, Environ, Error, StartResponse};

/// Asynchronous, with a mutable environ: reading `wsgi.input` needs one.
#[wsgi_handler]
async fn environ_echo(
    environ: &mut Environ,
    start_response: StartResponse,
) -> Result<Vec<u8>, Error> {
    let body = environ.input().read_all().await?;
    let mut vars: Map<String, Value> = environ
        .vars()
        .into_iter()
        .map(|(name, value)| (name.into_owned(), Value::String(value.into_owned())))
        .collect();
    vars.insert("wsgi.input.length".into(), Value::from(body.len()));
    let json = serde_json::to_vec(&vars)?;
    start_response.start("200 OK", [("Content-Type", "application/json")])?;
    Ok(json)
}

fn main() -> ExitCode {
    match Server::new(EnvironEcho).config(Config::from_args()).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
