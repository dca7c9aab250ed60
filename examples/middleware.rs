//! A `WsgiHandler`: two middleware, a response middleware, and `LazyWsgi`
//! building the handler once per worker on its first request.
//!
//! - `GET /health` is answered by the first middleware (`ok`).
//! - `GET /hello/NAME` is answered by the application, a plain WSGI function.
//! - anything else is a 404, rendered as text, HTML or JSON by `Accept`.
//! - every response gets `X-Worker-Build` (from the response middleware),
//!   telling which lazily-built handler served it.
//!
//! ```text
//! cargo run --example middleware -- --bind 127.0.0.1:8060 --workers 2
//! curl -i http://127.0.0.1:8060/health
//! curl -i http://127.0.0.1:8060/hello/ada
//! curl -i -H 'Accept: application/json' http://127.0.0.1:8060/missing
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use wsgi_core::lazy::LazyWsgi;
use wsgi_core::middleware::{middleware_fn, response_middleware_fn};
use wsgi_core::server::Server;
use wsgi_core::{
    app_fn, Config, Environ, Error, HttpError, StartResponse, WsgiHandler, WsgiResponse,
};

static BUILDS: AtomicUsize = AtomicUsize::new(0);

fn hello(environ: &mut Environ, start_response: StartResponse) -> Result<String, Error> {
    let path = environ.path_info();
    let Some(name) = path.strip_prefix("/hello/").filter(|n| !n.is_empty()) else {
        return Err(HttpError::not_found().into());
    };
    let greeting = format!("Hello, {name}!\n");
    start_response.start("200 OK", [("Content-Type", "text/plain; charset=utf-8")])?;
    Ok(greeting)
}

fn build(_environ: &Environ) -> Result<WsgiHandler, Error> {
    // Runs once per worker, on its first request, with that request's
    // environ (and so the server's config): open pools, load templates...
    let build = BUILDS.fetch_add(1, Ordering::SeqCst) + 1;
    let health = middleware_fn(|environ: &mut Environ| {
        Ok::<_, Error>((environ.path_info() == "/health").then(|| WsgiResponse::text("ok\n")))
    });
    let stamp = response_middleware_fn(move |_: &mut Environ, mut response: WsgiResponse| {
        response
            .headers_mut()
            .insert("x-worker-build", build.into());
        Ok::<_, Error>(response)
    });
    Ok(WsgiHandler::default()
        .middleware(health)
        // A plain WSGI application always answers: it comes last.
        .app(app_fn(hello))
        .response_middleware(stamp))
}

fn main() -> ExitCode {
    match Server::new(LazyWsgi::new(build))
        .config(Config::from_args())
        .run()
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
