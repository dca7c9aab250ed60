//! `Application` (documented there) and its helpers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::body::Body;
use crate::environ::Environ;
use crate::error::Error;
use crate::extract::{CheckError, Provided};
use crate::start_response::StartResponse;

/// The WSGI application: `app(environ, start_response) -> body`.
///
/// [`Application`] is the asynchronous WSGI callable: it receives the
/// request's [`Environ`] and a [`StartResponse`], sets the response head and
/// returns a [`Body`] (possibly an asynchronous iterable). Implement it with
/// a plain `async fn call`: its future is a concrete type, so serving a
/// request allocates no box for it. To store applications of different
/// types behind one type, erase them with [`BoxApplication`], which boxes
/// the future of each call.
///
/// A synchronous function is plain WSGI 1.0.1; wrap it with [`app_fn`], or
/// put [`#[wsgi_handler]`](crate::wsgi_handler) on it (on an `async fn`
/// too), which generates a type implementing this trait.
///
/// ```
/// use wsgi_core::{app_fn, Application, Body, Environ, Error, StartResponse};
///
/// // Asynchronous: may await before answering.
/// struct Hello;
///
/// impl Application for Hello {
///     async fn call(&self, environ: &mut Environ, start_response: StartResponse) -> Result<Body, Error> {
///         let name = environ.input().read_all().await?;
///         start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///         Ok(format!("Hello, {}!", String::from_utf8_lossy(&name)).into())
///     }
/// }
///
/// // Synchronous, exactly WSGI 1.0.1.
/// let sync = app_fn(|_environ: &mut Environ, start_response: StartResponse| {
///     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok::<_, Error>("Hello, World!")
/// });
/// # fn is_app(_: impl Application) {}
/// # is_app(Hello);
/// # is_app(sync);
/// ```
///
/// An asynchronous WSGI application.
///
/// Implement `call` as an `async fn`; the future it returns must be `Send`
/// (hold nothing that is not `Send` across an `.await`).
pub trait Application: Send + Sync + 'static {
    /// Handles one request: calls `start_response` (now or from the body,
    /// before its first non-empty item) and returns the body.
    fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> impl Future<Output = Result<Body, Error>> + Send;

    /// Checks, once before the application serves, that everything its
    /// handlers extract is provided (the states of
    /// [`State`](crate::extract::State) extractors, a `secret_key` for
    /// signed cookies). The server, [`WsgiService`](crate::WsgiService) and
    /// the `TestClient` call it; containers (`WsgiHandler`, `Router`) pass
    /// it on to what they hold. The default finds nothing missing.
    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        let _ = provided;
        Ok(())
    }
}

impl<A: Application + ?Sized> Application for Arc<A> {
    fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> impl Future<Output = Result<Body, Error>> + Send {
        (**self).call(environ, start_response)
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        (**self).check(provided)
    }
}

impl<A: Application + ?Sized> Application for Box<A> {
    fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> impl Future<Output = Result<Body, Error>> + Send {
        (**self).call(environ, start_response)
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        (**self).check(provided)
    }
}

/// The future of a [`BoxApplication`]'s call.
pub type BoxCallFuture<'a> = Pin<Box<dyn Future<Output = Result<Body, Error>> + Send + 'a>>;

/// [`Application`] as an object-safe trait: what [`BoxApplication`] stores.
trait DynApplication: Send + Sync + 'static {
    fn call_boxed<'a>(
        &'a self,
        environ: &'a mut Environ,
        start_response: StartResponse,
    ) -> BoxCallFuture<'a>;

    fn check_dyn(&self, provided: &Provided<'_>) -> Result<(), CheckError>;
}

impl<A: Application> DynApplication for A {
    fn call_boxed<'a>(
        &'a self,
        environ: &'a mut Environ,
        start_response: StartResponse,
    ) -> BoxCallFuture<'a> {
        Box::pin(self.call(environ, start_response))
    }

    fn check_dyn(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        self.check(provided)
    }
}

/// Any application behind one type, to choose between applications at run
/// time or keep several in one collection. Each call boxes its future (one
/// allocation); an application of a known type costs none.
///
/// ```
/// use wsgi_core::{app_fn, BoxApplication, Environ, Error, StartResponse};
///
/// let hello = app_fn(|_: &mut Environ, start_response: StartResponse| {
///     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok::<_, Error>("hello")
/// });
/// let apps: Vec<BoxApplication> = vec![BoxApplication::new(hello)];
/// # let _ = apps;
/// ```
#[derive(Clone)]
pub struct BoxApplication {
    app: Arc<dyn DynApplication>,
}

impl BoxApplication {
    /// Erases `app`'s type.
    pub fn new(app: impl Application) -> Self {
        BoxApplication { app: Arc::new(app) }
    }
}

impl Application for BoxApplication {
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        self.app.call_boxed(environ, start_response).await
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        self.app.check_dyn(provided)
    }
}

impl fmt::Debug for BoxApplication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxApplication")
    }
}

/// A synchronous function as an [`Application`]; made by [`app_fn`].
#[derive(Clone, Copy)]
pub struct AppFn<F> {
    f: F,
}

/// Wraps a synchronous WSGI function `(environ, start_response) -> body`.
///
/// The function runs on the event loop, so it must not block; the body it
/// returns may still be asynchronous.
pub fn app_fn<F, B, E>(f: F) -> AppFn<F>
where
    F: Fn(&mut Environ, StartResponse) -> Result<B, E> + Send + Sync + 'static,
    B: Into<Body>,
    E: Into<Error>,
{
    AppFn { f }
}

impl<F, B, E> Application for AppFn<F>
where
    F: Fn(&mut Environ, StartResponse) -> Result<B, E> + Send + Sync + 'static,
    B: Into<Body>,
    E: Into<Error>,
{
    // Called when first polled, as any `async fn`: inside the server's
    // panic guard.
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        (self.f)(environ, start_response)
            .map(Into::into)
            .map_err(Into::into)
    }
}

impl<F> fmt::Debug for AppFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppFn")
            .field("f", &std::any::type_name::<F>())
            .finish()
    }
}
