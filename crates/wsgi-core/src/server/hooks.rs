//! Lifecycle hooks: see [`Hooks`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode, Uri, Version};

use super::BoundAddr;
use crate::body::Outcome;
use crate::connection::Connection;

/// The future a hook returns, boxed.
pub type HookFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

type Hook<T> = Arc<dyn Fn(T) -> HookFuture + Send + Sync>;

/// The request a `pre_request` or `post_request` hook is told about.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The request method.
    pub method: Method,
    /// The request target.
    pub uri: Uri,
    /// The HTTP version.
    pub version: Version,
    /// The connection it came on.
    pub connection: Connection,
}

/// How a response ended, for `post_request`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResponseInfo {
    /// The status sent.
    pub status: StatusCode,
    /// Body bytes sent.
    pub bytes: u64,
    /// Time from the request to the end of its body.
    pub duration: Duration,
    /// Whether the body completed, failed or was abandoned.
    pub outcome: Outcome,
}

/// Lifecycle hooks, with pulsar's names: asynchronous callbacks the server
/// awaits at fixed points.
///
/// | hook | called with | when |
/// |---|---|---|
/// | `when_ready` | the bound addresses | once, after every address is bound and the workers started |
/// | `connection_made` | the [`Connection`] | before its first request is read |
/// | `connection_lost` | the [`Connection`] | after it closed |
/// | `pre_request` | a [`RequestInfo`] | before the application is called |
/// | `post_request` | a [`RequestInfo`] and a [`ResponseInfo`] | when the response body ended (sent, failed or abandoned) |
/// | `when_exit` | nothing | once, after every worker stopped ([`ServerHandle::shutdown`](super::ServerHandle::shutdown), or the end of [`Server::run`](super::Server::run)) |
///
/// Connection and request hooks run on the worker serving them and delay
/// that connection or request until they finish, so keep them short (spawn
/// longer work). `post_request` runs as its own task.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use wsgi_core::server::{Hooks, Server};
/// use wsgi_core::{app_fn, Environ, Error, StartResponse};
///
/// let requests = Arc::new(AtomicUsize::new(0));
/// let count = requests.clone();
/// let hooks = Hooks::default()
///     .when_ready(|addrs| async move { println!("ready on {addrs:?}") })
///     .pre_request(move |_request| {
///         count.fetch_add(1, Ordering::Relaxed);
///         async {}
///     });
/// let app = app_fn(|_: &mut Environ, start_response: StartResponse| {
///     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok::<_, Error>("hooked")
/// });
/// let server = Server::new(app).hooks(hooks);
/// # drop(server);
/// ```
///
/// Each setter replaces the hook of that name.
#[derive(Clone, Default)]
pub struct Hooks {
    pub(crate) when_ready: Option<Hook<Vec<BoundAddr>>>,
    pub(crate) when_exit: Option<Hook<()>>,
    pub(crate) connection_made: Option<Hook<Connection>>,
    pub(crate) connection_lost: Option<Hook<Connection>>,
    pub(crate) pre_request: Option<Hook<RequestInfo>>,
    pub(crate) post_request: Option<Hook<(RequestInfo, ResponseInfo)>>,
}

fn boxed<T, F, Fut>(hook: F) -> Hook<T>
where
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |arg| Box::pin(hook(arg)))
}

impl Hooks {
    /// Called once with every bound address (real ports included) when the
    /// server is ready.
    pub fn when_ready<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Vec<BoundAddr>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.when_ready = Some(boxed(hook));
        self
    }

    /// Called once after every worker stopped.
    pub fn when_exit<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.when_exit = Some(boxed(move |()| hook()));
        self
    }

    /// Called for each accepted connection before it is served.
    pub fn connection_made<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.connection_made = Some(boxed(hook));
        self
    }

    /// Called for each connection after it closed.
    pub fn connection_lost<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.connection_lost = Some(boxed(hook));
        self
    }

    /// Called before the application handles each request.
    pub fn pre_request<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(RequestInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.pre_request = Some(boxed(hook));
        self
    }

    /// Called when each response body has ended.
    pub fn post_request<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(RequestInfo, ResponseInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.post_request = Some(boxed(move |(request, response)| hook(request, response)));
        self
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("when_ready", &self.when_ready.is_some())
            .field("when_exit", &self.when_exit.is_some())
            .field("connection_made", &self.connection_made.is_some())
            .field("connection_lost", &self.connection_lost.is_some())
            .field("pre_request", &self.pre_request.is_some())
            .field("post_request", &self.post_request.is_some())
            .finish()
    }
}
