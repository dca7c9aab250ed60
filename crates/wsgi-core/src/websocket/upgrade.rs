//! The handshake: [`WebSocketUpgrade`] checks the request, and
//! [`on_upgrade`](WebSocketUpgrade::on_upgrade) answers it with `101`.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Method, StatusCode, Version};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::session::Session;
use super::WebSocket;
use crate::connection::Connection;
use crate::environ::Environ;
use crate::error::HttpError;
use crate::extract::{FromEnviron, Rejection};
use crate::response::WsgiResponse;

/// Which pages may open the socket, by their `Origin`.
#[derive(Debug, Clone)]
enum OriginPolicy {
    /// The page's origin is the server's own (`Origin` matches `Host`);
    /// requests without `Origin` (not from a browser) are accepted.
    SameOrigin,
    /// One of these origins (`https://example.com`), or no `Origin`.
    Listed(Vec<String>),
    /// Any page.
    Any,
}

/// A request to open a WebSocket, checked: an [extractor](crate::extract).
/// See the [module docs](super) for the rules and an example.
///
/// Extracting it refuses a request that is not a WebSocket handshake. Over
/// HTTP/1.1: `405` for a method other than `GET`, `400` for a missing
/// `Upgrade: websocket`, `Connection: upgrade` or valid
/// `Sec-WebSocket-Key`. Over HTTP/2 (RFC 8441): `400` for anything but an
/// extended `CONNECT` with `:protocol websocket`. HTTP/1.0: `400`. Both:
/// `426` (with `Sec-WebSocket-Version: 13`) for another protocol version.
/// [`on_upgrade`](Self::on_upgrade) answers.
pub struct WebSocketUpgrade {
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    /// `Sec-WebSocket-Accept` for an HTTP/1.1 upgrade; `None` for an
    /// HTTP/2 extended CONNECT, which is answered `200` without it.
    accept: Option<HeaderValue>,
    origin: Option<HeaderValue>,
    host: Option<HeaderValue>,
    /// The client's `Sec-WebSocket-Protocol` list.
    offered: Vec<String>,
    /// The server's, in its order of preference.
    protocols: Vec<String>,
    policy: OriginPolicy,
    max_message: usize,
    idle_timeout: Option<Duration>,
    connection: Option<Connection>,
    path: String,
}

impl FromEnviron for WebSocketUpgrade {
    type Rejection = Rejection;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Rejection> {
        WebSocketUpgrade::new(environ)
    }
}

/// Whether a comma-separated header (every occurrence) lists `token`.
fn lists_token(environ: &Environ, name: header::HeaderName, token: &str) -> bool {
    environ.headers().get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// The `:protocol` of an HTTP/2 extended CONNECT (RFC 8441), if the
/// request is one: hyper gives it as an extension.
fn extended_connect_protocol(environ: &Environ) -> Option<&[u8]> {
    if environ.method() != Method::CONNECT {
        return None;
    }
    environ
        .extensions()
        .get::<hyper::ext::Protocol>()
        .map(AsRef::as_ref)
}

/// RFC 6455 §4.1 over HTTP/1.1: `GET` with `Upgrade: websocket`,
/// `Connection: upgrade`, version 13 and a key; returns the
/// `Sec-WebSocket-Accept` the key asks for.
fn check_upgrade_request(environ: &Environ) -> Result<HeaderValue, Rejection> {
    if environ.method() != Method::GET {
        return Err(HttpError::method_not_allowed(&[Method::GET]).with_message(
            "a WebSocket is opened with GET (RFC 6455 §4.1); this endpoint takes nothing else",
        ));
    }
    if environ.version() != Version::HTTP_11 {
        return Err(HttpError::bad_request(
            "a WebSocket handshake needs HTTP/1.1 or HTTP/2 (an HTTP/1.0 request cannot be upgraded)",
        ));
    }
    if !lists_token(environ, header::UPGRADE, "websocket")
        || !lists_token(environ, header::CONNECTION, "upgrade")
    {
        return Err(HttpError::bad_request(
            "this endpoint is a WebSocket: send `Upgrade: websocket` and `Connection: upgrade`",
        ));
    }
    check_version(environ)?;
    let key = environ
        .header(header::SEC_WEBSOCKET_KEY)
        .filter(|key| valid_key(key.as_bytes()))
        .ok_or_else(|| {
            HttpError::bad_request(
                "`Sec-WebSocket-Key` must be 16 random bytes in base64 (RFC 6455 §4.1)",
            )
        })?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR))
}

