//! The socket a WebSocket function is given: send and receive messages,
//! with keep-alive, limits and the close handshake.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
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

/// What the socket hands back to its session when it is dropped, so the
/// session can finish the close handshake the function did not.
pub(crate) struct Parts {
    pub(crate) stream: Stream,
    pub(crate) state: State,
    pub(crate) stats: Stats,
}

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
    /// `None` only once dropped (handed back to the session).
    stream: Option<Stream>,
    state: State,
    stats: Stats,
    keep_alive: Option<KeepAlive>,
    max_message: usize,
    protocol: Option<String>,
    connection: Option<Connection>,
    back: Option<oneshot::Sender<Parts>>,
}

impl WebSocket {
    pub(crate) fn new(
        stream: Stream,
        idle_timeout: Option<Duration>,
        max_message: usize,
        protocol: Option<String>,
        connection: Option<Connection>,
        back: oneshot::Sender<Parts>,
    ) -> Self {
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
        WebSocket {
            stream: Some(stream),
            state: State::Open,
            stats: Stats::default(),
            keep_alive,
            max_message,
            protocol,
            connection,
            back: Some(back),
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

    /// Whether messages can still be sent.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
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
        loop {
            if self.state == State::Closed {
                return None;
            }
            let stream = self.stream.as_mut()?;
            // Only an open socket reacts to a shutdown: a closing one is
            // already waiting for its answer.
            let shutdown = self
                .connection
                .as_ref()
                .filter(|_| self.state == State::Open);
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

    /// Sends a message, waiting until the connection has taken it
    /// (backpressure). Text and binary messages over
    /// `websocket_max_message` are refused.
    pub async fn send(&mut self, message: Message) -> Result<(), WebSocketError> {
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
        let stream = self.stream.as_mut().ok_or(WebSocketError::Closed)?;
        match stream.send(message.into_tungstenite()).await {
            Ok(()) => {
                if data {
                    self.stats.bytes_out += size as u64;
                }
                Ok(())
            }
            Err(error) => Err(self.write_failed(error)),
        }
    }

    /// Starts the close handshake with `code` and `reason` (cut to the 123
    /// bytes a close frame holds). Keep calling [`recv`](Self::recv) to
    /// read the client's answer (it returns `Message::Close`, then `None`),
    /// or return: the server then waits for the answer itself.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), WebSocketError> {
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
        let stream = self.stream.as_mut().ok_or(WebSocketError::Closed)?;
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
            let stream = self.stream.as_mut().ok_or(WebSocketError::Closed)?;
            if let Err(error) = stream
                .send(tungstenite::Message::Ping(Default::default()))
                .await
            {
                return Err(self.write_failed(error));
            }
        }
        Ok(())
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
        if let Some(stream) = self.stream.as_mut() {
            let frame = tungstenite::protocol::CloseFrame {
                code: code.into(),
                reason: tungstenite::Utf8Bytes::from(truncate_utf8(&reason, 123).to_owned()),
            };
            // Bounded: a client that broke the protocol may not read either.
            let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, stream.close(Some(frame))).await;
        }
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

impl Drop for WebSocket {
    fn drop(&mut self) {
        if let (Some(stream), Some(back)) = (self.stream.take(), self.back.take()) {
            let _ = back.send(Parts {
                stream,
                state: self.state,
                stats: self.stats,
            });
        }
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("state", &self.state)
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
