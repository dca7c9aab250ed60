//! wsgi-rs serving the workloads of `wsgi_benchmarks` with one
//! application: plain WSGI for hello and environ, an asynchronous iterable
//! of futures for the streams, and a `#[wsgi_handler]` taking `Path` and
//! `Json` behind a `Router` (in a `WsgiHandler`, as an app would serve it)
//! for `/items/<id>`. HTTP/1.1 and h2c on the same port. `/ws` is a
//! WebSocket echo (`benchmarks/websocket.sh`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use wsgi_benchmarks::{json_object, Item, ServerArgs, StreamShape, HELLO};
use wsgi_core::extract::Json;
use wsgi_core::extract::{CheckError, Path, Provided};
use wsgi_core::router::Router;
use wsgi_core::server::Server;
use wsgi_core::websocket::{Message, WebSocket, WebSocketUpgrade};
use wsgi_core::{
    wsgi_handler, Application, Body, Config, Environ, Error, StartResponse, WsgiHandler,
};

/// The typed-json workload: the id from the path, the item from the body.
#[wsgi_handler]
async fn update(Path(id): Path<u64>, Json(mut item): Json<Item>) -> Json<Item> {
    item.id = id;
    Json(item)
}

/// `/items/...` to the typed application, everything else to the plain
/// WSGI one (so the other workloads do not pay for the router).
#[derive(Clone)]
struct Bench {
    typed: WsgiHandler,
}

impl Application for Bench {
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        if environ.uri().path() == "/ws" {
            let upgrade = WebSocketUpgrade::new(environ)?;
            return upgrade.on_upgrade(echo).start(environ, &start_response);
        }
        if environ.uri().path().starts_with("/items/") {
            // `WsgiHandler`'s own `call`, without boxing a second future.
            let response = self.typed.respond(environ).await;
            return response.start(environ, &start_response);
        }
        plain(environ, start_response)
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        self.typed.check(provided)
    }
}

/// Echoes text and binary messages, as axum's `/ws` does.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && socket.send(message).await.is_err()
        {
            break;
        }
    }
}

fn plain(environ: &mut Environ, start_response: StartResponse) -> Result<Body, Error> {
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

/// The peers' command line, plus the access log, which only wsgi-rs has.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Write an access line per response to stdout (`log_level = info`),
    /// as a server with the default settings does; off by default, as the
    /// peers log nothing.
    #[arg(long)]
    access_log: bool,
}

fn main() -> ExitCode {
    let Args {
        server: args,
        access_log,
    } = Args::parse();
    // The peers never close idle connections: neither may this one while
    // the idle-memory workload reads its RSS.
    let config = Config::builder()
        .bind(&args.bind)
        .workers(args.workers)
        .http_keep_alive(Duration::from_secs(600))
        .log_level(if access_log { "info" } else { "warn" })
        .build();
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let app = Bench {
        typed: WsgiHandler::default().middleware(Router::new().post("/items/<int:id>", Update)),
    };
    match Server::new(app).config(config).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