/// RFC 8441 over HTTP/2: an extended CONNECT (`:method CONNECT`,
/// `:protocol websocket`) with version 13; no key, no `Upgrade`.
fn check_extended_connect(environ: &Environ) -> Result<(), Rejection> {
    match extended_connect_protocol(environ) {
        Some(protocol) if protocol.eq_ignore_ascii_case(b"websocket") => {}
        Some(protocol) => {
            return Err(HttpError::bad_request(format!(
                "this endpoint is a WebSocket: the extended CONNECT's `:protocol` must be `websocket`, not `{}`",
                String::from_utf8_lossy(protocol)
            )));
        }
        None => {
            return Err(HttpError::bad_request(
                "over HTTP/2 a WebSocket is opened with an extended CONNECT (RFC 8441): `:method CONNECT` and `:protocol websocket`",
            ));
        }
    }
    check_version(environ)
}

/// `Sec-WebSocket-Version: 13`, in both handshakes.
fn check_version(environ: &Environ) -> Result<(), Rejection> {
    if environ
        .header(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(HttpError::new(StatusCode::UPGRADE_REQUIRED)
            .with_message(
                "only WebSocket version 13 is supported: send `Sec-WebSocket-Version: 13`",
            )
            .with_header(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            ));
    }
    Ok(())
}

impl WebSocketUpgrade {
    /// Checks the handshake of the request in `environ`: what extracting
    /// it does, for handlers in the WSGI form (`(environ, start_response)`).
    pub fn new(environ: &mut Environ) -> Result<Self, Rejection> {
        let accept = if environ.version() == Version::HTTP_2 {
            check_extended_connect(environ)?;
            None
        } else {
            Some(check_upgrade_request(environ)?)
        };
        let on_upgrade = environ
            .extensions_mut()
            .remove::<hyper::upgrade::OnUpgrade>();
        let offered = environ
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        let config = environ.config();
        Ok(WebSocketUpgrade {
            on_upgrade,
            accept,
            origin: environ.header(header::ORIGIN).cloned(),
            // HTTP/2 carries the host as `:authority`, not `Host`.
            host: environ.header(header::HOST).cloned().or_else(|| {
                environ
                    .uri()
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            }),
            offered,
            protocols: Vec::new(),
            policy: OriginPolicy::SameOrigin,
            max_message: config.websocket_max_message,
            idle_timeout: (!config.websocket_idle_timeout.is_zero())
                .then_some(config.websocket_idle_timeout),
            connection: environ.connection().cloned(),
            path: environ.uri().path().to_owned(),
        })
    }

    /// The subprotocols this endpoint speaks, by preference: the first the
    /// client also offers is agreed (`Sec-WebSocket-Protocol`, then
    /// [`WebSocket::protocol`]). None agreed, the handshake goes on without
    /// one (the client decides whether to stay).
    pub fn protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The subprotocols the client offered.
    pub fn offered_protocols(&self) -> &[String] {
        &self.offered
    }

