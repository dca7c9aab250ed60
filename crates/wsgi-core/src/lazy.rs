//! `LazyWsgi`: build the real handler on the first request.
//!
//! pulsar's `LazyWsgi` builds its handler from the first request's environ,
//! once per worker process, and a pickled (copied) `LazyWsgi` is un-built
//! again. Here [`LazyWsgi`] runs `setup(&environ)` on the first request,
//! exactly once even when many first requests arrive together (the others
//! wait for it), and a clone (what the server makes for each worker) starts
//! un-built. A failing `setup` answers that request with its error and is
//! tried again on the next one.
//!
//! ```
//! use wsgi_core::{Environ, Error, LazyWsgi, WsgiHandler, WsgiResponse};
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
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::application::Application;
use crate::body::Body;
use crate::environ::Environ;
use crate::error::Error;
use crate::middleware::Middleware;
use crate::response::WsgiResponse;
use crate::start_response::StartResponse;

type Setup<A> = dyn Fn(&Environ) -> Result<A, Error> + Send + Sync;

/// A handler built on the first request. See the [module docs](self).
pub struct LazyWsgi<A> {
    setup: Arc<Setup<A>>,
    built: OnceCell<A>,
}

impl<A: Send + Sync + 'static> LazyWsgi<A> {
    /// A lazy handler that `setup` builds.
    pub fn new<F, E>(setup: F) -> Self
    where
        F: Fn(&Environ) -> Result<A, E> + Send + Sync + 'static,
        E: Into<Error>,
    {
        LazyWsgi {
            setup: Arc::new(move |environ: &Environ| setup(environ).map_err(Into::into)),
            built: OnceCell::new(),
        }
    }

    /// Whether this copy has built its handler.
    pub fn is_built(&self) -> bool {
        self.built.initialized()
    }

    /// The handler, building it from `environ` if needed.
    pub async fn handler(&self, environ: &Environ) -> Result<&A, Error> {
        self.built
            .get_or_try_init(|| async { (self.setup)(environ) })
            .await
    }
}

/// A clone is un-built: it runs `setup` again on its first request.
impl<A> Clone for LazyWsgi<A> {
    fn clone(&self) -> Self {
        LazyWsgi {
            setup: Arc::clone(&self.setup),
            built: OnceCell::new(),
        }
    }
}

#[async_trait]
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

#[async_trait]
impl<A: Application> Middleware for LazyWsgi<A> {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let handler = self.handler(environ).await?;
        crate::middleware::capture(handler, environ).await.map(Some)
    }
}

impl<A> fmt::Debug for LazyWsgi<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyWsgi")
            .field("built", &self.built.initialized())
            .finish()
    }
}
