//! The HTTP server: hyper 1.x and tokio running an [`Application`](crate::Application).
//!
//! [`Server`] binds every configured address (`bind`: `HOST:PORT` or
//! `unix:PATH`) and runs `workers` event loops, each on its own thread with
//! its own clone of the application (so state built lazily is built once per
//! worker). On Linux each worker has its own `SO_REUSEPORT` socket per TCP
//! address and the kernel spreads connections across them; elsewhere, and
//! for Unix sockets, the workers accept from one shared socket. Each
//! connection speaks HTTP/1.1 (keep-alive, pipelining) or HTTP/2 over
//! cleartext (h2c, prior knowledge), detected from its first bytes.
//!
//! - Limits: a client must send each request head within
//!   `header_read_timeout` of its first byte (of connecting, for the first
//!   request); an idle keep-alive connection closes after `http_keep_alive`
//!   (see `timeouts.rs`); a head larger than `max_header_size` or with more
//!   than `max_headers` headers gets 431; a body declared larger than
//!   `max_request_body` gets 413; an HTTP/1.1 request without `Host`, or any
//!   request with two or an invalid one, gets 400 (RFC 9112 §3.2).
//!   Malformed heads and framing (conflicting `Content-Length`,
//!   `Transfer-Encoding` other than a final `chunked`, bad chunk sizes) get
//!   400 from hyper, and the connection closes.
//! - `max_connections`: a worker serving that many connections stops
//!   accepting until one closes; new connections wait in the socket's
//!   `backlog`.
//! - `max_requests`: after that many requests a worker retires its clone
//!   of the application: its connections finish their requests in flight
//!   and close, while new connections are served by a fresh clone. No
//!   request is dropped.
//! - Headers: `Server` (from `server_software`) and `Date` on every response.
//! - Logging: one access line per response through `tracing` (target
//!   `wsgi::access`, level INFO, in the `access_log_format` template),
//!   written when the body ends.
//! - Hooks: pulsar's lifecycle callbacks, see [`Hooks`].
//! - Shutdown: on SIGINT or SIGTERM ([`Server::run`]) or
//!   [`ServerHandle::shutdown`], [`Connection::is_draining`](crate::connection::Connection::is_draining) turns true
//!   (readiness probes answer 503, see
//!   [`HealthCheck`](crate::middleware::HealthCheck)) and the server keeps
//!   serving for `shutdown_drain`. Then the listeners close (connections
//!   already waiting in their queues are accepted first, not reset) and
//!   in-flight requests run to completion for up to `shutdown_timeout`.
//!   HTTP/1 responses from then on carry `Connection: close`; a request
//!   that already reached an idle connection is served too, rather than
//!   dropped with a reset; an idle connection closes once it has been quiet
//!   for half a second (a proxy's pooled connection gets its next request
//!   the moment the last response ends). HTTP/2 connections get GOAWAY. A
//!   Unix socket's file is removed (unless it was inherited).
//! - Behind a proxy: `forwarded_allow_ips` says whose forwarding headers
//!   are believed (see [`forwarded`](crate::forwarded)); `proxy_protocol`
//!   expects a PROXY protocol header on every connection, before TLS if
//!   any (see `proxy_protocol.rs`: v1 and v2, the source address becomes
//!   `REMOTE_ADDR`; a connection without a valid header in
//!   `header_read_timeout` is closed unanswered).
//! - Socket activation: started with `LISTEN_FDS` (and `LISTEN_PID` equal
//!   to its pid), as systemd's `.socket` units do, the server serves the
//!   inherited listening sockets (descriptors 3, 4, ...; TCP or Unix,
//!   shared by all workers) instead of binding `bind`, and removes the two
//!   variables from its environment. `bind = ["fd://3", ...]` picks
//!   inherited sockets explicitly, and may mix them with addresses. The
//!   socket outlives the server, so connections arriving while it
//!   restarts wait in the backlog instead of being refused.
//!
//! ```no_run
//! use wsgi_core::server::Server;
//! use wsgi_core::{app_fn, Config, Environ, Error, StartResponse};
//!
//! fn main() -> Result<(), wsgi_core::server::ServerError> {
//!     let app = app_fn(|_: &mut Environ, start_response: StartResponse| {
//!         start_response.start("200 OK", [("Content-Type", "text/plain")])?;
//!         Ok::<_, Error>("Hello, World!")
//!     });
//!     Server::new(app).config(Config::from_args()).run()
//! }
//! ```

mod acceptor;
mod error;
mod generation;
mod handle;
mod hooks;
mod hyper_service;
mod hyper_settings;
mod listener;
mod logging;
mod protocol;
mod proxy_protocol;
mod serving;
mod signals;
mod start;
mod timeouts;
#[cfg(feature = "tls")]
mod tls;
mod worker;

pub use error::ServerError;
pub use handle::ServerHandle;
pub use hooks::{HookFuture, Hooks, RequestInfo, ResponseInfo};
pub use listener::BoundAddr;
pub use start::Server;
#[cfg(feature = "tls")]
pub use tls::TlsError;
