//! `LazyWsgi`: build the real handler on the first request.
//!
//! pulsar's `LazyWsgi` builds its handler from the first request's environ,
//! once per worker process, and a pickled (copied) `LazyWsgi` is un-built
//! again. Here [`LazyWsgi`] runs its setup on the first request of each
//! worker, exactly once even when many first requests arrive together (the
//! others wait for it). A failing setup answers that request with its
//! error and is tried again on the next one.
//!
//! "Once per worker" holds wherever the `LazyWsgi` sits: served directly
//! (each worker gets a clone, and a clone starts un-built), or nested as a
//! middleware inside a [`WsgiHandler`](crate::WsgiHandler), whose clones
//! share it: the build is kept per worker copy of the application, and a
//! `max_requests` restart builds again. Outside the server (a tower
//! service, a unit test) there is one build per `LazyWsgi`.
//!
//! The setup comes in two forms:
//!
//! - [`LazyWsgi::new`] takes a synchronous setup, which may block (a
//!   synchronous database driver, reading files): it runs on tokio's
//!   blocking pool, never on the event loop, so the worker's other requests
//!   go on meanwhile;
//! - [`LazyWsgi::new_async`] takes a setup returning a future, for what is
//!   opened with `.await` (an async connection pool). The closure reads
//!   what it needs from the environ and returns a `'static` future.
//!
//! ```
//! use wsgi_core::{Environ, Error, WsgiHandler, WsgiResponse};
//! use wsgi_core::lazy::LazyWsgi;
//! use wsgi_core::middleware::middleware_fn;
//!
//! let lazy = LazyWsgi::new(|environ: &Environ| {
//!     // Open pools, read files, ... once per worker, with the server's config.
//!     let greeting = format!("served by {}", environ.server_software());
//!     Ok::<_, Error>(WsgiHandler::default().middleware(middleware_fn(move |_: &mut Environ| {
//!         Ok::<_, Error>(Some(WsgiResponse::text(greeting.clone())))
//!     })))
//! });
//! assert!(!lazy.is_built());
//! assert!(!lazy.clone().is_built());
//! ```

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};

use futures_util::FutureExt;
use tokio::sync::OnceCell;

use crate::application::Application;
use crate::body::Body;
use crate::connection::WorkerMark;
use crate::environ::Environ;
use crate::error::Error;
use crate::middleware::RequestMiddleware;
use crate::response::WsgiResponse;
use crate::start_response::StartResponse;

type SetupFuture<A> = Pin<Box<dyn Future<Output = Result<A, Error>> + Send + 'static>>;
type BlockingSetup<A> = Arc<dyn Fn(&Environ) -> Result<A, Error> + Send + Sync>;
type AsyncSetup<A> = Arc<dyn Fn(&Environ) -> SetupFuture<A> + Send + Sync>;

enum Setup<A> {
    /// Runs on the blocking pool.
    Blocking(BlockingSetup<A>),
    /// Awaited on the event loop.
    Async(AsyncSetup<A>),
}

impl<A> Clone for Setup<A> {
    fn clone(&self) -> Self {
        match self {
            Setup::Blocking(f) => Setup::Blocking(Arc::clone(f)),
            Setup::Async(f) => Setup::Async(Arc::clone(f)),
        }
    }
}

type Cell<A> = Arc<OnceCell<Arc<A>>>;
/// The builds, each with the worker copy it belongs to.
type Builds<A> = Vec<(Option<Weak<WorkerMark>>, Cell<A>)>;

/// A handler built on the first request of each worker. See the
/// [module docs](self).
pub struct LazyWsgi<A> {
    setup: Setup<A>,
    /// One build per worker copy of the application; `None` outside the
    /// server. Entries of retired copies are dropped when next looked at.
    built: Mutex<Builds<A>>,
}

