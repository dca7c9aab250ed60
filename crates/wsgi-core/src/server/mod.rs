//! The HTTP server: hyper 1.x and tokio running an [`Application`].
//!
//! [`Server`] binds the configured address and runs `workers` event loops,
//! each on its own thread with its own clone of the application (so state
//! built lazily is built once per worker), all accepting from the same
//! socket. Each connection speaks HTTP/1.1 (keep-alive, pipelining) or
//! HTTP/2 over cleartext (h2c, prior knowledge), detected from its first
//! bytes.
//!
//! - Limits: a client must send each request head within
//!   `header_read_timeout` of its first byte (of connecting, for the first
//!   request); an idle keep-alive connection closes after `http_keep_alive`
//!   (see `timeouts.rs`); a head larger than `max_header_size` or with more
//!   than `max_headers` headers gets 431; a body declared larger than
//!   `stream_buffer` gets 413.
//! - Headers: `Server` (from `server_software`) and `Date` on every response.
//! - Logging: one access line per response through `tracing` (target
//!   `wsgi::access`, level INFO), written when the body ends.
//! - Shutdown: on SIGINT or SIGTERM ([`Server::run`]) or
//!   [`ServerHandle::shutdown`], the listener closes, idle connections close,
//!   and in-flight requests run to completion for up to `shutdown_timeout`.
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
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::application::Application;
mod timeouts;

pub use crate::config::{Config, ConfigError};
pub use crate::connection::Connection;
use crate::dispatch::ResponseBody;
use crate::service::{ResponseFuture, WsgiService};
use timeouts::TimedIo;

/// Why the server could not start or run.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The address could not be bound (in use, not local, malformed...).
    Bind {
        /// The configured address.
        addr: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// An event loop or worker thread could not be started.
    Runtime(io::Error),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind { addr, source } => write!(
                f,
                "cannot listen on `{addr}`: {source} (check --bind: HOST:PORT, a local address, a free port)"
            ),
            ServerError::Runtime(e) => write!(f, "cannot start the server's event loop: {e}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Bind { source, .. } => Some(source),
            ServerError::Runtime(e) => Some(e),
        }
    }
}

/// Serves an [`Application`] over HTTP. See the [module docs](self).
pub struct Server<A> {
    app: A,
    config: Config,
}

impl<A> fmt::Debug for Server<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<A: Application + Clone> Server<A> {
    /// A server for `app` with the default configuration.
    pub fn new(app: A) -> Self {
        Server {
            app,
            config: Config::default(),
        }
    }

    /// Replaces the configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Binds, serves until SIGINT or SIGTERM, then shuts down gracefully.
    /// Blocks the calling thread; installs a `tracing` subscriber (filtered
    /// by `RUST_LOG`, else `log_level`) unless one is already set.
    pub fn run(self) -> Result<(), ServerError> {
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
        runtime.block_on(async move {
            let handle = self.spawn()?;
            shutdown_signal().await;
            tracing::info!("shutting down: draining in-flight requests");
            handle.shutdown().await;
            tracing::info!("server stopped");
            Ok(())
        })
    }

    /// Binds and starts serving in the background; returns a handle that
    /// tells the bound address and shuts the server down. With `workers = 0`
    /// the server runs on the current tokio runtime (call this from inside
    /// one); otherwise each worker gets a thread and an event loop of its own.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        let Server { app, config } = self;
        let listener = std::net::TcpListener::bind(config.bind.as_str()).map_err(|source| {
            ServerError::Bind {
                addr: config.bind.clone(),
                source,
            }
        })?;
        listener
            .set_nonblocking(true)
            .map_err(ServerError::Runtime)?;
        let local_addr = listener.local_addr().map_err(ServerError::Runtime)?;
        let config = Arc::new(config);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut done = Vec::new();
        let workers = config.workers;

