//! WebSocket (RFC 6455): accept an upgrade from a handler, then serve the
//! socket with an async function.
//!
//! A handler takes a [`WebSocketUpgrade`] (an [extractor](crate::extract),
//! so it works in a typed [`#[wsgi_handler]`](crate::wsgi_handler) and, through
//! [`FromEnviron`](crate::extract::FromEnviron), in any handler). Extracting it checks
//! the handshake (over HTTP/1.1: `GET`, `Upgrade: websocket`, `Connection:
//! upgrade`, `Sec-WebSocket-Version: 13`, a valid `Sec-WebSocket-Key`; over
//! HTTP/2, RFC 8441: an extended `CONNECT` with `:protocol websocket` and
//! `Sec-WebSocket-Version: 13`) and refuses anything else with a `400`
//! (`405` for another method over HTTP/1.1, `426` for another version)
//! that says what is missing. [`WebSocketUpgrade::on_upgrade`] then checks
//! the `Origin` (same origin unless told otherwise: a `403` otherwise),
//! picks a subprotocol, and returns the `101 Switching Protocols` (`200`
//! over HTTP/2) as a [`WsgiResponse`](crate::WsgiResponse): it goes out
//! through response middleware like any response, and once hyper has sent
//! it the server runs the function with a [`WebSocket`] on the same
//! connection (over HTTP/2, on the request's stream).
//!
//! ```
//! use wsgi_core::websocket::{Message, WebSocketUpgrade};
//! use wsgi_core::{wsgi_handler, WsgiResponse};
//! use wsgi_core::router::Router;
//!
//! /// Echoes every text and binary message back.
//! #[wsgi_handler]
//! fn echo(upgrade: WebSocketUpgrade) -> WsgiResponse {
//!     upgrade.on_upgrade(|mut socket| async move {
//!         while let Some(Ok(message)) = socket.recv().await {
//!             if let Message::Text(_) | Message::Binary(_) = message {
//!                 if socket.send(message).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         }
//!     })
//! }
//!
//! let app = Router::new().get("/ws", Echo);
//! # let _ = app;
//! ```
//!
//! A [`WebSocketHandler`] (`on_open`, `on_message`, `on_bytes`,
//! `on_close`: pulsar's `ws.WS` shape) can serve the socket instead of a
//! function, through [`WebSocketUpgrade::serve`].
//!
//! Only the WebSocket API can answer `101`: `start_response` keeps
//! refusing 1xx statuses and the `Upgrade` header from applications.
//!
//! # Limits and lifecycle
//! Message limits, close codes, keep-alive pings, backpressure, the close
//! handshake, shutdown and the access line are described once, in the
//! guide: [WebSocket and Server-Sent Events](crate::guide::websocket#limits-and-lifecycle).

mod handler;
mod session;
mod socket;
mod upgrade;

use std::fmt;

use tokio_tungstenite::tungstenite;

pub use handler::WebSocketHandler;
pub use socket::WebSocket;
pub use upgrade::WebSocketUpgrade;

