//! pulsar's shape on top of the socket: a [`WebSocketHandler`] whose
//! `on_open`, `on_message`, `on_bytes` and `on_close` the server calls, as
//! pulsar's `ws.WS` class is called.

use std::future::Future;

use super::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use crate::response::WsgiResponse;

/// Callbacks for one socket's life, in the shape of pulsar's `ws.WS`: the
/// server calls [`on_open`](Self::on_open) once the socket is open,
/// [`on_message`](Self::on_message) for each text message,
/// [`on_bytes`](Self::on_bytes) for each binary one, and
/// [`on_close`](Self::on_close) once it is closed. Each callback gets the
/// socket, to send with (and to [`close`](WebSocket::close) it). Serve one
/// with [`WebSocketUpgrade::serve`]; a handler value serves one socket, so
/// it may keep that socket's state in `self`.
///
/// Pings are answered by the server, and the keep-alive, limits and close
/// handshake are the socket's ([the module docs](super)). The callbacks
/// run one at a time, in the socket's task: the next message is read once
/// the current callback returns (backpressure).
///
/// ```
/// use wsgi_core::websocket::{Utf8Bytes, WebSocket, WebSocketHandler, WebSocketUpgrade, Message};
/// use wsgi_core::router::Router;
/// use wsgi_core::{wsgi_handler, WsgiResponse};
///
/// /// Echoes text back, numbered.
/// #[derive(Default)]
/// struct Numbered {
///     count: u64,
/// }
///
/// impl WebSocketHandler for Numbered {
///     async fn on_open(&mut self, socket: &mut WebSocket) {
///         let _ = socket.send(Message::text("welcome")).await;
///     }
///
///     async fn on_message(&mut self, socket: &mut WebSocket, text: Utf8Bytes) {
///         self.count += 1;
///         let _ = socket.send(Message::text(format!("{}: {text}", self.count))).await;
///     }
/// }
///
/// #[wsgi_handler]
/// fn echo(upgrade: WebSocketUpgrade) -> WsgiResponse {
///     upgrade.serve(Numbered::default())
/// }
///
/// let app = Router::new().get("/echo", Echo);
/// # let _ = app;
/// ```
pub trait WebSocketHandler: Send + 'static {
    /// The socket is open (the handshake's response went out). Does
    /// nothing unless implemented.
    fn on_open(&mut self, socket: &mut WebSocket) -> impl Future<Output = ()> + Send {
        let _ = socket;
        async {}
    }

    /// A text message arrived.
    fn on_message(
        &mut self,
        socket: &mut WebSocket,
        text: Utf8Bytes,
    ) -> impl Future<Output = ()> + Send;

    /// A binary message arrived. Ignored unless implemented.
    fn on_bytes(
        &mut self,
        socket: &mut WebSocket,
        bytes: bytes::Bytes,
    ) -> impl Future<Output = ()> + Send {
        let _ = (socket, bytes);
        async {}
    }

    /// The socket is closed: `frame` is the client's close frame (its
    /// answer, when the server closed first), `None` when the connection
    /// ended without one or the server failed it (a protocol violation or
    /// a limit). Nothing can be sent any more. Does nothing unless
    /// implemented.
    fn on_close(&mut self, frame: Option<CloseFrame>) -> impl Future<Output = ()> + Send {
        let _ = frame;
        async {}
    }
}

impl WebSocketUpgrade {
    /// Accepts the socket (as [`on_upgrade`](Self::on_upgrade) does) and
    /// serves it with `handler`'s callbacks.
    pub fn serve<H: WebSocketHandler>(self, handler: H) -> WsgiResponse {
        self.on_upgrade(move |socket| run(socket, handler))
    }
}

/// Reads the socket until it closes, calling `handler` on the way.
async fn run<H: WebSocketHandler>(mut socket: WebSocket, mut handler: H) {
    handler.on_open(&mut socket).await;
    let mut close = None;
    while let Some(received) = socket.recv().await {
        match received {
            Ok(Message::Text(text)) => handler.on_message(&mut socket, text).await,
            Ok(Message::Binary(bytes)) => handler.on_bytes(&mut socket, bytes).await,
            Ok(Message::Close(frame)) => close = frame,
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            // The socket failed and closed itself; `recv` ends next.
            Err(_) => {}
        }
    }
    handler.on_close(close).await;
}
