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
//! - Logging: one access line per response (target `wsgi::access`, level
//!   INFO, in the `access_log_format` template), written when the body
//!   ends: straight into the log of [`Server::run`]'s own subscriber, else
//!   as a `tracing` event. The log is coloured only on a terminal.
//! - Hooks: pulsar's lifecycle callbacks, see [`Hooks`].
//! - Shutdown: graceful, losing no request a client already sent; see
//!   [Graceful shutdown](#graceful-shutdown) below.
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
//! # Graceful shutdown
//!
//! This is the one description of what a shutdown does; the README,
//! `DEPLOYING.md`, the settings and the other modules link here.
//!
//! A shutdown starts on SIGINT or SIGTERM under [`Server::run`] (both are
//! registered before the server announces itself, so an early signal is
//! not lost), or with [`ServerHandle::shutdown`]. `shutdown_timeout`
//! (default 30 s) bounds all of it after the drain.
//!
//! 1. **Drain** (`shutdown_drain`, default 0 s): for that long
//!    [`Connection::is_draining`](crate::Connection::is_draining) is true,
//!    so readiness probes ([`HealthCheck`](crate::middleware::HealthCheck))
//!    answer 503 while everything else is served as usual. A load balancer
//!    that routes by health checks (Kubernetes, cloud load balancers) stops
//!    sending new clients before the server stops accepting. Open-source
//!    nginx checks no health, so there it only delays the rest.
//! 2. **Stop accepting**: each worker leaves its accept loop. Connections
//!    the kernel had already completed, waiting in the listen queues, are
//!    accepted and served first (closing a listener would reset them, and
//!    a proxy may already have sent a request on one); they are closing
//!    from their first request on. New connections are refused, or, with
//!    socket activation, wait in the inherited socket's queue for the next
//!    process.
//! 3. **Finish in-flight requests**: every connection is marked closing
//!    and its requests run to completion; connections still open when
//!    `shutdown_timeout` ends are closed, with a warning in the log.
//!    - HTTP/1 does not use hyper's graceful shutdown, which closes a
//!      connection that looks idle at once, even when the next request is
//!      already in the socket unread: that request is lost and the client
//!      gets a reset. A proxy that keeps pooled connections (nginx with
//!      upstream `keepalive`) sends its next request the moment a response
//!      ends, so under load many would race the shutdown, and a lost POST
//!      is a 502 the proxy cannot retry. Instead, responses made from then
//!      on carry `Connection: close`, and a request that has begun to
//!      arrive is read and answered. A connection idle for half a second
//!      ends as if the client had closed it; one that answered more
//!      recently stays open until then, because it is the one a proxy is
//!      about to reuse (a request arriving meanwhile is answered with
//!      `Connection: close`).
//!    - HTTP/2 connections get GOAWAY and their open streams finish.
//!    - WebSockets are closed with `1001` and waited for like requests.
//! 4. **Exit**: when every worker has stopped, the Unix socket files the
//!    server made are removed (inherited sockets are left to their owner),
//!    the `when_exit` hook runs, and [`Server::run`] returns.
//!
//! `max_requests` retires a worker's application the same way (step 3 for
//! that generation's connections) while a fresh clone serves new ones.
//! Tests: `requests_waiting_unread_at_shutdown_are_answered`,
//! `sigterm_under_load_completes_sent_requests_and_exits_cleanly` and
//! `rolling_restart_under_load_fails_no_request` (figures in
//! `RELIABILITY.md` and `DEPLOYING.md`).
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
mod log_writer;
mod logging;
mod protocol;
mod proxy_protocol;
mod serving;
mod signals;
mod start;
mod timeouts;
#[cfg(feature = "tls")]
mod tls;
mod when_woken;
mod worker;

pub use error::ServerError;
pub use handle::ServerHandle;
pub use hooks::{HookFuture, Hooks, RequestInfo, ResponseInfo};
pub use listener::BoundAddr;
pub use start::Server;
#[cfg(feature = "tls")]
pub use tls::TlsError;