impl<A: Send + Sync + 'static> LazyWsgi<A> {
    /// A lazy handler that the synchronous `setup` builds. The setup may
    /// block: it runs on tokio's blocking pool, with the first request's
    /// environ.
    pub fn new<F, E>(setup: F) -> Self
    where
        F: Fn(&Environ) -> Result<A, E> + Send + Sync + 'static,
        E: Into<Error>,
    {
        LazyWsgi::with_setup(Setup::Blocking(Arc::new(move |environ: &Environ| {
            setup(environ).map_err(Into::into)
        })))
    }

    /// A lazy handler that an asynchronous setup builds: `setup` reads what
    /// it needs from the first request's environ and returns a future,
    /// awaited on the worker's event loop (so it must not block; use
    /// [`new`](Self::new) for blocking work).
    ///
    /// ```
    /// use wsgi_core::{Environ, Error, WsgiHandler, WsgiResponse};
    /// use wsgi_core::lazy::LazyWsgi;
    /// use wsgi_core::middleware::middleware_fn;
    ///
    /// # async fn connect(_url: &str) -> Result<String, Error> { Ok("pool".into()) }
    /// let lazy = LazyWsgi::new_async(|environ: &Environ| {
    ///     // Read from the environ now; the future must own what it uses.
    ///     let url = environ.config().get("server_software").unwrap_or_default();
    ///     async move {
    ///         let pool = connect(&url).await?;
    ///         Ok::<_, Error>(WsgiHandler::default().middleware(middleware_fn(
    ///             move |_: &mut Environ| Ok::<_, Error>(Some(WsgiResponse::text(pool.clone()))),
    ///         )))
    ///     }
    /// });
    /// assert!(!lazy.is_built());
    /// ```
    pub fn new_async<F, Fut, E>(setup: F) -> Self
    where
        F: Fn(&Environ) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<A, E>> + Send + 'static,
        E: Into<Error>,
    {
        LazyWsgi::with_setup(Setup::Async(Arc::new(move |environ: &Environ| {
            Box::pin(setup(environ).map(|built| built.map_err(Into::into))) as SetupFuture<A>
        })))
    }

    fn with_setup(setup: Setup<A>) -> Self {
        LazyWsgi {
            setup,
            built: Mutex::new(Vec::new()),
        }
    }

    /// Whether this copy has built its handler (for any worker).
    pub fn is_built(&self) -> bool {
        self.lock().iter().any(|(_, cell)| cell.initialized())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Builds<A>> {
        // Every update is a whole push or retain: a panic elsewhere cannot
        // leave the list half-changed.
        self.built
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cell holding the build for the worker serving `environ`.
    fn cell(&self, environ: &Environ) -> Cell<A> {
        let worker = environ.connection().and_then(|c| c.worker());
        let mut built = self.lock();
        built.retain(|(mark, _)| mark.as_ref().is_none_or(|m| m.strong_count() > 0));
        let found = built.iter().find(|(mark, _)| match (mark, worker) {
            (Some(mark), Some(worker)) => std::ptr::eq(mark.as_ptr(), Arc::as_ptr(worker)),
            (None, None) => true,
            _ => false,
        });
        if let Some((_, cell)) = found {
            return Arc::clone(cell);
        }
        let cell = Cell::default();
        built.push((worker.map(Arc::downgrade), Arc::clone(&cell)));
        cell
    }

    /// The handler for the worker serving `environ`, building it if needed.
    pub async fn handler(&self, environ: &mut Environ) -> Result<Arc<A>, Error> {
        let cell = self.cell(environ);
        let built = cell
            .get_or_try_init(|| async {
                let built = match &self.setup {
                    Setup::Async(setup) => AssertUnwindSafe(setup(environ))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|panic| Err(Error::from_panic(panic))),
                    Setup::Blocking(setup) => off_the_event_loop(setup, environ).await,
                };
                built.map(Arc::new)
            })
            .await?;
        Ok(Arc::clone(built))
    }
}

/// Runs a blocking setup on the blocking pool. The environ moves there and
/// back (a placeholder stands in meanwhile): `block_in_place` is not allowed
/// on the workers' single-threaded runtimes.
async fn off_the_event_loop<A: Send + 'static>(
    setup: &BlockingSetup<A>,
    environ: &mut Environ,
) -> Result<A, Error> {
    let placeholder = environ.placeholder();
    let moved = std::mem::replace(environ, placeholder);
    let setup = Arc::clone(setup);
    let joined = tokio::task::spawn_blocking(move || {
        // Caught here rather than through the `JoinError`, which would lose
        // the environ with the closure.
        let built = std::panic::catch_unwind(AssertUnwindSafe(|| setup(&moved)))
            .unwrap_or_else(|panic| Err(Error::from_panic(panic)));
        (moved, built)
    })
    .await;
    match joined {
        Ok((moved, built)) => {
            *environ = moved;
            built
        }
        Err(error) => Err(Error::msg(format!(
            "LazyWsgi: the setup did not complete on the blocking pool ({error}); the runtime is shutting down"
        ))),
    }
}

/// A clone is un-built: it runs the setup again on its first request.
impl<A> Clone for LazyWsgi<A> {
    fn clone(&self) -> Self {
        LazyWsgi {
            setup: self.setup.clone(),
            built: Mutex::new(Vec::new()),
        }
    }
}

impl<A: Application> Application for LazyWsgi<A> {
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        let handler = self.handler(environ).await?;
        handler.call(environ, start_response).await
    }
}

impl<A: Application> RequestMiddleware for LazyWsgi<A> {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let handler = self.handler(environ).await?;
        crate::middleware::capture(&*handler, environ)
            .await
            .map(Some)
    }
}

impl<A> fmt::Debug for LazyWsgi<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let built = self
            .built
            .lock()
            .map_or(0, |b| b.iter().filter(|(_, c)| c.initialized()).count());
        f.debug_struct("LazyWsgi").field("builds", &built).finish()
    }
}
