//! A server with a mixed workload, run as a child process by the load and
//! restart tests (`tests/tests/robustness/{vanishing,slow_clients}.rs`,
//! `tests/tests/serving/restart.rs`) and by
//! `scripts/soak.sh`, so they can measure its memory and file descriptors
//! from `/proc` and signal it. Settings come from the command line
//! (`Config::from_args`).
//!
//! - `GET /hello`: `ok`.
//! - `GET /stream`: 1,000 chunks `chunk N\n`, 10 ms apart (10 s in all);
//!   `GET /stream/N`: N of them (at most 1,000).
//! - `GET /big`: 64 MiB in 64 KiB chunks, each allocated when the server
//!   asks for it and all ready at once: only the client's reading paces it.
//! - `GET /slow/MS`: `slow ok` after MS milliseconds (at most 10 s).
//! - `POST /upload`: reads the body, answers its length.
//! - `GET /error`: the handler fails, a 500.
//! - `GET /ws/echo`: a WebSocket that echoes text and binary messages
//!   (the 1,000-socket test in `tests/tests/realtime/websocket_clients.rs`).
//! - `GET /stats`: JSON counts of the bodies of `/stream`, `/big` and
//!   `/slow` by how they ended (their `on_close` hooks): `started`,
//!   `completed`, `aborted`, `failed`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use wsgi_core::server::Server;
use wsgi_core::websocket::{Message, WebSocket, WebSocketUpgrade};
use wsgi_core::{app_fn, Body, Chunk, Config, Environ, Error, Outcome, StartResponse};

/// The size of `/big`.
const BIG_BODY: usize = 64 * 1024 * 1024;
const BIG_CHUNK: usize = 64 * 1024;

static STARTED: AtomicU64 = AtomicU64::new(0);
static COMPLETED: AtomicU64 = AtomicU64::new(0);
static ABORTED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);

/// Counts a body now and how it ends later.
fn counted(body: Body) -> Body {
    STARTED.fetch_add(1, Ordering::SeqCst);
    body.on_close(|outcome| {
        let counter = match outcome {
            Outcome::Completed => &COMPLETED,
            Outcome::Aborted => &ABORTED,
            Outcome::Failed => &FAILED,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    })
}

fn stats() -> String {
    format!(
        "{{\"started\":{},\"completed\":{},\"aborted\":{},\"failed\":{}}}",
        STARTED.load(Ordering::SeqCst),
        COMPLETED.load(Ordering::SeqCst),
        ABORTED.load(Ordering::SeqCst),
        FAILED.load(Ordering::SeqCst),
    )
}

/// A freshly allocated 64 KiB chunk: if the server buffered `/big` for a
/// client that does not read, its resident memory would show it.
fn big_chunk() -> Bytes {
    Bytes::from(vec![b'x'; BIG_CHUNK])
}

fn load(environ: &mut Environ, sr: StartResponse) -> Result<Body, Error> {
    let path = environ.path_info().into_owned();
    let text = [("Content-Type", "text/plain")];
    let body = match path.as_str() {
        "/hello" => {
            sr.start("200 OK", text)?;
            Body::from("ok")
        }
        "/stats" => {
            sr.start("200 OK", [("Content-Type", "application/json")])?;
            Body::from(stats())
        }
        "/ws/echo" => {
            let upgrade = WebSocketUpgrade::new(environ)?;
            return upgrade.on_upgrade(echo).start(environ, &sr);
        }
        "/error" => return Err(Error::msg("a failure the soak test asked for")),
        stream if stream == "/stream" || stream.starts_with("/stream/") => {
            let count: u32 = stream
                .strip_prefix("/stream/")
                .map_or(1_000, |n| n.parse().unwrap_or(0).min(1_000));
            sr.start("200 OK", text)?;
            let chunks = futures_util::stream::unfold(0u32, move |n| async move {
                if n >= count {
                    return None;
                }
                if n > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Some((Ok::<_, Error>(format!("chunk {n}\n")), n + 1))
            });
            counted(Body::from_stream(chunks))
        }
        "/big" => {
            let length = BIG_BODY.to_string();
            sr.start(
                "200 OK",
                [
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Length", length.as_str()),
                ],
            )?;
            let chunks = (0..BIG_BODY / BIG_CHUNK).map(|_| Ok::<_, Error>(big_chunk()));
            counted(Body::from_stream(futures_util::stream::iter(chunks)))
        }
        "/upload" => {
            let mut input = environ.take_input();
            sr.start("200 OK", text)?;
            Body::from_chunks([Chunk::future(async move {
                let mut length = 0usize;
                while let Some(chunk) = input.chunk().await? {
                    length += chunk.len();
                }
                Ok::<_, Error>(length.to_string())
            })])
        }
        slow if slow.starts_with("/slow/") => {
            let ms: u64 = slow["/slow/".len()..].parse().unwrap_or(0).min(10_000);
            sr.start("200 OK", text)?;
            counted(Body::from_chunks([Chunk::future(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, Error>("slow ok")
            })]))
        }
        _ => {
            sr.start("404 Not Found", text)?;
            Body::from("not found")
        }
    };
    Ok(body)
}

/// Echoes every text and binary message back until the client closes.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && socket.send(message).await.is_err()
        {
            break;
        }
    }
}

fn main() -> ExitCode {
    match Server::new(app_fn(load)).config(Config::from_args()).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
