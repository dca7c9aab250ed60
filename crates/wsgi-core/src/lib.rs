//! # wsgi-core: asynchronous WSGI for Rust
//!
//! WSGI (PEP 3333) is the contract between a web server and an application:
//! the server calls `app(environ, start_response)`; `environ` holds the CGI
//! request variables plus `wsgi.*` keys; `start_response(status, headers)`
//! sets the response head; the application returns an iterable of bytes.
//! Python's pulsar extended it to *asynchronous* WSGI: the application may be
//! asynchronous, and its body may be an asynchronous iterable whose items are
//! bytes or futures resolving to bytes. This crate is that model, natively
//! in Rust, served by hyper and tokio.
//!
//! | WSGI | here |
//! |---|---|
//! | `app(environ, start_response)` | [`Application::call`] (async), [`app_fn`] (sync) |
//! | a function as the application | [`#[wsgi_handler]`](wsgi_handler): `async fn` or `fn`, `(environ, start_response)` or `(environ)` |
//! | typed handlers (beyond WSGI) | [`#[wsgi_handler]`](wsgi_handler) with [extractors](extract) as arguments (`Path`, `Query`, `Json`, `Form`, `State`, `Cookies`, …) and any [`IntoResponse`] as the return |
//! | pulsar's `WsgiHandler(middleware, response_middleware)` | [`WsgiHandler`], [`#[response_middleware]`](response_middleware) |
//! | `environ` | [`Environ`]: [`Environ::get`]`("PATH_INFO")` or [`Environ::path_info`] |
//! | `environ['wsgi.input']` | [`Input`]: `read_all`, `read(n)`, `read_line`, chunks |
//! | `start_response(status, headers, exc_info)` | [`StartResponse::start`], [`StartResponse::start_exc_info`] |
//! | headers known at compile time (beyond WSGI) | [`StartResponse::start_typed`]: `http`'s `HeaderName`s and `HeaderValue`s, not checked again per request |
//! | `write(data)` | [`Writer`] |
//! | the returned iterable | [`Body`] of [`Chunk`]s: bytes or futures of bytes |
//! | `iterable.close()` | [`Body::on_close`] hooks, run exactly once |
//! | `environ['pulsar.connection']` | [`Connection`] (with the event loop's `Handle`) |
//! | `environ['pulsar.cfg']` | [`Config`] |
//! | the server | [`server::Server`]; any app is also a tower [`WsgiService`] |
//! | pulsar's `ws` app | [`websocket::WebSocketUpgrade`] (an extractor) and [`websocket::WebSocket`] |
//!
//! The crate root holds the WSGI model and what every application touches
//! (the types above, [`Input`], [`Connection`], [`Config`], [`Error`],
//! [`HttpError`], [`WsgiResponse`], [`IntoResponse`], [`WsgiHandler`],
//! [`WsgiService`], the macros); everything else lives in its module, and
//! every type has exactly one public path ([`router::Router`],
//! [`extract::Json`], [`server::Server`], ...).
//!
//! ```no_run
//! use wsgi_core::{Application, Body, Chunk, Environ, Error, StartResponse};
//! use wsgi_core::server::Server;
//!
//! #[derive(Clone)]
//! struct Greeter;
//!
//! impl Application for Greeter {
//!     async fn call(&self, environ: &mut Environ, start_response: StartResponse) -> Result<Body, Error> {
//!         let who = environ.path_info().trim_start_matches('/').to_owned();
//!         start_response.start("200 OK", [("Content-Type", "text/plain")])?;
//!         // An asynchronous iterable: bytes, a future of bytes, bytes.
//!         Ok(Body::from_chunks([
//!             Chunk::from("Hello, "),
//!             Chunk::future(async move { Ok::<_, Error>(who) }),
//!             Chunk::from("!\n"),
//!         ]))
//!     }
//! }
//!
//! fn main() -> Result<(), wsgi_core::server::ServerError> {
//!     // --bind, --workers, --http-keep-alive, ... from the command line.
//!     Server::new(Greeter).config(wsgi_core::Config::from_args()).run()
//! }
//! ```
//!
//! ## Guides
//! - [Typed handlers and extractors](guide::extractors): extractors and
//!   their rejections, writing your own, `IntoResponse` returns, errors,
//!   state checked at start-up, and coming from axum.
//! - [Coming from Python WSGI and pulsar](guide::coming_from_python): the
//!   mapping from `environ`, `start_response`, iterables, `exc_info`,
//!   `write`, `LazyWsgi`, `pulsar.connection` and `pulsar.cfg`, and the
//!   rules that are specific to Rust.
//! - [Writing middleware](guide::writing_middleware): `RequestMiddleware`,
//!   `ResponseMiddleware`, the macros, passing with `None`, applications
//!   and tower services as middleware, the shipped middleware.
//! - [Streaming responses](guide::streaming): bodies, chunks and futures,
//!   backpressure, `Content-Length`, close hooks, aborts.
//! - [Testing your app](guide::testing): calling handlers, the in-process
//!   `TestClient`, and the real server on a free port.
//! - [Using with axum and tower](guide::axum_and_tower): `WsgiService` in an
//!   axum `Router`, tower-http layers, `ServiceMiddleware`.
//! - [WebSocket and Server-Sent Events](guide::websocket): accepting a
//!   socket from a handler, its checks, limits and lifecycle, and event
//!   streams whose head goes out at once.
//!
//! ## Cargo features
//! All on by default; `default-features = false` keeps the WSGI model
//! (environ, `start_response`, bodies, `WsgiResponse`), `WsgiHandler` and
//! the shipped middleware, [`WsgiService`] (to mount an application in
//! axum or under tower layers), the router, static files, the
//! `TestClient`, the macros and the extractors that need no optional
//! dependency (`Path`, `Query`, `Form`, `State`, `Bytes`, ...), on http,
//! hyper, tower-service, tokio and bytes level dependencies only.
//!
//! | feature | adds | dependencies |
//! |---|---|---|
//! | `server` | [`server::Server`]: workers, sockets, socket activation, the PROXY protocol, signals and graceful shutdown, the log subscriber; [`Config::from_args`] (command line, `WSGI_*` variables, `--config` files) and application settings | clap, toml, tracing-subscriber, listenfd, ppp, socket2, hyper-util |
//! | `tls` (implies `server`) | HTTPS with rustls (ring) when `certfile` and `keyfile` are set; without it they are a start-up error | rustls, tokio-rustls |
//! | `multipart` | `multipart/form-data` in [`Form`](form::Form), [`form::Multipart`]; without it such a body is answered 415 | multer |
//! | `json` | the `Json` extractor and response, [`Form`](form::Form)'s JSON bodies, `TestClient` JSON helpers; without it a JSON form body is answered 415 (error pages are JSON either way) | serde_json |
//! | `gzip` | the `GZip` response middleware | flate2 |
//! | `cookies` | [`WsgiResponse::set_cookie`], the `Cookies`, `SignedCookies` and `PrivateCookies` extractors, [`Config::cookie_key`] | cookie |
//! | `typed-header` | the `TypedHeader` extractor | headers |
//! | `anyhow` | `anyhow::Error` as a handler's error: an `HttpError` inside keeps its status | anyhow |
//! | `ws` | WebSocket: [`websocket::WebSocketUpgrade`] and [`websocket::WebSocket`] (works with the server or any hyper server with upgrades) | tokio-tungstenite, hyper-util |
//!
//! CI checks the default build, `--no-default-features`, `server` alone,
//! and a `default-features = false` crate serving requests inside axum.
//!
//! Deployment settings (workers, sockets, limits, TLS, logging) are listed
//! in [`Config`]; the README's "Running in production" has the table of
//! flags, environment variables and defaults. `DEPLOYING.md` in the
//! repository runs the server behind nginx (a configuration CI tests),
//! restarts instances without failing a request, and has systemd and
//! Kubernetes examples and sizing advice.
//!
//! ## The rules the server keeps
//! Each is described once, where the link leads.
//! - [Nothing is sent before the body's first non-empty item](guide::streaming#when-the-head-goes-out),
//!   unless the body asks for its head at once.
//! - [After the head is out, a failing body aborts the connection](guide::streaming#errors-after-the-head-aborts).
//! - [A declared `Content-Length` is exact](guide::streaming#content-length);
//!   `HEAD`, `1xx`, `204` and `304` responses have no body.
//! - [Bodies are polled only when the connection can take more bytes](guide::streaming#backpressure).
//! - Invalid statuses and headers (line breaks, control characters, bad
//!   names, hop-by-hop headers) are refused to the application.
//! - A panic in an application or a body is caught: `500`, or an aborted
//!   stream; the worker keeps serving.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![doc(test(attr(deny(warnings))))]
// The guides and docs link items that exist only with their feature
// (`server::Server`, `extract::Json`, `websocket`, …). With every feature
// (the default) each link must resolve, and CI builds the docs so with
// `-D warnings`; with a feature off, rustdoc shows an absent item's link
// as plain text instead of failing.
#![cfg_attr(
    not(all(
        feature = "server",
        feature = "tls",
        feature = "multipart",
        feature = "json",
        feature = "gzip",
        feature = "cookies",
        feature = "typed-header",
        feature = "anyhow",
        feature = "ws"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

// The macros emit `::wsgi_core::…` paths; this makes them resolve inside
// this crate too (its own tests and docs use the macros).
extern crate self as wsgi_core;

pub mod access_log;
mod application;
mod body;
pub mod config;
mod connection;
mod dispatch;
mod environ;
mod error;
pub mod error_page;
pub mod extract;
pub mod form;
pub mod forwarded;
mod framing;
/// Guides: longer explanations with examples, also readable as Markdown
/// under `crates/wsgi-core/docs/` in the repository.
pub mod guide {
    #[doc = include_str!("../docs/coming-from-python.md")]
    pub mod coming_from_python {}
    #[doc = include_str!("../docs/extractors.md")]
    pub mod extractors {}
    #[doc = include_str!("../docs/writing-middleware.md")]
    pub mod writing_middleware {}
    #[doc = include_str!("../docs/streaming.md")]
    pub mod streaming {}
    #[doc = include_str!("../docs/testing.md")]
    pub mod testing {}
    #[doc = include_str!("../docs/axum-and-tower.md")]
    pub mod axum_and_tower {}
    #[cfg(feature = "ws")]
    #[doc = include_str!("../docs/websocket.md")]
    pub mod websocket {}
}
mod handler;
mod input;
pub mod lazy;
mod macro_support;
pub mod middleware;
mod response;
pub mod response_body;
mod response_future;
pub mod router;
#[cfg(feature = "server")]
pub mod server;
mod service;
pub mod sse;
mod start_response;
pub mod static_files;
pub mod test_client;
#[cfg(feature = "ws")]
pub mod websocket;

// The root holds the WSGI model and what every application touches; each
// type has this one public path (the modules above hold everything else).
pub use application::{app_fn, AppFn, Application, BoxApplication, BoxCallFuture};
pub use body::{Body, Chunk, Outcome};
/// The `clap` crate, for `#[derive(clap::Args)]` on an application's own
/// settings ([`config::AppSettings`]) without depending on clap yourself:
/// `use wsgi_core::clap;`.
#[cfg(feature = "server")]
pub use clap;
pub use config::settings::Config;
pub use connection::Connection;
/// The `cookie` crate, for [`WsgiResponse::set_cookie`] and
/// [`Cookies`](extract::Cookies).
#[cfg(feature = "cookies")]
pub use cookie;
pub use environ::{Environ, EnvironError, Errors};
pub use error::{BoxError, Error, HttpError};
/// `WsgiHandler`: a list of middleware, then response middleware.
///
/// pulsar's `WsgiHandler(middleware, response_middleware)`: each middleware
/// is called in order with the environ; the first that answers wins; if none
/// does, the answer is 404. The response middleware then transform the
/// winning [`WsgiResponse`] in order. An error anywhere (a panic included)
/// becomes an error page rendered by the [`ErrorRenderer`](error_page::ErrorRenderer) (see
/// [`error_page`](crate::error_page)).
///
/// A `WsgiHandler` is an [`Application`] (serve it, or wrap it as a tower
/// service), a [`RequestMiddleware`](middleware::RequestMiddleware) (nest it in another handler: it passes when
/// none of its middleware answers) and a tower `Service`.
///
/// ```
/// use wsgi_core::middleware::middleware_fn;
/// use wsgi_core::{app_fn, Environ, Error, StartResponse, WsgiHandler, WsgiResponse};
///
/// let handler = WsgiHandler::default()
///     .middleware(middleware_fn(|environ: &mut Environ| {
///         Ok::<_, Error>((environ.path_info() == "/health").then(|| WsgiResponse::text("ok")))
///     }))
///     .app(app_fn(|_: &mut Environ, start_response: StartResponse| {
///         start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///         Ok::<_, Error>("the application")
///     }));
/// # let _ = handler;
/// ```
pub use handler::WsgiHandler;
/// The `headers` crate, for [`TypedHeader`](extract::TypedHeader).
#[cfg(feature = "typed-header")]
pub use headers;
/// The `http` crate: `StatusCode`, `Method`, `HeaderValue`, ... as this
/// crate uses them (no separate dependency needed).
pub use http;
pub use input::{Input, InputError};
/// `WsgiResponse`: a response object in pulsar's shape.
///
/// Handlers and middleware build a [`WsgiResponse`]; response middleware
/// transforms it; [`WsgiResponse::start`] finally emits it through
/// `start_response` and returns the body. Its rules:
///
/// - content is bytes, text with an [`encoding`](WsgiResponse::encoding)
///   (the charset is appended to the content type, `text/plain` when none
///   is set), or a streamed asynchronous iterable ([`Body`]);
/// - non-streamed content gets a `Content-Length`;
/// - responses without a body (`HEAD`, `1xx`, `204`, `304`) follow
///   [the server's rule](guide::streaming#content-length);
/// - cookies are sent only with non-error statuses (below 400).
///
/// ```
/// use wsgi_core::WsgiResponse;
/// use wsgi_core::cookie::Cookie;
///
/// let mut response = WsgiResponse::text("Hello, World!");
/// response.set_cookie(Cookie::build(("session", "abc")).path("/").http_only(true).build());
/// assert_eq!(response.status().as_u16(), 200);
/// assert_eq!(response.content_type().as_deref(), Some("text/plain; charset=utf-8"));
/// assert_eq!(response.length(), Some(13));
/// assert!(!response.is_streamed());
/// ```
pub use response::WsgiResponse;
pub use response::{Content, Html, IntoResponse, IntoResponseParts, Redirect};
pub use response_future::ResponseFuture;
/// Applications as tower services.
///
/// [`WsgiService`] turns any [`Application`] into a
/// `tower::Service<http::Request<B>>` for any request body `B`, so a WSGI
/// application runs under hyper, inside an axum `Router`, or wrapped by
/// tower-http layers:
///
/// ```
/// use wsgi_core::{app_fn, Environ, Error, StartResponse, WsgiService};
///
/// let app = app_fn(|_: &mut Environ, start_response: StartResponse| {
///     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok::<_, Error>("Hello from WSGI")
/// });
/// let service = WsgiService::new(app);
/// // axum: Router::new().fallback_service(service)
/// # fn is_service<S: tower_service::Service<http::Request<String>>>(_: S) {}
/// # is_service(service);
/// ```
///
/// When the request carries a [`Connection`] in its extensions (the server
/// adds one), it becomes `pulsar.connection` and gives `REMOTE_ADDR`.
pub use service::WsgiService;
pub use start_response::{IntoStatus, StartResponse, StartResponseError, Status, Writer};
pub use wsgi_macros::{response_middleware, wsgi_handler};

/// Used by the code the macros generate; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::macro_support::*;
    pub use crate::service::serve;
}

/// The README's code, compiled as a doctest so the tour stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
