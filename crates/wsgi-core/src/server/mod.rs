//! The HTTP server: hyper 1.x and tokio running an [`Application`].
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
//!   [`ServerHandle::shutdown`], [`Connection::is_draining`] turns true
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

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{oneshot, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::application::Application;
mod hooks;
mod listener;
mod protocol;
mod proxy_protocol;
mod timeouts;

pub use crate::config::{Config, ConfigError};
pub use crate::connection::Connection;
use crate::connection::ServerState;
use crate::extract::{CheckError, Provided};
use crate::response_body::ResponseBody;
use crate::service::{ResponseFuture, WsgiService};
pub use hooks::{HookFuture, Hooks, RequestInfo, ResponseInfo};
pub use listener::BoundAddr;
use listener::{Accepted, Listener, StdListener};
use protocol::{Protocol, Rewind};
use timeouts::TimedIo;

#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
pub use tls::TlsError;
#[cfg(feature = "tls")]
type Tls = tls::Acceptor;
/// Without the `tls` feature there is no acceptor.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
enum Tls {}

/// The TLS acceptor when `certfile` and `keyfile` are set.
fn tls_acceptor(config: &Config) -> Result<Option<Tls>, ServerError> {
    let Some(crate::config::TlsFiles {
        certfile, keyfile, ..
    }) = &config.tls
    else {
        return Ok(None);
    };
    #[cfg(feature = "tls")]
    {
        tls::acceptor(certfile, keyfile)
            .map(Some)
            .map_err(ServerError::Tls)
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (certfile, keyfile);
        Err(ServerError::Config(ConfigError::Invalid {
            setting: "certfile",
            message: "this build has no TLS support: enable wsgi-core's `tls` feature".into(),
        }))
    }
}

/// Why the server could not start or run.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid (see [`Config::validate`]).
    Config(ConfigError),
    /// An address could not be bound (in use, not local, malformed...).
    Bind {
        /// The configured address.
        addr: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// An event loop or worker thread could not be started.
    Runtime(io::Error),
    /// The application needs something it is not given (a handler takes
    /// a `State<S>` that no `with_state` provides); see
    /// [`Application::check`].
    Check(CheckError),
    /// The TLS certificate or key cannot be used.
    #[cfg(feature = "tls")]
    Tls(TlsError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Config(e) => e.fmt(f),
            ServerError::Bind { addr, source } => write!(
                f,
                "cannot listen on `{addr}`: {source} (check --bind: HOST:PORT, unix:PATH or fd://N, a local address, a free port)"
            ),
            ServerError::Runtime(e) => write!(f, "cannot start the server's event loop: {e}"),
            ServerError::Check(e) => write!(f, "the application cannot be served: {e}"),
            #[cfg(feature = "tls")]
            ServerError::Tls(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Config(e) => Some(e),
            ServerError::Bind { source, .. } => Some(source),
            ServerError::Runtime(e) => Some(e),
            ServerError::Check(e) => Some(e),
            #[cfg(feature = "tls")]
            ServerError::Tls(e) => Some(e),
        }
    }
}

/// Serves an [`Application`] over HTTP. See the [module docs](self).
pub struct Server<A> {
    app: A,
    config: Config,
    hooks: Hooks,
}

impl<A> fmt::Debug for Server<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl<A: Application + Clone> Server<A> {
    /// A server for `app` with the default configuration.
    pub fn new(app: A) -> Self {
        Server {
            app,
            config: Config::default(),
            hooks: Hooks::default(),
        }
    }

    /// Replaces the configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Replaces the lifecycle hooks (see [`Hooks`] for an example).
    pub fn hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// Binds, serves until SIGINT or SIGTERM, then shuts down gracefully.
    /// Blocks the calling thread; installs a `tracing` subscriber (filtered
    /// by `RUST_LOG`, else `log_level`) unless one is already set. With
    /// `workers = 1` the one worker serves on the calling thread itself.
    pub fn run(self) -> Result<(), ServerError> {
        self.config.validate().map_err(ServerError::Config)?;
        self.app
            .check(&Provided::new(&self.config))
            .map_err(ServerError::Check)?;
        init_logging(&self.config.log_level);
        let runtime = if self.config.workers == 0 {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        .map_err(ServerError::Runtime)?;
        // One worker serves on this thread's runtime: no second thread,
        // and thread-bound state of the caller's (an embedding
        // interpreter's, say) is the worker's.
        let on_caller = self.config.workers <= 1;
        runtime.block_on(async move {
            let signal = shutdown_signal();
            let handle = self.start(on_caller)?;
            signal.await;
            tracing::info!("shutting down: draining in-flight requests");
            handle.shutdown().await;
            tracing::info!("server stopped");
            Ok(())
        })
    }

    /// Binds and starts serving in the background; returns a handle that
    /// tells the bound addresses and shuts the server down. With
    /// `workers = 0` the server runs on the current tokio runtime (call this
    /// from inside one); otherwise each worker gets a thread and an event
    /// loop of its own.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        self.start(false)
    }

    /// [`spawn`](Self::spawn), or with `on_caller` every worker's loop as
    /// tasks of the caller's runtime (as `workers = 0` does).
    fn start(self, on_caller: bool) -> Result<ServerHandle, ServerError> {
        let Server { app, config, hooks } = self;
        config.validate().map_err(ServerError::Config)?;
        app.check(&Provided::new(&config))
            .map_err(ServerError::Check)?;
        let workers = config.workers;
        if workers == 0 && tokio::runtime::Handle::try_current().is_err() {
            return Err(ServerError::Runtime(io::Error::other(
                "workers = 0 serves on the caller's tokio runtime: call spawn() from inside one, or set workers >= 1",
            )));
        }
        let tls = tls_acceptor(&config)?;
        let loops = workers.max(1);
        let bound = listener::bind_all(&config.bind, config.backlog, loops)?;
        let addrs: Vec<BoundAddr> = bound.iter().map(|b| b.addr.clone()).collect();
        let unix_files = bound
            .iter()
            .filter(|b| b.owned)
            .filter_map(|b| match &b.addr {
                BoundAddr::Unix(path) => Some(path.clone()),
                BoundAddr::Tcp(_) => None,
            })
            .collect();
        // One socket of every address for each worker.
        let mut per_worker: Vec<Vec<StdListener>> = (0..loops).map(|_| Vec::new()).collect();
        for b in bound {
            for (index, socket) in b.sockets.into_iter().enumerate() {
                per_worker[index].push(socket);
            }
        }
        let state = Arc::new(ServerState {
            proxies: config.forwarded_allow_ips.clone(),
            draining: Default::default(),
        });
        let drain = config.shutdown_drain;
        let config = Arc::new(config);
        let hooks = Arc::new(hooks);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut done = Vec::new();

        for (index, listeners) in per_worker.into_iter().enumerate() {
            let ready = (index == 0).then(|| addrs.clone());
            let worker = Worker {
                app: app.clone(),
                config: Arc::clone(&config),
                hooks: Arc::clone(&hooks),
                tls: tls.clone(),
                shutdown: shutdown_rx.clone(),
                state: Arc::clone(&state),
            };
            let (tx, rx) = oneshot::channel();
            done.push(rx);
            if workers == 0 || on_caller {
                tokio::spawn(async move {
                    worker.run(listeners, ready).await;
                    let _ = tx.send(());
                });
                continue;
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(ServerError::Runtime)?;
            std::thread::Builder::new()
                .name(format!("wsgi-worker-{index}"))
                .spawn(move || {
                    runtime.block_on(worker.run(listeners, ready));
                    // Dropping the runtime cancels connections that
                    // outlived the shutdown timeout.
                    drop(runtime);
                    let _ = tx.send(());
                })
                .map_err(ServerError::Runtime)?;
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        for addr in &addrs {
            let addr = match addr {
                BoundAddr::Tcp(addr) => format!("{scheme}://{addr}"),
                other => other.to_string(),
            };
            tracing::info!(
                "listening on {addr} ({loops} worker{})",
                if loops == 1 { "" } else { "s" }
            );
        }
        Ok(ServerHandle {
            addrs,
            unix_files,
            shutdown_tx,
            done,
            hooks,
            state,
            drain,
        })
    }
}

/// A running server. Dropping it stops the server without waiting (and
/// without running the `when_exit` hook).
#[derive(Debug)]
pub struct ServerHandle {
    addrs: Vec<BoundAddr>,
    /// The Unix socket files the server made (not the inherited ones).
    unix_files: Vec<std::path::PathBuf>,
    shutdown_tx: watch::Sender<bool>,
    done: Vec<oneshot::Receiver<()>>,
    hooks: Arc<Hooks>,
    state: Arc<ServerState>,
    drain: Duration,
}

impl ServerHandle {
    /// The first bound TCP address (with the real port when the configured
    /// one was 0).
    ///
    /// # Panics
    /// When the server listens only on Unix sockets; use
    /// [`local_addrs`](Self::local_addrs) then.
    pub fn local_addr(&self) -> SocketAddr {
        match self.addrs.iter().find_map(BoundAddr::as_tcp) {
            Some(addr) => addr,
            None => panic!("the server listens on no TCP address: use local_addrs()"),
        }
    }

    /// Every bound address, in the order of the `bind` setting, with the
    /// real ports.
    ///
    /// ```
    /// use wsgi_core::server::Server;
    /// use wsgi_core::{app_fn, Config, Environ, Error, StartResponse};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut config = Config::default();
    /// config.bind = vec!["127.0.0.1:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()];
    /// config.workers = 0;
    /// let app = app_fn(|_: &mut Environ, start_response: StartResponse| {
    ///     start_response.start("204 No Content", Vec::<(String, String)>::new())?;
    ///     Ok::<_, Error>("")
    /// });
    /// let server = Server::new(app).config(config).spawn().unwrap();
    /// let ports: Vec<u16> = server
    ///     .local_addrs()
    ///     .iter()
    ///     .filter_map(|addr| addr.as_tcp())
    ///     .map(|addr| addr.port())
    ///     .collect();
    /// assert!(ports.len() == 2 && ports.iter().all(|&port| port != 0));
    /// server.shutdown().await;
    /// # }
    /// ```
    pub fn local_addrs(&self) -> &[BoundAddr] {
        &self.addrs
    }

    /// Marks the server as draining ([`Connection::is_draining`]) and
    /// keeps serving for `shutdown_drain`; then stops accepting, closes idle
    /// connections (see the module docs), waits for in-flight requests (up
    /// to `shutdown_timeout`), and returns when every worker has stopped,
    /// after removing the Unix socket files it made and running
    /// `when_exit`.
    pub async fn shutdown(mut self) {
        self.state.draining.store(true, Ordering::Release);
        if !self.drain.is_zero() {
            tracing::info!(
                "draining for {:?}: readiness reports 503 while requests are still served",
                self.drain
            );
            tokio::time::sleep(self.drain).await;
        }
        let _ = self.shutdown_tx.send(true);
        for done in self.done.drain(..) {
            let _ = done.await;
        }
        for path in &self.unix_files {
            let _ = std::fs::remove_file(path);
        }
        if let Some(hook) = &self.hooks.when_exit {
            hook(()).await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

fn init_logging(level: &crate::config::LogLevel) {
    use tracing_subscriber::EnvFilter;
    let from_env =
        std::env::var_os(EnvFilter::DEFAULT_ENV).map(|_| EnvFilter::try_from_default_env());
    // `log_level` was checked when it was parsed, so `new` keeps all of it.
    let (filter, refused) = match from_env {
        Some(Ok(filter)) => (filter, None),
        Some(Err(e)) => (EnvFilter::new(level.as_str()), Some(e)),
        None => (EnvFilter::new(level.as_str()), None),
    };
    // Fails only when the application installed its own subscriber: keep it.
    let installed = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    if let (Ok(()), Some(e)) = (installed, refused) {
        tracing::warn!("RUST_LOG is not a valid filter ({e}); using log_level `{level}`");
    }
}

/// Registers for SIGINT and SIGTERM now, and returns a future that
/// resolves on the first of them. Registering before the server announces
/// itself matters: a signal arriving before registration would take the
/// default action and kill the process without draining.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let signals = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        );
        async move {
            match signals {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Counts a worker generation's requests against `max_requests`.
struct RequestCounter {
    served: AtomicU64,
    limit: u64,
    reached: Notify,
}

impl RequestCounter {
    fn count(&self) {
        if self.served.fetch_add(1, Ordering::Relaxed) + 1 == self.limit {
            // `notify_one` keeps the wake-up if the worker is not waiting yet.
            self.reached.notify_one();
        }
    }
}

/// The per-connection hyper service: adds `pulsar.connection`, which also
/// counts the requests in flight for the connection's timeouts, counts
/// requests for `max_requests`, and runs the request hooks.
struct ConnService<A: ?Sized> {
    service: WsgiService<A>,
    connection: Connection,
    counter: Option<Arc<RequestCounter>>,
    hooks: Arc<Hooks>,
}

impl<A: Application + ?Sized> hyper::service::Service<Request<Incoming>> for ConnService<A> {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if let Some(counter) = &self.counter {
            counter.count();
        }
        let hooked = self.hooks.pre_request.is_some() || self.hooks.post_request.is_some();
        let info = hooked.then(|| RequestInfo {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            connection: self.connection.clone(),
        });
        // Made now so the request counts as in flight during `pre_request`;
        // the application is only called when it is polled.
        let respond = self.service.respond(request, Some(self.connection.clone()));
        let Some(info) = info else {
            return respond;
        };
        let hooks = Arc::clone(&self.hooks);
        Box::pin(async move {
            let started = Instant::now();
            if let Some(pre) = &hooks.pre_request {
                pre(info.clone()).await;
            }
            let mut response = respond.await?;
            if let Some(post) = hooks.post_request.clone() {
                let status = response.status();
                response.body_mut().on_end(Box::new(move |bytes, outcome| {
                    let handle = info.connection.handle().clone();
                    let response = ResponseInfo {
                        status,
                        bytes,
                        duration: started.elapsed(),
                        outcome,
                    };
                    handle.spawn(post((info, response)));
                }));
            }
            Ok(response)
        })
    }
}

/// hyper's default (and cheapest) `max_headers` for HTTP/1.
const HYPER_MAX_HEADERS: usize = 100;

/// hyper's default `max_buf_size`: how much response body it queues
/// before writing (and the largest request head it reads).
const HYPER_MAX_BUF_SIZE: usize = 8192 + 4096 * 100;

/// The HTTP/1 and HTTP/2 connection settings, made once per worker.
struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

fn connection_builders(config: &Config) -> Builders {
    let mut http1 = http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        // `TimedIo` keeps the head and idle deadlines (see `timeouts`).
        .header_read_timeout(None)
        .keep_alive(!config.http_keep_alive.is_zero())
        .max_header_size(config.max_header_size);
    // The buffer also bounds the head hyper reads; the head limit itself is
    // `max_header_size`, so keep hyper's larger default, which lets several
    // body chunks go out in one write.
    if config.max_header_size > HYPER_MAX_BUF_SIZE {
        http1.max_buf_size(config.max_header_size);
    }
    // hyper's own limit is 100 headers, checked with arrays on the stack;
    // setting any limit makes it fill two heap arrays on every request.
    if config.max_headers != HYPER_MAX_HEADERS {
        http1.max_headers(config.max_headers);
    }
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(config.http_keep_alive.max(Duration::from_secs(1))))
        .keep_alive_timeout(Duration::from_secs(20));
    Builders { http1, http2 }
}

/// What one worker needs to serve.
struct Worker<A> {
    app: A,
    config: Arc<Config>,
    hooks: Arc<Hooks>,
    tls: Option<Tls>,
    shutdown: watch::Receiver<bool>,
    state: Arc<ServerState>,
}

/// The connections served by one clone of the application. A worker
/// starts a new generation after `max_requests`.
struct Generation<A> {
    service: WsgiService<A>,
    // Tells the generation's connections to finish (see `Serving::run`).
    stop: watch::Sender<bool>,
    // Connection tasks, so those still open when the shutdown timeout ends
    // can be cancelled (with `workers = 0` the runtime outlives the server).
    connections: JoinSet<()>,
    counter: Option<Arc<RequestCounter>>,
    /// Given to the generation's connections: what is built once per
    /// worker copy of the application is keyed by it (`LazyWsgi`).
    mark: Arc<crate::connection::WorkerMark>,
}

impl<A: Application> Generation<A> {
    fn new(app: A, config: &Arc<Config>) -> Self {
        Generation {
            service: WsgiService::from_shared(Arc::new(app), Arc::clone(config)),
            stop: watch::Sender::new(false),
            connections: JoinSet::new(),
            counter: (config.max_requests > 0).then(|| {
                Arc::new(RequestCounter {
                    served: AtomicU64::new(0),
                    limit: config.max_requests,
                    reached: Notify::new(),
                })
            }),
            mark: Arc::default(),
        }
    }

    /// Resolves when this generation has served `max_requests`.
    async fn exhausted(&self) {
        match &self.counter {
            Some(counter) => counter.reached.notified().await,
            None => std::future::pending().await,
        }
    }

    /// Lets in-flight requests finish (up to `timeout`), closing idle
    /// connections, then cancels what is left.
    fn drain(self, timeout: Duration) -> impl std::future::Future<Output = ()> + Send {
        let Generation {
            stop,
            mut connections,
            ..
        } = self;
        async move {
            stop.send_replace(true);
            let finished = tokio::time::timeout(timeout, async {
                while connections.join_next().await.is_some() {}
            })
            .await;
            if finished.is_err() {
                tracing::warn!(
                    "shutdown timeout of {timeout:?} reached; closing {} remaining connection(s)",
                    connections.len()
                );
            }
            connections.shutdown().await;
        }
    }
}

impl<A: Application + Clone> Worker<A> {
    /// The accept loop: serves connections until shutdown, then drains.
    async fn run(mut self, listeners: Vec<StdListener>, ready: Option<Vec<BoundAddr>>) {
        let listeners = match listeners
            .into_iter()
            .map(StdListener::into_tokio)
            .collect::<io::Result<Vec<_>>>()
        {
            Ok(listeners) => listeners,
            Err(e) => {
                tracing::error!(error = %e, "worker cannot listen");
                return;
            }
        };
        if let (Some(addrs), Some(hook)) = (ready, &self.hooks.when_ready) {
            tokio::spawn(hook(addrs));
        }
        // Every listener as one stream of accepted connections; the pending
        // accepts live in the stream, so dropping out of `select!` loses none.
        let mut incoming = futures_util::stream::select_all(listeners.into_iter().map(|l| {
            Box::pin(futures_util::stream::unfold(l, |l: Listener| async move {
                let accepted = l.accept().await;
                Some((accepted, l))
            }))
        }));
        let config = Arc::clone(&self.config);
        let limit =
            (config.max_connections > 0).then(|| Arc::new(Semaphore::new(config.max_connections)));
        let builder = Arc::new(connection_builders(&config));
        let mut generation = Generation::new(self.app.clone(), &config);
        let mut retired = JoinSet::new();
        loop {
            // At the connection limit nothing is accepted: new connections
            // wait in the kernel's backlog.
            let permit = match &limit {
                Some(limit) => tokio::select! {
                    biased;
                    _ = self.shutdown.wait_for(|stop| *stop) => break,
                    permit = Arc::clone(limit).acquire_owned() => permit.ok(),
                },
                None => None,
            };
            let accepted = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|stop| *stop) => break,
                () = generation.exhausted() => {
                    let fresh = Generation::new(self.app.clone(), &config);
                    let old = std::mem::replace(&mut generation, fresh);
                    tracing::info!("max_requests reached: restarting the worker's application");
                    while retired.try_join_next().is_some() {}
                    retired.spawn(old.drain(config.shutdown_timeout));
                    continue;
                }
                accepted = incoming.next() => accepted,
            };
            match accepted {
                Some(Ok(accepted)) => self.accept(&mut generation, &builder, accepted, permit),
                Some(Err(e)) => {
                    // Out of file descriptors or a connection reset before
                    // accept: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None => break,
            }
        }
        // Connections the kernel completed before the listeners close wait
        // in their queues, and closing a listener resets them: a client
        // (a proxy) that already sent a request on one gets no answer.
        // Serve them as closing connections. `yield_now` lets the event
        // loop see them first.
        tokio::task::yield_now().await;
        while let Some(Some(Ok(accepted))) = incoming.next().now_or_never() {
            self.accept(&mut generation, &builder, accepted, None);
        }
        drop(incoming);
        generation.drain(config.shutdown_timeout).await;
        while retired.join_next().await.is_some() {}
    }

    /// Serves a connection just accepted.
    fn accept(
        &self,
        generation: &mut Generation<A>,
        builder: &Arc<Builders>,
        accepted: Accepted,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        match accepted {
            Accepted::Tcp(stream, peer) => {
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().ok();
                self.serve(generation, builder, stream, Some(peer), local, permit);
            }
            #[cfg(unix)]
            Accepted::Unix(stream) => self.serve(generation, builder, stream, None, None, permit),
        }
    }

    /// Serves one accepted connection as a task of `generation`.
    fn serve<IO>(
        &self,
        generation: &mut Generation<A>,
        builder: &Arc<Builders>,
        io: IO,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
        permit: Option<OwnedSemaphorePermit>,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let connection = Connection::build(
            tokio::runtime::Handle::current(),
            peer,
            local,
            self.tls.is_some(),
            Some(Arc::clone(&self.state)),
            Some(Arc::clone(&generation.mark)),
        );
        let service = ConnService {
            service: generation.service.clone(),
            connection: connection.clone(),
            counter: generation.counter.clone(),
            hooks: Arc::clone(&self.hooks),
        };
        let serving = Serving {
            connection,
            service,
            builder: Arc::clone(builder),
            stop: generation.stop.subscribe(),
            hooks: Arc::clone(&self.hooks),
            keep_alive: self.config.http_keep_alive,
            header_timeout: self.config.header_read_timeout,
        };
        let tls = self.tls.clone();
        let proxy_protocol = self.config.proxy_protocol;
        // Reap finished connections so the set does not grow.
        while generation.connections.try_join_next().is_some() {}
        generation.connections.spawn(async move {
            // Held until the connection ends: frees a `max_connections` slot.
            let _permit = permit;
            if !proxy_protocol {
                return serving.start(tls, io).await;
            }
            match proxy_protocol::accept(io, serving.header_timeout).await {
                Ok((source, io)) => {
                    if let Some(source) = source {
                        serving.connection.set_proxied_addr(source);
                    }
                    serving.start(tls, io).await;
                }
                Err(e) => tracing::debug!(
                    error = %e,
                    peer = ?serving.connection.peer_addr(),
                    "closing a connection without a valid PROXY header"
                ),
            }
        });
    }
}

/// One connection, ready to be served once its stream is (after the TLS
/// handshake, if any).
struct Serving<A: ?Sized> {
    connection: Connection,
    service: ConnService<A>,
    builder: Arc<Builders>,
    stop: watch::Receiver<bool>,
    hooks: Arc<Hooks>,
    keep_alive: Duration,
    header_timeout: Duration,
}

/// Runs what a connection became after a `101` (a WebSocket) within the
/// connection's task; a shutdown meanwhile marks the connection closing,
/// which the socket answers (a WebSocket sends close 1001).
async fn run_upgraded(
    upgraded: crate::connection::UpgradeTask,
    connection: &Connection,
    stop: &mut watch::Receiver<bool>,
) {
    tokio::pin!(upgraded);
    tokio::select! {
        biased;
        () = upgraded.as_mut() => return,
        () = stopped(stop) => connection.begin_closing(),
    }
    upgraded.await;
}

/// Resolves once the server stops (or is dropped). The `watch` borrow is
/// released before returning, never held across an await.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

impl<A: Application + ?Sized> Serving<A> {
    /// Serves the connection, after the TLS handshake if any.
    async fn start<IO>(self, tls: Option<Tls>, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        match tls {
            None => self.run(io).await,
            #[cfg(feature = "tls")]
            // Boxed: a task's memory is the size of its largest state, and
            // the TLS session's would be paid by every plaintext connection,
            // idle ones included.
            Some(acceptor) => {
                Box::pin(async move {
                    let handshake =
                        tokio::time::timeout(self.header_timeout, acceptor.0.accept(io)).await;
                    match handshake {
                        Ok(Ok(stream)) => self.run(stream).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake not finished in time"),
                    }
                })
                .await
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
        }
    }

    async fn run<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Serving {
            connection,
            service,
            builder,
            mut stop,
            hooks,
            keep_alive,
            header_timeout,
        } = self;
        if let Some(hook) = &hooks.connection_made {
            hook(connection.clone()).await;
        }
        let mut io = TimedIo::new(io, connection.clone(), keep_alive, header_timeout);
        // The protocol, from the first bytes (within the head deadline, like
        // the rest of the first request). A shutdown meanwhile marks the
        // connection closing: `TimedIo` ends it once quiet unless a request
        // begins to arrive, which is then served.
        let sniffed = {
            let sniff = protocol::sniff(&mut io);
            tokio::pin!(sniff);
            tokio::select! {
                biased;
                () = stopped(&mut stop) => {
                    connection.begin_closing();
                    sniff.await
                }
                sniffed = sniff.as_mut() => sniffed,
            }
        };
        // Shutdown (or the server dropped), once serving. HTTP/2: GOAWAY,
        // then the open streams finish. HTTP/1: not hyper's graceful
        // shutdown, which closes a connection between requests at once, even
        // with the next request already in the socket. Instead responses
        // made from now on say `Connection: close` (`respond_with`), and an
        // idle connection ends once quiet (`TimedIo`). The stop is polled
        // first: a connection accepted during the shutdown must be closing
        // before its first request is read.
        let served: Result<(), crate::error::BoxError> = match sniffed {
            Ok((protocol, prefix, len)) => {
                let io = TokioIo::new(Rewind::new(io, prefix, len));
                match protocol {
                    Protocol::Http1 => {
                        // With upgrades: after a `101` hyper hands the
                        // socket to the task the application left on the
                        // connection (a WebSocket), which runs below.
                        let conn = builder.http1.serve_connection(io, service).with_upgrades();
                        tokio::pin!(conn);
                        let served = tokio::select! {
                            biased;
                            () = stopped(&mut stop) => {
                                connection.begin_closing();
                                conn.await
                            }
                            result = conn.as_mut() => result,
                        };
                        if let Some(upgraded) = connection.take_upgrade() {
                            run_upgraded(upgraded, &connection, &mut stop).await;
                        }
                        served.map_err(Into::into)
                    }
                    // Boxed for the same reason as TLS: HTTP/1 connections
                    // should not carry the size of an HTTP/2 one.
                    Protocol::Http2 => {
                        connection.mark_http2();
                        let closing = connection.clone();
                        Box::pin(async move {
                            let conn = builder.http2.serve_connection(io, service);
                            tokio::pin!(conn);
                            tokio::select! {
                                biased;
                                () = stopped(&mut stop) => {
                                    closing.begin_closing();
                                    conn.as_mut().graceful_shutdown();
                                    conn.await
                                }
                                result = conn.as_mut() => result,
                            }
                        })
                        .await
                        .map_err(Into::into)
                    }
                }
            }
            Err(e) => Err(e.into()),
        };
        if let Err(e) = served {
            tracing::debug!(error = %e, connection = connection.id(), "connection ended with an error");
        }
        if let Some(hook) = &hooks.connection_lost {
            hook(connection).await;
        }
    }
}