/// A WebSocket message, received or to send.
///
/// ```
/// use wsgi_core::websocket::Message;
/// let message = Message::text("hello");
/// assert_eq!(message.as_text(), Some("hello"));
/// assert_eq!(Message::binary(vec![1, 2, 3]).len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(bytes::Bytes),
    /// A ping; the server answers it with a pong by itself.
    Ping(bytes::Bytes),
    /// A pong (an answer to the server's ping, or unsolicited).
    Pong(bytes::Bytes),
    /// The peer's close frame, if it gave one; the server answers it.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(bytes: impl Into<bytes::Bytes>) -> Self {
        Message::Binary(bytes.into())
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Message::Text(text) => text.as_str().len(),
            Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
            Message::Close(frame) => frame.as_ref().map_or(0, |f| 2 + f.reason.as_str().len()),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn into_tungstenite(self) -> tungstenite::Message {
        match self {
            Message::Text(text) => tungstenite::Message::Text(text.0),
            Message::Binary(bytes) => tungstenite::Message::Binary(bytes),
            Message::Ping(bytes) => tungstenite::Message::Ping(bytes),
            Message::Pong(bytes) => tungstenite::Message::Pong(bytes),
            Message::Close(frame) => {
                tungstenite::Message::Close(frame.map(|f| tungstenite::protocol::CloseFrame {
                    code: f.code.into(),
                    reason: f.reason.0,
                }))
            }
        }
    }

    /// `None` for a raw frame, which tungstenite never returns when reading.
    pub(crate) fn from_tungstenite(message: tungstenite::Message) -> Option<Self> {
        Some(match message {
            tungstenite::Message::Text(text) => Message::Text(Utf8Bytes(text)),
            tungstenite::Message::Binary(bytes) => Message::Binary(bytes),
            tungstenite::Message::Ping(bytes) => Message::Ping(bytes),
            tungstenite::Message::Pong(bytes) => Message::Pong(bytes),
            tungstenite::Message::Close(frame) => Message::Close(frame.map(|f| CloseFrame {
                code: f.code.into(),
                reason: Utf8Bytes(f.reason),
            })),
            tungstenite::Message::Frame(_) => return None,
        })
    }
}

/// UTF-8 text shared without copying (a text message's payload).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Utf8Bytes(tungstenite::Utf8Bytes);

impl Utf8Bytes {
    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Utf8Bytes(text.into())
    }
}

impl From<&'static str> for Utf8Bytes {
    fn from(text: &'static str) -> Self {
        Utf8Bytes(tungstenite::Utf8Bytes::from_static(text))
    }
}

/// A close frame: a [close code](close_code) and a reason (at most 123
/// bytes of UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The close code (see [`close_code`]).
    pub code: u16,
    /// Why, for people.
    pub reason: Utf8Bytes,
}

/// The close codes of RFC 6455 §7.4.1 the server uses.
pub mod close_code {
    /// The purpose of the socket is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutting down), or the socket was idle
    /// for too long.
    pub const AWAY: u16 = 1001;
    /// The peer broke the protocol.
    pub const PROTOCOL: u16 = 1002;
    /// A message of a type the endpoint cannot accept.
    pub const UNSUPPORTED: u16 = 1003;
    /// No close frame: the connection ended without one (never sent).
    pub const ABNORMAL: u16 = 1006;
    /// A text message or close reason that is not UTF-8.
    pub const INVALID: u16 = 1007;
    /// A message that violates the endpoint's policy.
    pub const POLICY: u16 = 1008;
    /// A message too big to process (`websocket_max_message`).
    pub const SIZE: u16 = 1009;
    /// The server failed (the socket's function panicked).
    pub const ERROR: u16 = 1011;
}

/// Why a socket operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebSocketError {
    /// The socket is closed: the close handshake was done, the connection
    /// ended, or a close was already sent (nothing more can be sent).
    Closed,
    /// The peer broke the protocol or a limit; the server closed the
    /// socket with `code`.
    Failed {
        /// The close code sent (`1002`, `1007` or `1009`).
        code: u16,
        /// What was wrong.
        reason: String,
    },
    /// A message to send is larger than `websocket_max_message`.
    TooLarge {
        /// The message's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The connection failed (reset, broken pipe).
    Io(std::io::Error),
}

impl fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebSocketError::Closed => f.write_str(
                "the WebSocket is closed; stop sending once `recv` returns None or a close was sent",
            ),
            WebSocketError::Failed { code, reason } => write!(
                f,
                "the client broke the WebSocket protocol ({reason}); the socket was closed with code {code}"
            ),
            WebSocketError::TooLarge { size, max } => write!(
                f,
                "a {size}-byte WebSocket message is over the {max}-byte limit; send it in smaller messages or raise websocket_max_message"
            ),
            WebSocketError::Io(e) => write!(f, "the WebSocket connection failed: {e}"),
        }
    }
}

impl std::error::Error for WebSocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebSocketError::Io(e) => Some(e),
            _ => None,
        }
    }
}
