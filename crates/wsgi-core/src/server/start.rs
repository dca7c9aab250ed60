//! [`Server`]: validates the configuration, binds every address and
//! starts the workers.

use std::fmt;
use std::io;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use crate::application::Application;
use crate::config::Config;
use crate::connection::ServerState;
use crate::extract::Provided;

use super::acceptor::tls_acceptor;
use super::handle::ServerHandle;
use super::hooks::Hooks;
use super::listener::{self, BoundAddr, StdListener};
use super::logging::init_logging;
use super::signals::shutdown_signal;
use super::worker::Worker;
use super::ServerError;

/// Serves an [`Application`] over HTTP. See the [module docs](super).
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
    /// by `RUST_LOG`, else `log_level`) unless one is already set. Its
    /// lines go to stdout from a thread of their own, so logging never
    /// blocks a worker; should stdout fall far behind, lines are dropped
    /// and their count logged when the server stops. With `workers = 1`
    /// the one worker serves on the calling thread itself.
    pub fn run(self) -> Result<(), ServerError> {
        self.config.validate().map_err(ServerError::Config)?;
        self.app
            .check(&Provided::new(&self.config))
            .map_err(ServerError::Check)?;
        // Held until `run` returns: then the queued log lines are written.
        let _log = init_logging(&self.config.log_level);
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
