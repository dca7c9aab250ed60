//! The socket a WebSocket function is given: send and receive messages,
//! with keep-alive, limits and the close handshake.
//!
//! The connection and its state live in an [`Io`] the socket shares with
//! its session (`session.rs`) behind an async lock: the socket takes it for
//! each `send`, `recv` and `close`, and while the function does something
//! else the session takes it to ping a silent client or to close the
//! socket for a shutdown.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::sync::{oneshot, Mutex};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::{self, error::ProtocolError};
use tokio_tungstenite::WebSocketStream;

use super::{close_code, Message, Utf8Bytes, WebSocketError};
use crate::connection::Connection;

/// The upgraded connection as tungstenite frames it.
pub(crate) type Stream = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Where the socket is in its life (RFC 6455 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Messages flow both ways.
    Open,
    /// The server sent a close and waits for the client's.
    Closing,
    /// The client sent a close; the server's answer is queued.
    ClosedByPeer,
    /// The handshake is done, or the server failed the connection (after a
    /// protocol error, with its close sent), or the connection is gone.
    Closed,
}

/// What the socket has done, for the access line.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    /// The close code sent or received first.
    pub(crate) code: Option<u16>,
    /// The server failed the connection (its close needs no answer).
    pub(crate) failed: bool,
}

/// The connection and everything known about it, shared by the socket
/// and its session (see the module docs).
pub(crate) struct Io {
    pub(crate) stream: Stream,
    pub(crate) state: State,
    pub(crate) stats: Stats,
    keep_alive: Option<KeepAlive>,
    max_message: usize,
}

/// [`Io`] behind the lock the socket and its session share.
pub(crate) type SharedIo = Arc<Mutex<Io>>;

/// Keep-alive: ping after half the idle timeout of silence, close after
/// all of it.
struct KeepAlive {
    idle_timeout: Duration,
    /// Boxed so the socket stays `Unpin`; re-armed only when it fires
    /// (receiving a message just moves `last_seen`).
    timer: Pin<Box<Sleep>>,
    last_seen: Instant,
    pinged: bool,
    /// Closed for idleness; the next tick ends the wait for the answer.
    gave_up: bool,
}

/// What happened while waiting in `recv`.
enum Event {
    Frame(Option<Result<tungstenite::Message, tungstenite::Error>>),
    Tick,
    Shutdown,
}

/// An accepted WebSocket: [`recv`](Self::recv) and [`send`](Self::send)
/// messages. Given to the function passed to
/// [`on_upgrade`](super::WebSocketUpgrade::on_upgrade); when that function
/// returns (and the socket is dropped) the server closes the socket with
/// `1000` if it is still open.
///
/// ```
/// use wsgi_core::websocket::{close_code, Message, WebSocket};
///
/// async fn chat(mut socket: WebSocket) {
///     socket.send(Message::text("welcome")).await.ok();
///     while let Some(Ok(message)) = socket.recv().await {
///         match message {
///             Message::Text(text) if text.as_str() == "bye" => {
///                 socket.close(close_code::NORMAL, "bye").await.ok();
///             }
///             Message::Text(text) => {
///                 socket.send(Message::text(format!("you said {text}"))).await.ok();
///             }
///             _ => {}
///         }
///     }
/// }
/// # let _ = chat;
/// ```
pub struct WebSocket {
    io: SharedIo,
    protocol: Option<String>,
    connection: Option<Connection>,
    /// Dropped with the socket: tells the session the function is done
    /// with it (possibly later than the function's end, if it moved the
    /// socket elsewhere).
    _dropped: oneshot::Sender<()>,
}

impl Io {
    pub(crate) fn new(stream: Stream, idle_timeout: Option<Duration>, max_message: usize) -> Self {
        let keep_alive = idle_timeout.map(|idle_timeout| {
            let now = Instant::now();
            KeepAlive {
                idle_timeout,
                timer: Box::pin(tokio::time::sleep_until(now + idle_timeout / 2)),
                last_seen: now,
                pinged: false,
                gave_up: false,
            }
        });
        Io {
            stream,
            state: State::Open,
            stats: Stats::default(),
            keep_alive,
            max_message,
        }
    }
}

