//! The WSGI application: `app(environ, start_response) -> body`.
//!
//! [`Application`] is the asynchronous WSGI callable: it receives the
//! request's [`Environ`] and a [`StartResponse`], sets the response head and
//! returns a [`Body`] (possibly an asynchronous iterable). It is object-safe,
//! so `Box<dyn Application>` and `Arc<dyn Application>` work, and it is
//! implemented with `#[async_trait]` (re-exported as
//! [`wsgi_core::async_trait`](crate::async_trait)).
//!
//! A synchronous function is plain WSGI 1.0.1; wrap it with [`app_fn`], or
//! put [`#[wsgi_handler]`](crate::wsgi_handler) on it (on an `async fn`
//! too), which generates a type implementing this trait.
//!
//! ```
//! use wsgi_core::{app_fn, async_trait, Application, Body, Environ, Error, StartResponse};
//!
//! // Asynchronous: may await before answering.
//! struct Hello;
//!
//! #[async_trait]
//! impl Application for Hello {
//!     async fn call(&self, environ: &mut Environ, start_response: StartResponse) -> Result<Body, Error> {
//!         let name = environ.input().read_all().await?;
//!         start_response.start("200 OK", [("Content-Type", "text/plain")])?;
//!         Ok(format!("Hello, {}!", String::from_utf8_lossy(&name)).into())
//!     }
//! }
//!
//! // Synchronous, exactly WSGI 1.0.1.
//! let sync = app_fn(|_environ: &mut Environ, start_response: StartResponse| {
//!     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
//!     Ok::<_, Error>("Hello, World!")
//! });
//! # fn is_app(_: impl Application) {}
//! # is_app(Hello);
//! # is_app(sync);
//! ```

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::body::Body;
use crate::environ::Environ;
use crate::error::Error;
use crate::extract::{CheckError, Provided};
use crate::start_response::StartResponse;

/// An asynchronous WSGI application.
#[async_trait]
pub trait Application: Send + Sync + 'static {
    /// Handles one request: calls `start_response` (now or from the body,
    /// before its first non-empty item) and returns the body.
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error>;

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

#[async_trait]
impl<A: Application + ?Sized> Application for Arc<A> {
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        (**self).call(environ, start_response).await
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        (**self).check(provided)
    }
}

#[async_trait]
impl<A: Application + ?Sized> Application for Box<A> {
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        (**self).call(environ, start_response).await
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        (**self).check(provided)
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

#[async_trait]
impl<F, B, E> Application for AppFn<F>
where
    F: Fn(&mut Environ, StartResponse) -> Result<B, E> + Send + Sync + 'static,
    B: Into<Body>,
    E: Into<Error>,
{
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
