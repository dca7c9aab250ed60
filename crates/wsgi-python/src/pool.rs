//! The bounded pool of threads that runs synchronous Python code.
//!
//! A synchronous WSGI application may block (a database query, a file, a
//! `time.sleep`), so it never runs on a worker's event loop: each call, and
//! each later item of a streamed body, is a job for one of `threads`
//! dedicated Python threads per process; more requests queue without
//! holding a thread.
//!
//! The threads are attached to the interpreter for their whole life and
//! only release the GIL (`detach`) while they wait for a job or on I/O:
//! attaching a foreign thread afresh for every job would create and destroy
//! a Python thread state each time, which measured as the largest cost of
//! a small request.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_channel::{Receiver, Sender};

use pyo3::prelude::*;
use tokio::sync::oneshot;
use wsgi_core::Error;

type Job = Box<dyn FnOnce(Python<'_>) + Send + 'static>;

/// A bound on the Python calls running at once: `threads` threads.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    threads: usize,
    /// Jobs submitted and not finished yet.
    pending: Arc<AtomicUsize>,
    /// Started on first use.
    sender: OnceLock<Result<Sender<Job>, String>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.inner.threads)
            .finish()
    }
}

impl Pool {
    /// A pool of `threads` Python threads (at least one), started when the
    /// first job comes.
    pub(crate) fn new(threads: usize) -> Self {
        Pool {
            inner: Arc::new(Inner {
                threads: threads.max(1),
                pending: Arc::new(AtomicUsize::new(0)),
                sender: OnceLock::new(),
            }),
        }
    }

    /// Whether no job is queued or running.
    pub(crate) fn is_idle(&self) -> bool {
        self.inner.pending.load(Ordering::Acquire) == 0
    }

    fn submit(&self, job: Job) -> Result<(), Error> {
        let sender = self
            .inner
            .sender
            .get_or_init(|| start(self.inner.threads))
            .as_ref()
            .map_err(|e| Error::msg(e.clone()))?;
        let pending = Arc::clone(&self.inner.pending);
        pending.fetch_add(1, Ordering::AcqRel);
        let counted: Job = Box::new(move |py| {
            job(py);
            pending.fetch_sub(1, Ordering::AcqRel);
        });
        sender.send(counted).map_err(|_| {
            self.inner.pending.fetch_sub(1, Ordering::AcqRel);
            Error::msg("the Python threads have stopped")
        })
    }

    /// Runs `f` with the GIL on a pool thread; resolves with its result.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(Python<'_>) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.submit(Box::new(move |py| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(py)))
                .unwrap_or_else(|panic| {
                    Err(Error::msg(format!(
                        "the Python call panicked: {}",
                        panic_message(panic)
                    )))
                });
            let _ = tx.send(result);
        }))?;
        rx.await
            .map_err(|_| Error::msg("the Python thread running the request stopped"))?
    }

    /// Runs `f` in the background on a pool thread (a body's `close()`).
    pub(crate) fn spawn_detached<F>(&self, f: F)
    where
        F: FnOnce(Python<'_>) + Send + 'static,
    {
        if let Err(e) = self.submit(Box::new(f)) {
            tracing::error!(error = %e, "could not run a Python close()");
        }
    }
}

/// Starts `count` threads taking jobs from one queue.
fn start(count: usize) -> Result<Sender<Job>, String> {
    let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
    for index in 0..count {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("wsgi-python-{index}"))
            .spawn(move || Python::attach(|py| serve(py, &receiver)))
            .map_err(|e| format!("starting a Python thread failed: {e}"))?;
    }
    Ok(sender)
}

/// A pool thread's loop: wait for a job without the GIL, run it with it.
/// A job already queued is taken without releasing the GIL, so a busy pool
/// hands the GIL around less.
fn serve(py: Python<'_>, receiver: &Receiver<Job>) {
    loop {
        let job = match receiver.try_recv() {
            Ok(job) => Ok(job),
            Err(_) => py.detach(|| receiver.recv()),
        };
        match job {
            Ok(job) => job(py),
            Err(_) => return, // every sender is gone
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