        if workers == 0 {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(ServerError::Runtime(io::Error::other(
                    "workers = 0 serves on the caller's tokio runtime: call spawn() from inside one, or set workers >= 1",
                )));
            }
            let listener = TcpListener::from_std(listener).map_err(ServerError::Runtime)?;
            let (tx, rx) = oneshot::channel();
            done.push(rx);
            tokio::spawn(async move {
                worker(listener, app, config, shutdown_rx).await;
                let _ = tx.send(());
            });
        } else {
            for index in 0..workers {
                let listener = listener.try_clone().map_err(ServerError::Runtime)?;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(ServerError::Runtime)?;
                let (app, config, shutdown_rx) =
                    (app.clone(), Arc::clone(&config), shutdown_rx.clone());
                let (tx, rx) = oneshot::channel();
                done.push(rx);
                std::thread::Builder::new()
                    .name(format!("wsgi-worker-{index}"))
                    .spawn(move || {
                        runtime.block_on(async move {
                            match TcpListener::from_std(listener) {
                                Ok(listener) => worker(listener, app, config, shutdown_rx).await,
                                Err(e) => tracing::error!(error = %e, "worker cannot listen"),
                            }
                        });
                        // Dropping the runtime cancels connections that
                        // outlived the shutdown timeout.
                        drop(runtime);
                        let _ = tx.send(());
                    })
                    .map_err(ServerError::Runtime)?;
            }
        }
        tracing::info!(
            "listening on http://{local_addr} ({} worker{})",
            workers.max(1),
            if workers <= 1 { "" } else { "s" }
        );
        Ok(ServerHandle {
            local_addr,
            shutdown_tx,
            done,
        })
    }
}

/// A running server. Dropping it stops the server without waiting.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    done: Vec<oneshot::Receiver<()>>,
}

impl ServerHandle {
    /// The bound address (with the real port when the configured one was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes idle connections, waits for in-flight
    /// requests (up to `shutdown_timeout`), and returns when every worker
    /// has stopped.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        for done in self.done.drain(..) {
            let _ = done.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

fn init_logging(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Fails only when the application installed its own subscriber: keep it.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The per-connection hyper service: adds `pulsar.connection`, which also
/// counts the requests in flight for the connection's timeouts.
struct ConnService<A: ?Sized> {
    service: WsgiService<A>,
    connection: Connection,
}

impl<A: Application + ?Sized> hyper::service::Service<Request<Incoming>> for ConnService<A> {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(self.connection.clone());
        self.service.respond(request)
    }
}

fn connection_builder(config: &Config) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // `TimedIo` keeps the head and idle deadlines (see `timeouts`).
        .header_read_timeout(None)
        .keep_alive(!config.http_keep_alive.is_zero())
        .max_buf_size(config.max_header_size.max(8192))
        .max_headers(config.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(config.http_keep_alive.max(Duration::from_secs(1))))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// One worker's accept loop: serves connections until shutdown, then drains.
async fn worker<A: Application>(
    listener: TcpListener,
    app: A,
    config: Arc<Config>,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = WsgiService::from_shared(Arc::new(app), Arc::clone(&config));
    let builder = Arc::new(connection_builder(&config));
    let graceful = GracefulShutdown::new();
    let runtime = tokio::runtime::Handle::current();
    // Connection tasks, so those still open when the shutdown timeout ends
    // can be cancelled (with `workers = 0` the runtime outlives the server).
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors or a connection reset before
                // accept: wait a moment rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        let connection = Connection::build(runtime.clone(), Some(peer), local, false);
        let io = TimedIo::new(
            stream,
            connection.clone(),
            config.http_keep_alive,
            config.header_read_timeout,
        );
        let service = ConnService {
            service: service.clone(),
            connection,
        };
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            let conn = builder.serve_connection(TokioIo::new(io), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, peer = %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(config.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "shutdown timeout of {:?} reached; closing {} remaining connection(s)",
            config.shutdown_timeout,
            connections.len()
        );
    }
    connections.shutdown().await;
}