impl WebSocket {
    pub(crate) fn new(
        io: SharedIo,
        protocol: Option<String>,
        connection: Option<Connection>,
        dropped: oneshot::Sender<()>,
    ) -> Self {
        WebSocket {
            io,
            protocol,
            connection,
            _dropped: dropped,
        }
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// `pulsar.connection`: the connection this socket was upgraded from
    /// (`None` outside the server).
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// Whether messages can still be sent (as far as is known: a close
    /// the server is sending at this moment, for a shutdown, shows once
    /// it is sent).
    pub fn is_open(&self) -> bool {
        self.io
            .try_lock()
            .map_or(true, |io| io.state == State::Open)
    }

    /// The next message, or `None` once the socket is closed.
    ///
    /// Pings are answered by themselves (and also returned); a close from
    /// the client is answered and returned as [`Message::Close`], and the
    /// next call returns `None`. A protocol violation or a message over
    /// the limit closes the socket (`1002`, `1007`, `1009`) and is returned
    /// once as [`WebSocketError::Failed`]. While waiting, the socket is
    /// kept alive (pinged) and closed when idle for too long or when the
    /// server shuts down (`1001`, then the client's close is returned).
    pub async fn recv(&mut self) -> Option<Result<Message, WebSocketError>> {
        self.io.lock().await.recv(self.connection.as_ref()).await
    }

    /// Sends a message, waiting until the connection has taken it
    /// (backpressure). Text and binary messages over
    /// `websocket_max_message` are refused. Once the server has begun to
    /// shut down, the socket is closed with `1001` instead (even while the
    /// function never waits in [`recv`](Self::recv)) and this returns
    /// [`WebSocketError::Closed`].
    pub async fn send(&mut self, message: Message) -> Result<(), WebSocketError> {
        let mut io = self.io.lock().await;
        if let Some(connection) = &self.connection {
            if connection.is_closing() && io.state == State::Open {
                let _ = io.close(close_code::AWAY, "server shutting down").await;
            }
        }
        io.send(message).await
    }

    /// Starts the close handshake with `code` and `reason` (cut to the 123
    /// bytes a close frame holds). Keep calling [`recv`](Self::recv) to
    /// read the client's answer (it returns `Message::Close`, then `None`),
    /// or return: the server then waits for the answer itself.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), WebSocketError> {
        self.io.lock().await.close(code, reason).await
    }
}

