//! `in_executor`: run a blocking middleware on tokio's blocking pool.
//!
//! pulsar's `in_executor` runs a synchronous middleware in the event loop's
//! thread pool, so blocking work (a database driver without async support,
//! password hashing, file parsing) does not stall every other request on
//! that loop. Server workers run current-thread runtimes, where
//! `block_in_place` is not allowed, so the environ itself moves to a
//! blocking-pool thread and back.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::environ::Environ;
use crate::error::Error;
use crate::middleware::RequestMiddleware;
use crate::response::WsgiResponse;

/// A blocking middleware function run on tokio's blocking pool
/// (`spawn_blocking`); made by [`in_executor`].
///
/// The function gets the request's own environ (`&mut`, so it can read the
/// body put in memory by [`WaitForBody`](super::WaitForBody) and leave
/// values for later middleware), and its answer counts as any middleware's.
/// If it panics, the request gets a 500 and the environ is still handed
/// back for the error page and the response middleware.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wsgi_core::Error> {
/// use wsgi_core::middleware::{in_executor, InExecutor, RequestMiddleware};
/// use wsgi_core::{Environ, Error, WsgiResponse};
///
/// fn check(environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
///     let name = std::thread::current().name().unwrap_or("").to_owned();
///     environ.set("myapp.thread", name)?;
///     Ok(None)
/// }
///
/// let middleware: InExecutor<_> = in_executor(check);
/// let mut environ = Environ::from_request(http::Request::new(()));
/// assert!(middleware.call(&mut environ).await?.is_none());
/// assert!(environ.get("myapp.thread").is_some());
/// # Ok(())
/// # }
/// ```
pub struct InExecutor<F> {
    // An `Arc`, because each call moves a handle to it onto the pool.
    f: Arc<F>,
}

/// Wraps a blocking `Fn(&mut Environ) -> Result<Option<WsgiResponse>, E>`
/// as a [`RequestMiddleware`] that runs it on tokio's blocking pool.
///
/// ```
/// use wsgi_core::middleware::in_executor;
/// use wsgi_core::{Environ, Error, WsgiHandler, WsgiResponse};
///
/// let handler = WsgiHandler::default().middleware(in_executor(|environ: &mut Environ| {
///     // Blocking is fine here: this runs on a blocking-pool thread.
///     std::thread::sleep(std::time::Duration::from_millis(1));
///     environ.set("myapp.checked", "yes")?;
///     Ok::<_, Error>(None::<WsgiResponse>)
/// }));
/// # let _ = handler;
/// ```
pub fn in_executor<F, E>(f: F) -> InExecutor<F>
where
    F: Fn(&mut Environ) -> Result<Option<WsgiResponse>, E> + Send + Sync + 'static,
    E: Into<Error>,
{
    InExecutor { f: Arc::new(f) }
}

impl<F, E> RequestMiddleware for InExecutor<F>
where
    F: Fn(&mut Environ) -> Result<Option<WsgiResponse>, E> + Send + Sync + 'static,
    E: Into<Error>,
{
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let placeholder = environ.placeholder();
        let mut moved = std::mem::replace(environ, placeholder);
        let f = Arc::clone(&self.f);
        let joined = tokio::task::spawn_blocking(move || {
            // Catch the panic here rather than through the `JoinError`, which
            // would lose the environ with the closure.
            let result =
                std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut moved).map_err(Into::into)));
            (moved, result)
        })
        .await;
        match joined {
            Ok((moved, result)) => {
                *environ = moved;
                result.unwrap_or_else(|payload| Err(Error::from_panic(payload)))
            }
            // Only when the runtime shuts down before the task ran; the
            // connection is being torn down with it.
            Err(error) => Err(Error::msg(format!(
                "in_executor: the blocking task did not complete ({error}); the runtime is shutting down"
            ))),
        }
    }
}

impl<F> Clone for InExecutor<F> {
    fn clone(&self) -> Self {
        InExecutor {
            f: Arc::clone(&self.f),
        }
    }
}

impl<F> fmt::Debug for InExecutor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("InExecutor")
            .field(&std::any::type_name::<F>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[tokio::test]
    async fn runs_off_the_calling_thread_and_keeps_changes() {
        let caller = std::thread::current().id();
        let middleware = in_executor(move |environ: &mut Environ| {
            let elsewhere = std::thread::current().id() != caller;
            environ.set("test.elsewhere", elsewhere.to_string())?;
            Ok::<_, Error>(None)
        });
        let mut environ = Environ::from_request(http::Request::get("/x").body(()).unwrap());
        assert!(middleware.call(&mut environ).await.unwrap().is_none());
        assert_eq!(environ.get("test.elsewhere").as_deref(), Some("true"));
        assert_eq!(environ.path_info(), "/x", "the real environ came back");
    }

    #[tokio::test]
    async fn a_panic_is_a_500_and_the_environ_comes_back() {
        let middleware = in_executor(|environ: &mut Environ| -> Result<_, Error> {
            environ.set("test.before", "1")?;
            panic!("blocking bug");
        });
        let mut environ = Environ::from_request(http::Request::get("/x").body(()).unwrap());
        let error = middleware.call(&mut environ).await.unwrap_err();
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(error.to_string().contains("blocking bug"), "{error}");
        assert_eq!(environ.path_info(), "/x");
        assert_eq!(environ.get("test.before").as_deref(), Some("1"));
    }
}
