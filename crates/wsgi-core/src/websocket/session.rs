//! One accepted WebSocket from the `101` to the end: waits for hyper to
//! hand the connection over, runs the application's function, finishes
//! the close handshake it left open, and writes the access line.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, Mutex};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::close_code;
use super::socket::{
    Io, SharedIo, State, Stats, Stream, CLOSE_ANSWER_TIMEOUT, CLOSE_WRITE_TIMEOUT,
};
use super::WebSocket;
use crate::connection::{Connection, InFlight};

/// Everything the socket needs once the `101` went out.
pub(crate) struct Session {
    pub(crate) on_upgrade: hyper::upgrade::OnUpgrade,
    pub(crate) config: WebSocketConfig,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_message: usize,
    pub(crate) protocol: Option<String>,
    pub(crate) connection: Option<Connection>,
    /// For the access line.
    pub(crate) path: String,
}

impl Session {
    /// Hands the session to the server that runs the connection (or, for
    /// a request served by another server through tower, to a task of its
    /// own). An HTTP/2 socket is one stream of a connection that goes on
    /// serving others, so it always runs in a task of its own; the
    /// connection lives (and counts) as long as the stream is open.
    pub(crate) fn start<F, Fut>(self, function: F)
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let served = self
            .connection
            .clone()
            .filter(|connection| connection.is_served() && !connection.is_http2());
        match served {
            Some(connection) => connection.set_upgrade(Box::pin(self.run(function))),
            None => {
                tokio::spawn(self.run(function));
            }
        }
    }

    async fn run<F, Fut>(self, function: F)
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Session {
            on_upgrade,
            config,
            idle_timeout,
            max_message,
            protocol,
            connection,
            path,
        } = self;
        // An error means the `101` never went out: response middleware
        // answered something else, or the client went away.
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        // The connection stays busy while the socket lives, so no HTTP
        // deadline applies to it (`server/timeouts.rs`). Taken only now:
        // held by a task whose `101` was replaced, it would keep that
        // keep-alive connection from ever timing out.
        let _hold: Option<InFlight> = connection.as_ref().map(Connection::hold);
        let started = Instant::now();
        let peer = connection.as_ref().and_then(Connection::client_addr);
        let stream =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        let io: SharedIo = Arc::new(Mutex::new(Io::new(stream, idle_timeout, max_message)));
        let (dropped, done) = oneshot::channel();
        let socket = WebSocket::new(Arc::clone(&io), protocol, connection.clone(), dropped);
        let served = async move {
            let served = AssertUnwindSafe(async move { function(socket).await })
                .catch_unwind()
                .await;
            // Ends when the socket is dropped, which may be later than the
            // function's end if it moved the socket elsewhere.
            let _ = done.await;
            served.is_err()
        };
        // Meanwhile, whatever the function is doing, a silent client is
        // pinged and a shutdown closes the socket.
        let panicked = tokio::select! {
            biased;
            panicked = served => panicked,
            never = watch(&io, connection.as_ref(), idle_timeout) => match never {},
        };
        if panicked {
            tracing::error!(path = %path, "the WebSocket function panicked; closing with 1011");
        }
        let Some(io) = Arc::into_inner(io).map(Mutex::into_inner) else {
            return;
        };
        let stats = finish(io, panicked).await;
        let code = stats.code.unwrap_or(close_code::ABNORMAL);
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let peer = peer.map_or_else(|| "-".to_owned(), |peer| peer.to_string());
        tracing::info!(
            target: "wsgi::access",
            close_code = code,
            bytes_in = stats.bytes_in,
            bytes_out = stats.bytes_out,
            elapsed_ms,
            "{peer} \"WEBSOCKET {path}\" closed {code} after {elapsed_ms:.3} ms, {} bytes in, {} bytes out",
            stats.bytes_in,
            stats.bytes_out,
        );
    }
}

/// Keeps the socket alive, and closes it for a shutdown, while the
/// function is not in `recv` (which does both itself): when a ping is due
/// and the socket is free (a busy socket is in `recv`, or sending, which
/// is traffic enough), it pings; when the server shuts down, it waits for
/// the socket and closes it with `1001` if it is still open. Runs until
/// the session drops it.
async fn watch(
    io: &Mutex<Io>,
    connection: Option<&Connection>,
    idle_timeout: Option<Duration>,
) -> std::convert::Infallible {
    let mut shutdown_seen = connection.is_none();
    loop {
        let next_ping = idle_timeout.map(|idle| {
            io.try_lock()
                .ok()
                .and_then(|io| io.next_ping_check())
                .unwrap_or_else(|| tokio::time::Instant::now() + idle / 2)
        });
        let ping_check = async {
            match next_ping {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let shutdown = async {
            match connection.filter(|_| !shutdown_seen) {
                Some(connection) => connection.closing().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = ping_check => {
                if let Ok(mut io) = io.try_lock() {
                    io.ping_if_due().await;
                }
            }
            () = shutdown => {
                shutdown_seen = true;
                let mut io = io.lock().await;
                if io.state == State::Open {
                    let close = io.close(close_code::AWAY, "server shutting down");
                    // Bounded like every close the server starts: a client
                    // that does not read must not hold the socket.
                    let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, close).await;
                }
            }
        }
    }
}

/// Completes the close handshake the function left unfinished (`1000`,
/// or `1011` after a panic), waits a little for the client's answer, and
/// closes the connection.
async fn finish(io: Io, panicked: bool) -> Stats {
    let Io {
        mut stream,
        state,
        mut stats,
        ..
    } = io;
    let awaits_answer = match state {
        State::Open => {
            let code = if panicked {
                close_code::ERROR
            } else {
                close_code::NORMAL
            };
            stats.code.get_or_insert(code);
            let frame = CloseFrame {
                code: code.into(),
                reason: Default::default(),
            };
            let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, stream.close(Some(frame))).await;
            true
        }
        State::Closing => true,
        State::ClosedByPeer => {
            // Sends the answer tungstenite queued.
            let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, stream.flush()).await;
            false
        }
        State::Closed => false,
    };
    if awaits_answer {
        let _ = tokio::time::timeout(CLOSE_ANSWER_TIMEOUT, answer(&mut stream)).await;
    }
    end(stream, stats.failed).await;
    stats
}

/// Reads (and drops) what the client still sends until its close.
async fn answer(stream: &mut Stream) {
    while let Some(Ok(_)) = stream.next().await {}
}

/// Closes the connection, the server first (RFC 6455 §7.1.1). After a
/// failure the client's unread frames are drained for a moment: closing a
/// socket with unread bytes resets it, and a reset can overtake the close
/// frame just sent.
async fn end(mut stream: Stream, failed: bool) {
    let io = stream.get_mut();
    let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, io.shutdown()).await;
    if failed {
        let drain = async {
            let mut scratch = [0u8; 4096];
            while let Ok(1..) = io.read(&mut scratch).await {}
        };
        let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, drain).await;
    }
}