impl Io {
    /// [`WebSocket::recv`].
    async fn recv(
        &mut self,
        connection: Option<&Connection>,
    ) -> Option<Result<Message, WebSocketError>> {
        loop {
            if self.state == State::Closed {
                return None;
            }
            let stream = &mut self.stream;
            // Only an open socket reacts to a shutdown: a closing one is
            // already waiting for its answer.
            let shutdown = connection.filter(|_| self.state == State::Open);
            let event = tokio::select! {
                biased;
                frame = stream.next() => Event::Frame(frame),
                () = tick(&mut self.keep_alive) => Event::Tick,
                () = closing(shutdown) => Event::Shutdown,
            };
            match event {
                Event::Frame(Some(Ok(message))) => {
                    if let Some(keep_alive) = &mut self.keep_alive {
                        keep_alive.last_seen = Instant::now();
                        keep_alive.pinged = false;
                    }
                    let Some(message) = Message::from_tungstenite(message) else {
                        continue;
                    };
                    match &message {
                        Message::Text(_) | Message::Binary(_) => {
                            self.stats.bytes_in += message.len() as u64;
                        }
                        Message::Close(frame) => {
                            let code = frame.as_ref().map_or(close_code::NORMAL, |f| f.code);
                            self.stats.code.get_or_insert(code);
                            self.state = match self.state {
                                State::Open => State::ClosedByPeer,
                                _ => State::Closed,
                            };
                        }
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                    return Some(Ok(message));
                }
                Event::Frame(None) => {
                    self.state = State::Closed;
                    return None;
                }
                Event::Frame(Some(Err(error))) => return self.read_failed(error).await,
                Event::Tick => {
                    if let Err(error) = self.keep_alive_tick().await {
                        return Some(Err(error));
                    }
                }
                Event::Shutdown => {
                    // The client's close (or the shutdown timeout) ends it.
                    let _ = self.close(close_code::AWAY, "server shutting down").await;
                }
            }
        }
    }

    /// [`WebSocket::send`], the shutdown aside.
    async fn send(&mut self, message: Message) -> Result<(), WebSocketError> {
        if let Message::Close(frame) = message {
            let (code, reason) = frame.map_or((close_code::NORMAL, Utf8Bytes::default()), |f| {
                (f.code, f.reason)
            });
            return self.close_with(code, reason).await;
        }
        if self.state != State::Open {
            return Err(WebSocketError::Closed);
        }
        let size = message.len();
        if size > self.max_message {
            return Err(WebSocketError::TooLarge {
                size,
                max: self.max_message,
            });
        }
        let data = matches!(message, Message::Text(_) | Message::Binary(_));
        match self.stream.send(message.into_tungstenite()).await {
            Ok(()) => {
                if data {
                    self.stats.bytes_out += size as u64;
                }
                Ok(())
            }
            Err(error) => Err(self.write_failed(error)),
        }
    }

    /// [`WebSocket::close`].
    pub(crate) async fn close(&mut self, code: u16, reason: &str) -> Result<(), WebSocketError> {
        let reason = truncate_utf8(reason, 123).to_owned();
        self.close_with(code, reason.into()).await
    }

    async fn close_with(&mut self, code: u16, reason: Utf8Bytes) -> Result<(), WebSocketError> {
        let next = match self.state {
            State::Open => State::Closing,
            // Answering the client's close: tungstenite already queued the
            // answer (with the client's code), so only flush it.
            State::ClosedByPeer => State::Closed,
            State::Closing | State::Closed => return Err(WebSocketError::Closed),
        };
        self.state = next;
        self.stats.code.get_or_insert(code);
        let stream = &mut self.stream;
        let frame = tungstenite::protocol::CloseFrame {
            code: code.into(),
            reason: reason.0,
        };
        let sent = if next == State::Closing {
            stream.close(Some(frame)).await
        } else {
            stream.flush().await
        };
        match sent {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed) => Ok(()),
            Err(error) => Err(self.write_failed(error)),
        }
    }

    /// A silent socket is pinged, then closed.
    async fn keep_alive_tick(&mut self) -> Result<(), WebSocketError> {
        let Some(keep_alive) = &mut self.keep_alive else {
            return Ok(());
        };
        let now = Instant::now();
        let idle_deadline = keep_alive.last_seen + keep_alive.idle_timeout;
        if now >= idle_deadline || keep_alive.gave_up {
            if keep_alive.gave_up {
                // No answer to the close either.
                self.state = State::Closed;
                return Ok(());
            }
            keep_alive.gave_up = true;
            keep_alive.timer.as_mut().reset(now + CLOSE_ANSWER_TIMEOUT);
            tracing::debug!("closing an idle WebSocket");
            return match self.close(close_code::AWAY, "idle timeout").await {
                Err(WebSocketError::Closed) => {
                    self.state = State::Closed;
                    Ok(())
                }
                other => other,
            };
        }
        let ping_at = keep_alive.last_seen + keep_alive.idle_timeout / 2;
        if now < ping_at {
            keep_alive.timer.as_mut().reset(ping_at);
            return Ok(());
        }
        keep_alive.timer.as_mut().reset(idle_deadline);
        let first = !std::mem::replace(&mut keep_alive.pinged, true);
        if first && self.state == State::Open {
            if let Err(error) = self
                .stream
                .send(tungstenite::Message::Ping(Default::default()))
                .await
            {
                return Err(self.write_failed(error));
            }
        }
        Ok(())
    }