    /// Accepts pages from these origins (`https://example.com`, compared
    /// without regard to case) besides requests without `Origin`, instead
    /// of the default same-origin rule.
    pub fn allowed_origins<I, O>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<String>,
    {
        self.policy = OriginPolicy::Listed(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Accepts pages from any origin. Only for sockets that need no
    /// cookie or other ambient credential: any site could open them in its
    /// visitors' browsers.
    pub fn any_origin(mut self) -> Self {
        self.policy = OriginPolicy::Any;
        self
    }

    /// The largest message (and frame) accepted, in bytes, instead of the
    /// `websocket_max_message` setting; larger closes the socket with
    /// `1009`.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// The keep-alive's idle timeout instead of `websocket_idle_timeout`
    /// (`None` disables pings and the timeout).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// Accepts the socket: the `101 Switching Protocols` response (over
    /// HTTP/2, the `200` that opens the extended `CONNECT`'s stream). Once
    /// it is sent, `function` runs with the socket on the same connection.
    /// A page from another origin than the policy allows gets `403`
    /// instead (and `function` never runs); so does a request that reached
    /// a server unable to switch protocols (`500`).
    pub fn on_upgrade<F, Fut>(self, function: F) -> WsgiResponse
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if let Some(refused) = self.refused_origin() {
            return refused;
        }
        let Some(on_upgrade) = self.on_upgrade else {
            return WsgiResponse::text(
                "This server cannot switch protocols: serve the application with wsgi-core's server, or with hyper's `with_upgrades()`.\n",
            )
            .with_status(StatusCode::INTERNAL_SERVER_ERROR);
        };
        let protocol = self
            .protocols
            .iter()
            .find(|p| self.offered.iter().any(|o| o == *p))
            .cloned();
        let mut response = match self.accept {
            // RFC 6455: `101`, and the key's answer.
            Some(accept) => {
                let mut response =
                    WsgiResponse::switching_protocols(HeaderValue::from_static("websocket"));
                response
                    .headers_mut()
                    .insert(header::SEC_WEBSOCKET_ACCEPT, accept);
                response
            }
            // RFC 8441: a `200` to the CONNECT opens the stream.
            None => WsgiResponse::new(StatusCode::OK),
        };
        if let Some(value) = protocol
            .as_deref()
            .and_then(|p| HeaderValue::from_str(p).ok())
        {
            response
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        let max_message = self.max_message;
        let config = WebSocketConfig::default()
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message))
            // Allocated up front for every socket (see `READ_BUFFER`);
            // large messages grow it as they come.
            .read_buffer_size(READ_BUFFER)
            // Sent at once: `send` means "on the wire", not "queued".
            .write_buffer_size(0);
        Session {
            on_upgrade,
            config,
            idle_timeout: self.idle_timeout,
            max_message,
            protocol,
            connection: self.connection,
            path: self.path,
        }
        .start(function);
        response
    }

    /// The `403` for a page whose origin the policy refuses.
    fn refused_origin(&self) -> Option<WsgiResponse> {
        let origin = self.origin.as_ref()?.to_str().unwrap_or("");
        let allowed = match &self.policy {
            OriginPolicy::Any => true,
            OriginPolicy::Listed(origins) => origins.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            OriginPolicy::SameOrigin => self
                .host
                .as_ref()
                .and_then(|host| host.to_str().ok())
                .is_some_and(|host| same_origin(origin, host)),
        };
        (!allowed).then(|| {
            WsgiResponse::text(format!(
                "Forbidden: a page from origin `{origin}` may not open this WebSocket (allow it with `allowed_origins`)\n"
            ))
            .with_status(StatusCode::FORBIDDEN)
        })
    }
}

/// Per-socket read buffer: tungstenite allocates it when the socket opens.
/// 32 KiB: 42 KiB of server memory per open socket (the 1,000-socket
/// test); 8 KiB saved 24 KiB of that but made 64 KiB echoes slower than
/// axum's (`benchmarks/websocket.sh`), 64 KiB cost 74 KiB per socket.
const READ_BUFFER: usize = 32 * 1024;

/// Whether `origin` (`scheme://host[:port]`) names the same host and port
/// as the request's `Host`, default ports included or not.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => return false,
    };
    let strip = |a: &str| {
        a.strip_suffix(default_port)
            .map(str::to_owned)
            .unwrap_or_else(|| a.to_owned())
    };
    strip(authority).eq_ignore_ascii_case(&strip(host))
}

/// `Sec-WebSocket-Key`: 16 bytes in base64, 24 characters with padding.
fn valid_key(key: &[u8]) -> bool {
    use base64::Engine;
    key.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_ok_and(|bytes| bytes.len() == 16)
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("path", &self.path)
            .field("offered", &self.offered)
            .field("protocols", &self.protocols)
            .field("policy", &self.policy)
            .field("max_message", &self.max_message)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::{same_origin, valid_key};

    #[test]
    fn origins_match_their_host_with_or_without_the_default_port() {
        assert!(same_origin("http://example.com", "example.com"));
        assert!(same_origin("http://Example.com:80", "example.com"));
        assert!(same_origin("https://example.com", "example.com:443"));
        assert!(same_origin("http://127.0.0.1:8060", "127.0.0.1:8060"));
        assert!(!same_origin("http://evil.example", "example.com"));
        assert!(!same_origin("http://example.com:8080", "example.com"));
        assert!(!same_origin("null", "example.com"));
    }

    #[test]
    fn keys_are_sixteen_bytes_of_base64() {
        assert!(valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!valid_key(b"not base64 at all!!!!!!!"));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZXg="));
    }
}
