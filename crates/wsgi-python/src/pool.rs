//! The bounded pool that runs synchronous Python code.
//!
//! A synchronous WSGI application may block (a database query, a file, a
//! `time.sleep`), so it never runs on a worker's event loop: each call, and
//! each later item of a streamed body, runs on tokio's blocking threads,
//! at most `threads` at once per process (a semaphore; more requests wait
//! their turn without holding a thread). Python holds the GIL only while
//! it runs Python code: reads of `wsgi.input` release it.

use std::sync::Arc;

use pyo3::prelude::*;
use tokio::sync::Semaphore;
use wsgi_core::Error;

/// A bound on the Python calls running at once.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    permits: Arc<Semaphore>,
}

impl Pool {
    /// A pool running at most `threads` calls at once (at least one).
    pub(crate) fn new(threads: usize) -> Self {
        Pool {
            permits: Arc::new(Semaphore::new(threads.max(1))),
        }
    }

    /// Runs `f` with the GIL on a blocking thread, once a slot is free.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(Python<'_>) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::msg("the Python thread pool is closed"))?;
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            Python::attach(f)
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(Error::msg(format!(
                "the Python call panicked: {}",
                panic_message(e.into_panic())
            ))),
            Err(_) => Err(Error::msg("the Python call was cancelled")),
        }
    }

    /// Runs `f` in the background (a body's `close()`): on the pool when
    /// called inside a tokio runtime, else right here.
    pub(crate) fn spawn_detached<F>(&self, f: F)
    where
        F: FnOnce(Python<'_>) + Send + 'static,
    {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let pool = self.clone();
                handle.spawn(async move {
                    let _ = pool
                        .run(move |py| {
                            f(py);
                            Ok(())
                        })
                        .await;
                });
            }
            Err(_) => Python::attach(f),
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}