    /// Pings the client if it has been silent for half the idle timeout
    /// and is not pinged yet: for the session, while the function does
    /// something else than `recv` (which keeps the socket alive itself).
    /// The idle close stays `recv`'s: only reading sees the answer.
    pub(crate) async fn ping_if_due(&mut self) {
        let Some(keep_alive) = &mut self.keep_alive else {
            return;
        };
        let due = keep_alive.last_seen + keep_alive.idle_timeout / 2;
        if self.state != State::Open || keep_alive.pinged || Instant::now() < due {
            return;
        }
        keep_alive.pinged = true;
        let ping = self
            .stream
            .send(tungstenite::Message::Ping(Default::default()));
        // Bounded: the lock is held meanwhile, and a client that does not
        // read would hold it forever.
        if let Ok(Err(error)) = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, ping).await {
            let _ = self.write_failed(error);
        }
    }

    /// When the session should next look whether a ping is due (`None`
    /// without keep-alive).
    pub(crate) fn next_ping_check(&self) -> Option<Instant> {
        let keep_alive = self.keep_alive.as_ref()?;
        Some(if keep_alive.pinged {
            // Pinged: nothing to do until the client speaks again.
            Instant::now() + keep_alive.idle_timeout / 2
        } else {
            keep_alive.last_seen + keep_alive.idle_timeout / 2
        })
    }

    /// Maps a read error: a violation fails the connection with its close
    /// code (returned once); the end of the connection ends the stream.
    async fn read_failed(
        &mut self,
        error: tungstenite::Error,
    ) -> Option<Result<Message, WebSocketError>> {
        use tungstenite::Error as E;
        let (code, reason) = match error {
            E::ConnectionClosed | E::AlreadyClosed => {
                self.state = State::Closed;
                return None;
            }
            E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                self.stats.code.get_or_insert(close_code::ABNORMAL);
                self.state = State::Closed;
                return None;
            }
            E::Io(e) => {
                self.stats.code.get_or_insert(close_code::ABNORMAL);
                self.state = State::Closed;
                return Some(Err(WebSocketError::Io(e)));
            }
            E::Capacity(e) => (close_code::SIZE, e.to_string()),
            E::Utf8(_) => (close_code::INVALID, "invalid UTF-8".to_owned()),
            E::Protocol(ProtocolError::InvalidCloseSequence) => {
                (close_code::PROTOCOL, "invalid close frame".to_owned())
            }
            other => (close_code::PROTOCOL, other.to_string()),
        };
        tracing::debug!(code, reason = %reason, "failing a WebSocket connection");
        self.stats.code.get_or_insert(code);
        self.stats.failed = true;
        let frame = tungstenite::protocol::CloseFrame {
            code: code.into(),
            reason: tungstenite::Utf8Bytes::from(truncate_utf8(&reason, 123).to_owned()),
        };
        // Bounded: a client that broke the protocol may not read either.
        let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, self.stream.close(Some(frame))).await;
        self.state = State::Closed;
        Some(Err(WebSocketError::Failed { code, reason }))
    }

    fn write_failed(&mut self, error: tungstenite::Error) -> WebSocketError {
        use tungstenite::Error as E;
        match error {
            E::Io(e) => {
                self.stats.code.get_or_insert(close_code::ABNORMAL);
                self.state = State::Closed;
                WebSocketError::Io(e)
            }
            E::Capacity(_) => WebSocketError::TooLarge {
                size: 0,
                max: self.max_message,
            },
            _ => WebSocketError::Closed,
        }
    }
}

/// How long a close waits for the client's answer.
pub(crate) const CLOSE_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long failing a connection may wait to write its close frame.
pub(crate) const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Resolves when the keep-alive timer fires (never without keep-alive).
async fn tick(keep_alive: &mut Option<KeepAlive>) {
    match keep_alive {
        Some(keep_alive) => keep_alive.timer.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the server begins to shut down the connection (never
/// without one).
async fn closing(connection: Option<&Connection>) {
    match connection {
        Some(connection) => connection.closing().await,
        None => std::future::pending().await,
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("open", &self.is_open())
            .field("protocol", &self.protocol)
            .field("connection", &self.connection.as_ref().map(Connection::id))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_utf8;

    #[test]
    fn reasons_are_cut_on_a_character_boundary() {
        assert_eq!(truncate_utf8("abc", 123), "abc");
        assert_eq!(truncate_utf8("ééé", 3), "é");
        assert_eq!(truncate_utf8("ééé", 4), "éé");
    }
}
