//! The httpbin example as a production server would run it, for the
//! deployment tests (nginx in front, rolling restarts): configuration from
//! the command line, the environment and `--config` (`Config::from_args`),
//! `ready ADDRESS` on standard output once every address is bound and the
//! workers are serving, and a graceful shutdown on SIGTERM or SIGINT.
//!
//! Besides httpbin's routes it serves, for the nginx tests, `GET /events`
//! (an event stream: three events 300 ms apart) and `GET /ws/echo` (a
//! WebSocket echo).
//!
//! ```text
//! httpbin_server --bind 127.0.0.1:8001 --server-software instance-a
//! ```

#[allow(dead_code, unreachable_pub)]
#[path = "../../../examples/httpbin.rs"]
mod httpbin;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use futures_util::StreamExt;
use wsgi_core::router::Router;
use wsgi_core::server::{Hooks, Server};
use wsgi_core::sse::{Event, EventStream};
use wsgi_core::websocket::{Message, WebSocketUpgrade};
use wsgi_core::{wsgi_handler, Config, Error, WsgiHandler, WsgiResponse};

/// Three events, 300 ms apart (the first after 300 ms).
#[wsgi_handler]
fn events() -> EventStream {
    let events = futures_util::stream::iter(0..3u32).then(|n| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok::<_, Error>(Event::new().id(n.to_string()).data(format!("event {n}")))
    });
    EventStream::new(events)
}

/// Echoes text and binary messages.
#[wsgi_handler]
fn ws_echo(upgrade: WebSocketUpgrade) -> WsgiResponse {
    upgrade.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Text(_) | Message::Binary(_))
                && socket.send(message).await.is_err()
            {
                break;
            }
        }
    })
}

fn main() -> ExitCode {
    let media = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/media");
    // Printed rather than logged, so it shows whatever `--log-level` is.
    let hooks = Hooks::default().when_ready(|addrs| async move {
        let mut out = std::io::stdout().lock();
        for addr in addrs {
            let _ = writeln!(out, "ready {addr}");
        }
        let _ = out.flush();
    });
    let app = WsgiHandler::default()
        .middleware(Router::new().get("/events", Events).get("/ws/echo", WsEcho))
        .app(httpbin::app(media));
    match Server::new(app)
        .config(Config::from_args())
        .hooks(hooks)
        .run()
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
